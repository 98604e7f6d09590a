"""A fixed set of CLI runs whose output files are kept in ``tests/golden/``.

Refactors that must not change a number are checked against them byte for byte (the
``wall_s`` and ``version`` columns aside, which differ by design). After a deliberate model
change, regenerate them and say in the commit by how much and why the numbers moved:

    python tests/golden_runs.py --update
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import tempfile
from pathlib import Path

from xbarsim.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
VOLATILE_COLUMNS = ("wall_s", "version")
"""Columns that legitimately differ between runs of the same inputs."""

TINY = "arch_configs/tiny.yaml"
ISAAC = "arch_configs/isaac_like.yaml"
IDEAL = "arch_configs/ideal.yaml"
LENET = "workloads/lenet5_mnist.yaml"
MLP = "workloads/mlp_digits.yaml"
MLP_WEIGHTS = "workloads/mlp_digits.weights.npz"
DIGITS = "workloads/digits_test.npz"

RUNS: dict[str, list[str]] = {
    "run_static_tiny": ["run", "--arch", TINY, "--workload", MLP, "--dataflow", "static",
                        "--crossbars", "96", "--batch", "2"],
    "run_reprogram_tiny": ["run", "--arch", TINY, "--workload", LENET, "--dataflow",
                           "reprogram", "--crossbars", "16", "--seed", "3"],
    "run_reprogram_overlap_vector": ["run", "--arch", TINY, "--workload", MLP, "--dataflow",
                                     "reprogram", "--crossbars", "8", "--overlap",
                                     "--granularity", "vector", "--batch", "3"],
    "run_reprogram_weights_isaac": ["run", "--arch", ISAAC, "--workload", MLP, "--dataflow",
                                    "reprogram", "--crossbars", "2", "--weights", MLP_WEIGHTS,
                                    "--set", "write_verify.pulse_model=measured"],
    "run_basis_digital_isaac": ["run", "--arch", ISAAC, "--workload", LENET, "--dataflow",
                                "basis", "--crossbars", "8", "--batch", "2"],
    "run_basis_analog_tiny": ["run", "--arch", TINY, "--workload", MLP, "--dataflow", "basis",
                              "--crossbars", "16", "--set", "basis.combine=analog"],
    "sweep_tiny": ["sweep", "--arch", TINY, "--workload", MLP, "--workload", LENET,
                   "--dataflow", "reprogram,basis", "--crossbars", "8:32:x2",
                   "--vary", "crossbar.adc.bits=6,8", "--jobs", "1", "--quiet"],
    "functional_isaac": ["functional", "--arch", ISAAC, "--workload", MLP, "--weights",
                         MLP_WEIGHTS, "--inputs", DIGITS, "--limit", "60", "--seed", "1"],
    "functional_basis_ideal": ["functional", "--arch", IDEAL, "--workload", MLP, "--basis",
                               "workloads/mlp_digits.basis.npz", "--inputs", DIGITS,
                               "--limit", "40"],
    "functional_all_isaac": ["functional", "--arch", ISAAC, "--workload", MLP, "--weights",
                             MLP_WEIGHTS, "--basis", "workloads/mlp_digits.basis.npz",
                             "--dataflow", "all", "--inputs", DIGITS, "--limit", "30"],
    "basis_fit_mlp": ["basis", "fit", "--workload", MLP, "--weights", MLP_WEIGHTS,
                      "--length", "16", "--basis-size", "8", "--coeff-bits", "4"],
}
"""Name -> CLI arguments (without the output option, added per verb)."""


def produce(out: Path) -> list[Path]:
    """Run every entry of ``RUNS`` into ``out/<name>``; return the files written."""
    for name, argv in RUNS.items():
        target = out / name
        if argv[0] == "sweep":
            args = [*argv, "--out", str(target / "sweep.csv")]
        elif argv[0] == "basis":
            args = [*argv, "--out", str(target / "basis.npz")]
        else:
            args = [*argv, "--out", str(target)]
        status = main(args)
        if status != 0:
            raise RuntimeError(f"golden run {name} exited with {status}")
    return sorted(p for p in out.rglob("*") if p.is_file())


def normalized(path: Path) -> bytes:
    """File bytes, with the volatile columns of a CSV blanked."""
    data = path.read_bytes()
    if path.suffix != ".csv":
        return data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    drop = [i for i, name in enumerate(rows[0]) if name in VOLATILE_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if i in drop else cell for i, cell in enumerate(row)])
    return out.getvalue().encode("utf-8")


def update() -> None:
    """Regenerate ``tests/golden/`` from the current code."""
    with tempfile.TemporaryDirectory() as tmp:
        files = produce(Path(tmp))
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for file in files:
            target = GOLDEN / file.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(normalized(file))
    print(f"wrote {len(files)} files to {GOLDEN}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="regenerate tests/golden/")
    if not parser.parse_args().update:
        parser.print_help()
        sys.exit(0)
    import os

    os.chdir(ROOT)
    update()
