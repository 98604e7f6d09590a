"""Regenerate the figures of README.md's five-minute tour: docs/figures/tour_adc.png (and the
energy breakdown docs/figures/tour_adc_energy.png that ``xbarsim plot`` draws beside it), and
the tornado chart of the dataflow comparison, docs/figures/tornado_resnet18_64.png.

Run from anywhere (needs the Fashion-MNIST IDX files: ``apt-get install dataset-fashion-mnist``,
or ``$XBARSIM_FASHION_MNIST``):

    python scripts/readme_figures.py

It runs the tour's two commands through the command line (``python -m xbarsim``, the package of
this checkout), with exactly the README's arguments except that the CSV and the figures go to a
temporary folder: the ADC sweep of LeNet-5 on Fashion-MNIST (static and basis, 64 and 1024
isaac_like crossbars, 4-, 6- and 8-bit ADCs, accuracy on the first 500 test images), then
``xbarsim plot``. It copies the two PNGs into docs/figures/ and prints the CSV's columns that
the README's reading of the figure quotes (energy per inference in µJ, its share spent on DRAM).
Then it runs docs/guide.md's ``xbarsim compare`` of ResNet-18 CIFAR-100 on 64 isaac_like
crossbars and copies its tornado chart.

It takes about 40-60 s on 2 cores (the sweep itself about 15 s on an idle machine; the README
says about 30 s). Deterministic: the sweep is seeded and ``xbarsim plot`` leaves out every
timestamp, so a second run on the same code writes the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"

# README.md, "A five-minute tour" (the same commands as in docs/guide.md, "Cost and accuracy in one
# CSV"), with OUT standing for the output folder.
SWEEP = [
    "sweep", "--arch", "arch_configs/isaac_like.yaml", "--workload", "lenet5_fashion",
    "--dataflow", "static,basis", "--basis", "workloads/lenet5_fashion.trained.basis.npz",
    "--crossbars", "64,1024", "--vary", "crossbar.adc.bits=4,6,8",
    "--accuracy", "--weights", "workloads/lenet5_fashion.weights.npz",
    "--inputs", "fashion-mnist", "--limit", "500", "--out", "OUT/adc.csv",
]
PLOT = [
    "plot", "OUT/adc.csv", "--x", "crossbar.adc.bits",
    "--y", "energy_per_inference_j,accuracy_analog", "--out", "OUT/adc.png",
]
COMPARE = [
    "compare", "--arch", "arch_configs/isaac_like.yaml", "--workload", "resnet18_cifar100",
    "--crossbars", "64", "--param", "write_verify.write_v", "--param",
    "write_verify.max_iterations", "--param", "crossbar.g_max_us", "--out", "OUT/compare",
]
COPIES = {"adc.png": "tour_adc.png", "adc_energy.png": "tour_adc_energy.png",
          "compare/tornado.png": "tornado_resnet18_64.png"}
QUOTED = ["dataflow", "crossbars", "crossbar.adc.bits", "cycles_per_inference", "energy_uj",
          "dram_share", "accuracy_float", "accuracy_analog", "snr_db_mean", "status"]


def xbarsim(args: list[str], out: Path) -> None:
    """Run ``python -m xbarsim ARGS`` from the repository root, OUT replaced by ``out``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [sys.executable, "-m", "xbarsim", *(a.replace("OUT", str(out)) for a in args)]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def main() -> int:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xbarsim_tour_") as tmp:
        out = Path(tmp)
        xbarsim(SWEEP, out)
        xbarsim(PLOT, out)
        xbarsim(COMPARE, out)
        FIGURES.mkdir(parents=True, exist_ok=True)
        for source, target in COPIES.items():
            shutil.copyfile(out / source, FIGURES / target)
        frame = pd.read_csv(out / "adc.csv")
    frame["energy_uj"] = (frame["energy_per_inference_j"] * 1e6).round(2)
    frame["dram_share"] = (frame["energy_dram_j"] / frame["energy_j"]).round(3)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        sys.stdout.write(frame[QUOTED].to_string(index=False) + "\n")
    written = ", ".join(str((FIGURES / t).relative_to(ROOT)) for t in COPIES.values())
    sys.stdout.write(f"wrote {written} in {time.perf_counter() - began:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
