"""Time of the basis dataflow's functional path against the static path on the same network.

Run from the repository root: ``python benchmarks/bench_functional_basis.py [--quick]``. Cases:
the shipped LeNet-5 and ResNet-20 for Fashion-MNIST with their trained weights and trained
bases, on random 28x28 images (the timing does not depend on the data), under ``ideal`` and
``isaac_like``. Each figure is the best of ``--repeats`` ``run_functional`` calls after a
warm-up (numba compilation excluded), with no programmed array cached; the ratio is basis time /
static time, measured in the same run (the issue's bar: basis within 2x of static).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import best_time, machine_line
from xbarsim.basis import load_basis
from xbarsim.config import load_arch
from xbarsim.functional.kernel.float_path import clear_cache
from xbarsim.functional.network import run_functional
from xbarsim.workload import load_workload
from xbarsim.workload.weights import load_biases, load_weights

NETWORKS = {"lenet5_fashion": 256, "resnet20_fashion": 16}
"""Network -> images per call."""
ARCHS = ("ideal", "isaac_like")


def fresh_run(arch, workload, weights, biases, x, basis) -> None:
    """``run_functional`` with no programmed array cached from an earlier run."""
    clear_cache()
    run_functional(arch, workload, weights, x, biases=biases, basis=basis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the images, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    print(machine_line())
    print(f"{'network':18s} {'arch':11s} {'images':>6s} {'static s':>9s} {'digital s':>9s} "
          f"{'analog s':>9s} {'digital/static':>14s} {'analog/static':>13s}")
    rng = np.random.default_rng(0)
    for name, images in NETWORKS.items():
        n = max(2, images // 4) if args.quick else images
        workload = load_workload(f"workloads/{name}.yaml")
        weights_file = f"workloads/{name}.weights.npz"
        weights, biases = load_weights(weights_file, workload), load_biases(weights_file, workload)
        basis = load_basis(f"workloads/{name}.trained.basis.npz", workload)
        x = rng.random((n, *workload.input_shape))
        for arch_name in ARCHS:
            times = []
            for combine, chosen in (("digital", None), ("digital", basis), ("analog", basis)):
                arch = load_arch(f"arch_configs/{arch_name}.yaml", [f"basis.combine={combine}"])
                run = partial(fresh_run, arch, workload, weights, biases, x, chosen)
                run_functional(arch, workload, weights, x[:2], biases=biases, basis=chosen)
                times.append(best_time(run, repeats))
            static, digital, analog = times
            print(f"{name:18s} {arch_name:11s} {n:6d} {static:9.2f} {digital:9.2f} "
                  f"{analog:9.2f} {digital / static:14.2f} {analog / static:13.2f}")


if __name__ == "__main__":
    main()
