"""Images per second of ``xbarsim functional`` against a float NumPy forward of the same network.

Run from the repository root: ``python benchmarks/bench_functional.py [--quick]``.
Cases: the shipped digits MLP on its 360 test images (the issue's bar: under 5 s), LeNet-5 with
random weights on random 28x28 images, and the CIFAR-100 ResNet-18 with random weights on random
32x32 images (the bar: under 1 s per image on 2 cores, with 8-bit inputs and weights under
isaac_like; the default 16-bit isaac_like is reported too). ``functional`` runs three forward
passes in lockstep (float, exact integers, analog kernel) and computes per-layer errors; its
rate is images / wall time of one ``run_functional`` call, which also programs every array once
(cells drawn per layer). The float forward is im2col + float64 BLAS per layer (the same layer
code, without quantization or crossbars). Times are the best of ``--repeats`` after a warm-up
(numba compilation excluded). For scale: MNSIM takes ~1.1 s per CIFAR image for VGG-8 (as reported
for MNSIM 2.0).
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import best_time, machine_line
from xbarsim.config import load_arch
from xbarsim.functional.kernel.float_path import clear_cache
from xbarsim.functional.layers import apply_layer, col2im, im2col
from xbarsim.functional.network import run_functional
from xbarsim.mapping.weights_map import group_matrices
from xbarsim.workload import INPUT, load_workload
from xbarsim.workload.weights import load_weights, random_weights

EIGHT_BIT = ["precision.weight_bits=8", "precision.input_bits=8"]
ARCHS: dict[str, tuple[str, list[str]]] = {
    "ideal": ("ideal", []),  # lossless: the kernel's exact (BLAS) shortcut
    "ideal adc6": ("ideal", ["crossbar.adc.bits=6"]),  # ideal device, lossy ADC: lookup kernel
    "isaac_like": ("isaac_like", []),  # noisy device, 16-bit: float lookup path, per-read noise
    "isaac 8-bit": ("isaac_like", EIGHT_BIT),  # the same with 8-bit inputs and weights
}
"""Configurations: label -> (arch_configs/<name>.yaml, --set overrides)."""


def float_forward(workload, weights, x: np.ndarray) -> np.ndarray:
    """The network in float64: im2col + BLAS per group, NumPy pooling; last layer's output."""
    acts = {INPUT: x.astype(np.float64)}
    for layer in workload.layers:
        ins = [acts[s] for s in layer.inputs]
        if layer.is_mvm:
            cols = im2col(ins[0], layer)
            groups = group_matrices(np.asarray(weights[layer.name], np.float64), layer)
            y = np.stack([cols[g] @ w for g, w in enumerate(groups)])
            out = col2im(y, layer, len(x), workload.output_shape(layer.name)[1:])
        else:
            out = apply_layer(layer, ins)
        acts[layer.name] = np.maximum(out, 0.0) if layer.relu else out
    return acts[workload.layers[-1].name]


def fresh_run(arch, workload, weights, x) -> None:
    """``run_functional`` with no programmed array cached from an earlier run."""
    clear_cache()
    run_functional(arch, workload, weights, x)


def cases(quick: bool):
    """(name, workload, weights, images, arch labels, repeats scale) of each benchmark case."""
    digits = load_workload("workloads/mlp_digits.yaml")
    x_digits = np.load("workloads/digits_test.npz")["x"]
    lenet = load_workload("workloads/lenet5_mnist.yaml")
    n = 64 if quick else 256
    rng = np.random.default_rng(0)
    x_lenet = rng.random((n, 1, 28, 28))
    resnet = load_workload("workloads/resnet18_cifar100.yaml")
    n_resnet = 4 if quick else 16
    x_resnet = rng.random((n_resnet, 3, 32, 32))
    return [
        ("mlp_digits (360 test images)", digits,
         load_weights("workloads/mlp_digits.weights.npz", digits), x_digits, list(ARCHS), 1),
        (f"lenet5 random ({n} images)", lenet, random_weights(lenet, 0), x_lenet, list(ARCHS), 1),
        (f"resnet18 cifar ({n_resnet} images)", resnet, random_weights(resnet, 0), x_resnet,
         ["isaac 8-bit", "isaac_like"], 0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 LeNet images, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    print(machine_line())
    print(f"{'case':30s} {'arch':11s} {'functional img/s':>16s} {'ms/img':>8s} {'total s':>8s} "
          f"{'float img/s':>12s} {'ratio':>8s}")
    for name, workload, weights, x, labels, scale in cases(args.quick):
        t_float = best_time(partial(float_forward, workload, weights, x), repeats * 3)
        for label in labels:
            arch_name, overrides = ARCHS[label]
            arch = load_arch(f"arch_configs/{arch_name}.yaml", overrides)
            run_functional(arch, workload, weights, x[:2])  # compile outside the timing
            t = best_time(partial(fresh_run, arch, workload, weights, x), max(1, repeats * scale))
            n = len(x)
            print(f"{name:30s} {label:11s} {n / t:16.1f} {t / n * 1e3:8.2f} {t:8.2f} "
                  f"{n / t_float:12.1f} {t_float / t:8.4f}")
            time.sleep(0.2)


if __name__ == "__main__":
    main()
