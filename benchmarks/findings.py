"""The basis / reprogram table of docs/guide.md ("What it finds"), regenerated.

For ResNet-18 CIFAR-100 and ResNet-50 ImageNet on isaac_like at 16, 64 and 256 crossbars, one
inference with the example basis: the basis / reprogram ratios of cycles, energy and EDP per
inference at matched precision (reprogram writes 8-bit weights, the example bases' basis
precision), the two busiest kinds of hardware of the basis run, the cycle ratio with a write
circuit per crossbar instead of per IMA (the [A] choice most favourable to reprogram) and with
isaac_like's own 16-bit weights; then the write controllers' busy share and the write share of
reprogram's energy over those runs. About 20 s on 2 cores::

    PYTHONPATH=. python benchmarks/findings.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xbarsim.basis import example_basis
from xbarsim.inputs import load_run_inputs
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "arch_configs" / "isaac_like.yaml"
WORKLOADS = {"ResNet-18 CIFAR-100": "resnet18_cifar100", "ResNet-50 ImageNet": "resnet50_imagenet"}
CROSSBARS = (16, 64, 256)
MATCHED = ("precision.weight_bits=8",)
"""Reprogram at the basis network's precision: 8-bit weights, 4 two-bit cells each."""
PER_CROSSBAR = "tile.write_circuits=per_crossbar"
"""Every crossbar with its own write circuit: reprogram writes as fast as the chip allows."""
NAMES = {"crossbar": "crossbars", "combiner": "combiner", "noc": "NoC", "mesh_link": "mesh",
         "write_controller": "write controllers", "global_buffer": "global buffer",
         "tile_buffer": "tile buffers", "dram": "DRAM", "shift_add": "shift-add",
         "vector_unit": "vector unit"}


def run(workload: str, flow: Dataflow, crossbars: int,
        overrides: tuple[str, ...] = ()) -> Any:
    """One simulation of ``workload`` on isaac_like with ``crossbars`` crossbars."""
    path = ROOT / "workloads" / f"{workload}.yaml"
    basis = str(example_basis(path)) if flow is Dataflow.BASIS else None
    inputs = load_run_inputs(ARCH, path, [*overrides, f"chip.crossbars={crossbars}"], basis)
    return simulate(inputs.arch, inputs.workload, RunOptions(flow, basis=inputs.basis))


def busiest(result: Any) -> str:
    """The two busiest kinds of hardware with their busy share."""
    top = result.utilization[:2]
    return ", ".join(f"{NAMES.get(u['resource'], u['resource'])} {u['utilization']:.0%}"
                     for u in top)


def main() -> None:
    print("| workload | crossbars | cycles | energy | EDP | busiest in basis "
          "| cycles, a write circuit per crossbar | cycles, 16-bit weights |")
    print("|---|---|---|---|---|---|---|---|")
    writer_busy, write_share = [], []
    for label, workload in WORKLOADS.items():
        for n in CROSSBARS:
            basis = run(workload, Dataflow.BASIS, n)
            reprogram = run(workload, Dataflow.REPROGRAM, n, MATCHED)
            full = run(workload, Dataflow.REPROGRAM, n)
            wide = run(workload, Dataflow.REPROGRAM, n, (*MATCHED, PER_CROSSBAR))
            b, r, f = basis.summary, reprogram.summary, full.summary
            ratio = {c: b[c] / r[c] for c in ("cycles_per_inference", "energy_per_inference_j",
                                               "edp_per_inference_js")}
            print(f"| {label} | {n} | {ratio['cycles_per_inference']:.2%} | "
                  f"{ratio['energy_per_inference_j']:.1%} | "
                  f"{ratio['edp_per_inference_js']:.3%} | {busiest(basis)} | "
                  f"{b['cycles_per_inference'] / wide.summary['cycles_per_inference']:.2%} | "
                  f"{b['cycles_per_inference'] / f['cycles_per_inference']:.2%} |")
            for s, result in ((r, reprogram), (f, full)):
                util = {u["resource"]: u["utilization"] for u in result.utilization}
                writer_busy.append(util.get("write_controller", 0.0))
                write_share.append((s["energy_write_j"]) / s["energy_j"])
    print(f"\nreprogram: write controllers {min(writer_busy):.0%}-{max(writer_busy):.0%} busy; "
          f"write pulses and verifies {min(write_share):.0%}-{max(write_share):.0%} of its "
          "energy")


if __name__ == "__main__":
    main()
