"""Wall time of the README sweep in-process (--jobs 1) and on a process pool (--jobs 2).

ResNet-18 CIFAR-100 on isaac_like, crossbars 8:512:x2 (7 counts). Run from the repo root:

    python benchmarks/bench_sweep.py [--dataflows reprogram,basis] [--jobs 1,2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from xbarsim.sweep import sweep  # noqa: E402

ARCH = ROOT / "arch_configs" / "isaac_like.yaml"
WORKLOAD = ROOT / "workloads" / "resnet18_cifar100.yaml"


def timed(dataflows: str, crossbars: str, jobs: int) -> tuple[float, float, int, int]:
    """Wall seconds of one sweep, the sum of its points' own times, its ok and error counts."""
    began = time.perf_counter()
    frame = sweep(ARCH, WORKLOAD, dataflows, crossbars, jobs=jobs)
    seconds = time.perf_counter() - began
    ok = int((frame["status"] == "ok").sum())
    return seconds, float(frame["wall_s"].sum()), ok, len(frame) - ok


def main() -> None:
    """Time each dataflow set at each job count; print times and speedups over the first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataflows", action="append",
                        help="comma-separated set, repeatable (default: reprogram,basis and "
                             "static,reprogram)")
    parser.add_argument("--crossbars", default="8:512:x2")
    parser.add_argument("--jobs", default="1,2", help="job counts to compare (default 1,2)")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    print(f"{WORKLOAD.name} on {ARCH.name}, crossbars {args.crossbars}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for flows in args.dataflows or ["reprogram,basis", "static,reprogram"]:
        base = None
        for j in jobs:
            seconds, points, ok, errors = timed(flows, args.crossbars, j)
            base = base or seconds
            print(f"  {flows:<18} --jobs {j}: {seconds:6.2f} s wall, {points:6.2f} s in points "
                  f"({ok} ok, {errors} error)  speedup x{base / seconds:.2f}")


if __name__ == "__main__":
    main()
