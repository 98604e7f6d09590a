"""Engine speed: wall time and SimPy events per run.

Run: python benchmarks/bench_engine.py            (the reference runs below)
     python benchmarks/bench_engine.py --chip-sizes  (cost against chip size: 16 .. 16,128
                                                       crossbars, every dataflow, batch 1 and 64)
     python benchmarks/bench_engine.py --chip-sizes --zoo  (the same for every zoo network)
     ... --chip-sizes --repeat N  (a run over 1 s is run N times, its fastest reported: the
                                   simulation's cost, without a noisy machine's pauses)
     python benchmarks/bench_engine.py --merge OUT1 OUT2 ...  (the fastest of earlier
                                   --chip-sizes outputs, run by run, and their summary)
--chip-sizes and --merge end with the runs over the target and the README's table.
Targets: ResNet-18 CIFAR-100 reprogram @64 crossbars <= 1 s, ResNet-50 ImageNet reprogram @64
<= 5 s; basis ResNet-18 <= 1 s, ResNet-50 <= 5 s; every run of ``--chip-sizes`` <= 2 s (issue
12's target for every zoo network).
"""

from __future__ import annotations

import sys
import time

import simpy

from xbarsim.basis import example_basis
from xbarsim.errors import XbarsimError
from xbarsim.inputs import load_run_inputs
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate
from xbarsim.workload.zoo import ZOO

ARCH = "arch_configs/isaac_like.yaml"
RUNS = [
    ("resnet18_cifar100", Dataflow.REPROGRAM, 64),
    ("resnet50_imagenet", Dataflow.REPROGRAM, 64),
    ("resnet18_cifar100", Dataflow.BASIS, 16),
    ("resnet18_cifar100", Dataflow.BASIS, 64),
    ("resnet18_cifar100", Dataflow.BASIS, 256),
    ("resnet50_imagenet", Dataflow.BASIS, 16),
    ("resnet50_imagenet", Dataflow.BASIS, 64),
    ("resnet50_imagenet", Dataflow.BASIS, 256),
]


def count_events() -> list[int]:
    """Count every event SimPy schedules (timeouts, resource grants, process steps)."""
    counter = [0]
    schedule = simpy.Environment.schedule

    def counting(self: simpy.Environment, *args: object, **kwargs: object) -> None:
        counter[0] += 1
        schedule(self, *args, **kwargs)  # type: ignore[arg-type]

    simpy.Environment.schedule = counting  # type: ignore[method-assign]
    return counter


CHIP_SIZES = (16, 256, 4096, 16128)
SIZE_WORKLOADS = ("resnet18_cifar100", "resnet50_imagenet")
SIZE_BUDGET_S = 120.0
"""A run slower than this is not repeated at larger chips (its cost only grows)."""


REPEAT_OVER_S = 1.0
"""``--repeat`` repeats only the runs slower than this (the others are far from the target)."""


TARGET_S = 2.0
"""Issue 12's target: every run of ``--chip-sizes --zoo`` within this many seconds."""

Key = tuple[str, str, int, int]
"""A run: (workload, dataflow, crossbars, batch)."""
Row = tuple[float, str, str] | str
"""A run's wall seconds, events and cycles per inference as printed, or why there are none
("no fit", "skipped")."""


HEADER = (f"{'workload':20} {'dataflow':10} {'xbars':>6} {'batch':>5} {'wall_s':>7} "
          f"{'events':>10} {'cycles/inf':>12}")


def print_row(key: Key, row: Row) -> None:
    """One line of ``--chip-sizes``."""
    name, dataflow, crossbars, batch = key
    head = f"{name:20} {dataflow:10} {crossbars:>6} {batch:>5}"
    print(f"{head} {row:>7}" if isinstance(row, str) else
          f"{head} {row[0]:7.2f} {row[1]:>10} {row[2]:>12}", flush=True)


def chip_sizes(repeat: int) -> dict[Key, Row]:
    """Wall time (the fastest of ``repeat`` runs for a slow one) and events of one run per
    (workload, dataflow, crossbars, batch)."""
    events = count_events()
    rows: dict[Key, Row] = {}
    print(HEADER)
    names = sorted(ZOO) if "--zoo" in sys.argv[1:] else SIZE_WORKLOADS
    for name in names:
        workload = f"workloads/{name}.yaml"
        for dataflow in Dataflow:
            basis = example_basis(workload) if dataflow is Dataflow.BASIS else None
            too_slow = False
            for crossbars in CHIP_SIZES:
                for batch in (1, 64):
                    key = (name, dataflow.value, crossbars, batch)
                    if too_slow:
                        rows[key] = "skipped"
                        print_row(key, rows[key])
                        continue
                    inputs = load_run_inputs(ARCH, workload, [f"chip.crossbars={crossbars}"],
                                             basis)
                    options = RunOptions(dataflow, batch=batch, basis=inputs.basis)
                    events[0] = 0
                    began = time.perf_counter()
                    try:
                        s = simulate(inputs.arch, inputs.workload, options).summary
                    except XbarsimError:
                        rows[key] = "no fit"
                        print_row(key, rows[key])
                        continue
                    wall = time.perf_counter() - began
                    count = events[0]
                    for _ in range(repeat - 1 if wall > REPEAT_OVER_S else 0):
                        began = time.perf_counter()
                        simulate(inputs.arch, inputs.workload, options)
                        wall = min(wall, time.perf_counter() - began)
                    too_slow = wall > SIZE_BUDGET_S
                    rows[key] = (wall, f"{count:,}", f"{s['cycles_per_inference']:,.0f}")
                    print_row(key, rows[key])
    return rows


def read_rows(path: str) -> dict[Key, Row]:
    """The runs of an earlier ``--chip-sizes`` output."""
    rows: dict[Key, Row] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.split()
            if p[1:2] == ["runs:"]:
                break  # the summary, whose runs over 2 s and table repeat the rows
            if len(p) < 5 or p[0] == "workload" or not p[2].isdigit():
                continue  # the header, a blank line
            key = (p[0], p[1], int(p[2]), int(p[3]))
            rows[key] = (float(p[4]), p[5], p[6]) if p[4][0].isdigit() else " ".join(p[4:])
    return rows


def merge(outputs: list[dict[Key, Row]]) -> dict[Key, Row]:
    """Each run's fastest over several outputs of the same code (their events and cycles must
    agree: they do not depend on the machine)."""
    merged = dict(outputs[0])
    for rows in outputs[1:]:
        for key, row in rows.items():
            known = merged.get(key)
            if isinstance(known, str) or isinstance(row, str) or known is None:
                if known != row:
                    raise SystemExit(f"{' '.join(map(str, key))}: {known} against {row}: "
                                     "not the same runs")
                continue
            if known[1:] != row[1:]:
                raise SystemExit(f"{' '.join(map(str, key))}: events or cycles differ "
                                 f"({known[1:]} against {row[1:]}): not the same code")
            merged[key] = min(known, row)
    return merged


def summary(rows: dict[Key, Row]) -> None:
    """How many runs met the target, the ones that did not, and the README's table (wall
    seconds at batch 1 / batch 64, batch-64 events in brackets)."""
    walls = {key: row[0] for key, row in rows.items() if not isinstance(row, str)}
    print(f"\n{len(walls)} runs: {sum(w <= TARGET_S for w in walls.values())} within "
          f"{TARGET_S:g} s, {sum(w <= 1 for w in walls.values())} within 1 s; over {TARGET_S:g} s:")
    for key, wall in sorted(walls.items(), key=lambda item: -item[1]):
        if wall > TARGET_S:
            print_row(key, rows[key])
    print("\n| workload | dataflow | " + " | ".join(f"{c:,}" for c in CHIP_SIZES) + " |")
    print("|---|---|" + "---|" * len(CHIP_SIZES))
    for name in SIZE_WORKLOADS:
        for dataflow in Dataflow:
            cells = []
            for crossbars in CHIP_SIZES:
                one, many = (rows.get((name, dataflow.value, crossbars, b)) for b in (1, 64))
                cells.append(f"{one[0]:.2f} / {many[0]:.2f} ({many[1]})"
                             if isinstance(one, tuple) and isinstance(many, tuple) else
                             str(one if isinstance(one, str) else many))
            print(f"| {name} | {dataflow.value} | " + " | ".join(cells) + " |")


def main() -> None:
    args = sys.argv[1:]
    if "--chip-sizes" in args:
        summary(chip_sizes(int(args[args.index("--repeat") + 1]) if "--repeat" in args else 1))
        return
    if "--merge" in args:
        merged = merge([read_rows(path) for path in args[args.index("--merge") + 1:]])
        print(HEADER)
        for key, row in merged.items():
            print_row(key, row)
        summary(merged)
        return
    events = count_events()
    print(f"{'workload':20} {'dataflow':10} {'xbars':>6} {'wall_s':>7} {'events':>9} "
          f"{'events/s':>9}")
    for name, dataflow, crossbars in RUNS:
        workload = f"workloads/{name}.yaml"
        basis = example_basis(workload) if dataflow is Dataflow.BASIS else None
        inputs = load_run_inputs(ARCH, workload, [f"chip.crossbars={crossbars}"], basis)
        events[0] = 0
        began = time.perf_counter()
        simulate(inputs.arch, inputs.workload,
                 RunOptions(dataflow, basis=inputs.basis))
        wall = time.perf_counter() - began
        print(f"{name:20} {dataflow.value:10} {crossbars:>6} {wall:7.2f} {events[0]:>9,} "
              f"{events[0] / wall:>9,.0f}")


if __name__ == "__main__":
    main()
