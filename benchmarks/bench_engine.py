"""Engine speed: wall time and SimPy events per inference for the issue's reference runs.

Run: python benchmarks/bench_engine.py
Targets (issues 3 and 4): ResNet-18 CIFAR-100 reprogram @64 crossbars <= 1 s, ResNet-50 ImageNet
reprogram @64 <= 5 s; basis ResNet-18 <= 1 s, ResNet-50 <= 5 s (on 2 cores).
"""

from __future__ import annotations

import time

import simpy

from xbarsim.basis import example_basis
from xbarsim.inputs import load_run_inputs
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate

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


def main() -> None:
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
