"""Accuracy of every dataflow on real data: float, 16- and 8-bit weights on crossbars, fitted and
trained bases with digital and analog combination, under ideal, ISAAC-like and low-resolution
ADCs.

Run from anywhere: ``python benchmarks/accuracy.py`` (about 30 minutes on 2 cores; needs the
``dataset-fashion-mnist`` Debian package). It drives ``python -m xbarsim functional`` and
``basis fit`` through the command line and writes ``benchmarks/accuracy.csv``, which
``benchmarks/validation.py`` renders (with its checks) into docs/validation.md, and prints the
Markdown tables of docs/guide.md. ``--train`` first retrains the shipped trained bases
(``workloads/<model>.trained.basis.npz``) with the ``basis train`` commands in ``MODELS`` (needs
the ``train`` extra, torch; about 25 minutes more).
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "accuracy.csv"
JOBS = 2
"""Simulator processes at once (2 cores)."""
REFERENCE_8BIT = "ideal, 8-bit weights"
"""The 8-bit quantized model (static only): the shipped configs hold 16-bit weights."""


@dataclass(frozen=True)
class Model:
    """A shipped trained network, its test data and its bases."""

    name: str
    inputs: str
    """``--inputs``: an NPZ or a dataset name (test split)."""
    images: int
    """Test images run (``--limit``): the first N of the test split."""
    train_data: str
    """``basis train --data``."""
    basis_args: tuple[str, ...]
    """Basis shape options shared by ``basis fit`` and ``basis train``."""
    train_args: tuple[str, ...]
    """The rest of ``basis train``'s options."""

    @property
    def workload(self) -> str:
        return f"workloads/{self.name}.yaml"

    @property
    def weights(self) -> str:
        return f"workloads/{self.name}.weights.npz"

    @property
    def trained_basis(self) -> str:
        return f"workloads/{self.name}.trained.basis.npz"


MODELS = (
    Model("mlp_digits", "workloads/digits_test.npz", 360, "workloads/digits_train.npz",
          ("--length", "16", "--basis-size", "8"),
          ("--epochs", "30", "--batch", "32", "--contention", "1")),
    Model("lenet5_fashion", "fashion-mnist", 1000, "fashion-mnist",
          ("--length", "9", "--basis-size", "8"), ("--epochs", "3", "--contention", "1")),
    Model("resnet20_fashion", "fashion-mnist", 200, "fashion-mnist",
          ("--length", "9", "--basis-size", "8"), ("--epochs", "2", "--contention", "1")),
)
CONFIGS = (
    ("ideal", "arch_configs/ideal.yaml", ()),
    (REFERENCE_8BIT, "arch_configs/ideal.yaml", ("precision.weight_bits=8",)),
    ("isaac_like", "arch_configs/isaac_like.yaml", ()),
    ("isaac_like, 6-bit ADC", "arch_configs/isaac_like.yaml", ("crossbar.adc.bits=6",)),
    ("isaac_like, 4-bit ADC", "arch_configs/isaac_like.yaml", ("crossbar.adc.bits=4",)),
)
VARIANTS = (("static", "", ""), ("basis", "fitted", "digital"), ("basis", "fitted", "analog"),
            ("basis", "trained", "digital"), ("basis", "trained", "analog"))
"""(dataflow, basis, combine) of every functional run."""
COLUMNS = ("model", "config", "dataflow", "basis", "combine", "images", "accuracy_float",
           "accuracy_exact", "accuracy_analog", "mean_snr_db")


def variants(config: str) -> tuple[tuple[str, str, str], ...]:
    """The runs of one config: all of them, or the static one for the 8-bit reference."""
    return VARIANTS[:1] if config == REFERENCE_8BIT else VARIANTS


def xbarsim(args: Sequence[str]) -> None:
    """``python -m xbarsim ARGS`` from the repository root; its output is discarded."""
    done = subprocess.run([sys.executable, "-m", "xbarsim", *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"xbarsim {' '.join(args)} failed:\n{done.stderr}")


def train(model: Model) -> None:
    """Retrain the model's shipped basis (``basis train``)."""
    xbarsim(["basis", "train", "--workload", model.workload, "--weights", model.weights,
             "--data", model.train_data, *model.basis_args, *model.train_args,
             "--out", model.trained_basis])


def fit(model: Model, tmp: Path) -> str:
    """The closed-form basis of the model's weights (``basis fit``), in ``tmp``."""
    out = tmp / f"{model.name}.fitted.npz"
    xbarsim(["basis", "fit", "--workload", model.workload, "--weights", model.weights,
             *model.basis_args, "--out", str(out)])
    return str(out)


def functional(model: Model, config: tuple[str, str, tuple[str, ...]],
               variant: tuple[str, str, str], bases: dict[str, str], tmp: Path
               ) -> dict[str, Any]:
    """One functional run; its summary and mean layer SNR as an ``accuracy.csv`` row."""
    label, arch, sets = config
    dataflow, basis, combine = variant
    out = tmp / "_".join(part.replace(" ", "").replace(",", "") for part in
                         (model.name, label, *variant) if part)
    args = ["functional", "--arch", arch, "--workload", model.workload, "--weights",
            model.weights, "--inputs", model.inputs, "--limit", str(model.images),
            "--dataflow", dataflow, "--out", str(out)]
    for item in sets:
        args += ["--set", item]
    if basis:
        args += ["--basis", bases[basis], "--set", f"basis.combine={combine}"]
    xbarsim(args)
    summary = _rows(out / "functional_summary.csv")[0]
    snr = [float(r["snr_db"]) for r in _rows(out / "functional.csv")
           if math.isfinite(float(r["snr_db"]))]
    return {"model": model.name, "config": label, "dataflow": dataflow, "basis": basis,
            "combine": combine, "images": summary["images"],
            **{key: summary[key] for key in ("accuracy_float", "accuracy_exact",
                                             "accuracy_analog")},
            "mean_snr_db": f"{sum(snr) / len(snr):.2f}" if snr else "inf"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def markdown(rows: list[dict[str, Any]]) -> str:
    """Per model, one row per config: static (8-bit) and each basis x combine accuracy."""
    blocks = []
    for model in MODELS:
        mine = [r for r in rows if r["model"] == model.name]
        head = ["config", "weights on cells (static)", *(f"{b} basis, {c}" for _, b, c in
                                                         VARIANTS[1:])]
        lines = [f"**{model.name}** ({mine[0]['images']} test images)", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for label, _, _ in CONFIGS:
            cells = [f"{float(r['accuracy_analog']):.3f}" for r in mine if r["config"] == label]
            cells += [""] * (len(VARIANTS) - len(cells))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main(argv: Sequence[str] | None = None) -> int:
    """Optionally retrain the shipped bases, run every functional run, write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true",
                        help="retrain the shipped trained bases first (torch)")
    args = parser.parse_args(argv)
    if args.train:
        for model in MODELS:
            train(model)
    with tempfile.TemporaryDirectory(prefix="xbarsim_accuracy_") as name:
        tmp = Path(name)
        jobs = []
        with ThreadPoolExecutor(JOBS) as pool:
            for model in MODELS:
                bases = {"fitted": fit(model, tmp), "trained": model.trained_basis}
                jobs += [pool.submit(functional, model, config, variant, bases, tmp)
                         for config in CONFIGS for variant in variants(config[0])]
            rows = [job.result() for job in jobs]
    with OUT.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(markdown(rows))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
