"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import numba
import numpy as np


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine_line() -> str:
    """Versions, threads, CPUs and load: the context every benchmark prints first."""
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}"
        f" ({numba.get_num_threads()} threads), {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.2f}"
    )
