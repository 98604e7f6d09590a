"""Throughput of the analog crossbar kernel against float32 BLAS on the same layer shapes.

Run from the repository root: ``python benchmarks/bench_analog_kernel.py [--quick]``.
For each layer (N vectors x K fan-in x O outputs) and configuration it reports the kernel's
rate in layer MACs per second (N*K*O / time, the useful work, whatever the bit-serial cost),
float32 ``x @ w`` on the same shapes, and their ratio (the issue's bar: >= 1/8 for 8-bit inputs
and weights on 128x128 crossbars). Times are the best of ``--repeats`` runs after a warm-up call
(numba compilation excluded); kernel and BLAS phases are timed apart with a pause so numba's and
OpenBLAS's worker threads do not compete. The BLAS kernel in use is printed: where
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set for old OpenBLAS builds, a current numpy runs an
older, slower kernel; for a fair ratio run ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import best_time, machine_line
from xbarsim.functional import IDEAL, AnalogCrossbar, DeviceModel, crossbar_mvm
from xbarsim.mapping.encoding import Encoding

ISAAC: dict[str, Any] = dict(
    input_bits=8, weight_bits=8, cell_bits=2, dac_bits=1, rows=128, cols=128, differential=True
)
NOISY = DeviceModel(program_tolerance=0.01, read_sigma=0.01)
CONFIGS: dict[str, tuple[dict[str, Any], int, str, DeviceModel | None]] = {
    # name: (mapping, adc_bits, method, device); "auto" = the library's choice
    "isaac adc8 lookup": (ISAAC, 8, "auto", None),
    "isaac-offset adc8 lookup": (dict(ISAAC, differential=False), 8, "auto", None),
    "isaac adc8 bitplane": (ISAAC, 8, "bitplane", None),
    "isaac lossless exact": (ISAAC, 0, "auto", None),
    "isaac adc8 float-path": (ISAAC, 8, "float", None),
    "4b cell, 2b dac, adc6": (dict(ISAAC, cell_bits=4, dac_bits=2), 6, "auto", None),
    "isaac adc8 noisy": (ISAAC, 8, "auto", NOISY),
}
BAR = ("isaac adc8 lookup", "isaac-offset adc8 lookup")
"""Configurations held to the issue's bar: ideal device, quantizing 8-bit ADC, 1-bit DAC."""
LAYERS = [  # (name, N vectors, K fan-in, O outputs)
    ("conv3x3 64->64 (32x32 map)", 1024, 576, 64),
    ("conv3x3 128->128 (16x16 map, batch 16)", 4096, 1152, 128),
    ("linear 1024->512 (batch 2048)", 2048, 1024, 512),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller layers, 2 repeats")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    scale = 4 if args.quick else 1
    print(machine_line())
    print(f"BLAS: {blas_kernel()} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')})")
    ratios: dict[str, list[float]] = {name: [] for name in CONFIGS}
    rng = np.random.default_rng(0)
    header = f"{'layer':40s} {'config':24s} {'kernel ms':>10s} {'GMAC/s':>8s}"
    print(f"{header} {'BLAS ms':>8s} {'GMAC/s':>8s} {'ratio':>7s}")
    for name, n, k, o in LAYERS:
        n = n // scale
        x = rng.integers(0, 256, (n, k), dtype=np.uint8)  # 8-bit inputs, as the kernel keeps them
        x[rng.random(x.shape) < 0.5] = 0  # ReLU-like: about half the activations are zero
        w = rng.integers(-127, 128, (k, o))
        xf, wf = x.astype(np.float32), w.astype(np.float32)
        for config, (mapping, adc_bits, method, device) in CONFIGS.items():
            xs = x
            xbar = AnalogCrossbar(Encoding(**mapping), device or IDEAL, adc_bits)
            run = partial(crossbar_mvm, xs, w, xbar, method=method)
            t_kernel = best_time(run, repeats)
            time.sleep(0.2)
            t_blas = best_time(partial(np.matmul, xf[: xs.shape[0]], wf), repeats * 4)
            time.sleep(0.2)
            m = xs.shape[0] * k * o
            ratios[config].append(t_blas / t_kernel)
            print(
                f"{name:40s} {config:24s} {t_kernel * 1e3:10.2f} {m / t_kernel / 1e9:8.2f} "
                f"{t_blas * 1e3:8.3f} {m / t_blas / 1e9:8.1f} {t_blas / t_kernel:7.4f}"
            )
    print(f"numba threading layer {numba.threading_layer()}, load average {os.getloadavg()[0]:.2f}")
    for config in BAR:
        worst = min(ratios[config])
        verdict = "meets" if worst >= 1 / 8 else "misses"
        print(f"{config}: worst ratio {worst:.4f} {verdict} the 1/8 = 0.125 bar")


def blas_kernel() -> str:
    """The OpenBLAS core type numpy runs (threadpoolctl), or 'unknown'."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    found = [f"{i.get('internal_api')} {i.get('architecture')}" for i in threadpool_info()
             if i.get("user_api") == "blas"]  # fmt: skip
    return ", ".join(found) or "unknown"


if __name__ == "__main__":
    main()
