"""``simulate(arch, workload, options) -> Result``: one run of one dataflow on one chip.

The run's counters come from the SimPy components; this module only assembles them into the
summary and per-layer rows of docs/design.md section 7 (no I/O).
"""

from __future__ import annotations

import enum
import gc
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from xbarsim import __version__
from xbarsim.basis.timing_spec import BasisSpec
from xbarsim.config.schema import Arch
from xbarsim.errors import XbarsimError
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.weights_map import map_weights
from xbarsim.timing.dataflows.basis import BasisDataflow
from xbarsim.timing.dataflows.digital import DigitalDataflow
from xbarsim.timing.dataflows.engine import Engine
from xbarsim.timing.dataflows.pipeline import (
    MAX_STEPS,
    PipelineDataflow,
    pipeline_steps,
    plan_copies,
)
from xbarsim.timing.dataflows.plan import Dataflow, check_static_fits, plan_rounds
from xbarsim.timing.dataflows.rounds import RoundsDataflow, rounds_steps
from xbarsim.timing.energy import (
    ENERGY_COLUMNS,
    ActionEnergies,
    area_breakdown_mm2,
    dynamic_energy,
    static_power_w,
)
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.stats import COUNTERS
from xbarsim.workload.graph import Workload

SUMMARY_COLUMNS = (
    "workload", "arch", "dataflow", "crossbars", "batch", "seed", "cycles", "latency_s",
    "energy_j", "edp_js", "cycles_per_inference", "energy_per_inference_j",
    "edp_per_inference_js", "compute_cycles", "program_cycles", "stall_cycles", "setup_cycles",
    "setup_energy_j", "cells_written", "write_pulses", "verify_reads", "xbar_reads",
    "adc_conversions", "dac_conversions", "digital_macs", "buffer_bytes", "noc_bytes",
    "dram_bytes", *ENERGY_COLUMNS, "energy_static_j", "area_mm2", "wall_s", "version",
    "throughput_inf_per_s", "image_latency_s", "failed_cells", "lifetime_h",
    "tops", "tops_per_w", "tops_per_mm2", "pj_per_mac",
)
"""Exact columns of summary.csv (docs/design.md section 7)."""

MAX_BATCH_MACS = 2**53
"""Most multiply-accumulates of one run (batch x network): every count stays exact in the
float64 cells of a CSV."""

LAYER_COLUMNS = (
    "layer", "type", "start_cycle", "end_cycle", "cycles", "program_cycles", "blocks", "copies",
    "rounds",
    "analog_groups", *COUNTERS, "energy_j",
)
"""Columns of layers.csv: timing, footprint (blocks of one copy, copies), analog-combine
output groups per input vector (summed over segments and bit-planes; 0 unless
``basis.combine: analog``), every counter and the layer's dynamic energy."""

AREA_COLUMNS = ("component", "area_mm2", "share")
"""Columns of area.csv: the chip's silicon area by component and its share of the total."""

UTILIZATION_COLUMNS = ("resource", "capacity", "busy_cycles", "utilization")
"""Columns of utilization.csv: how busy each kind of shared hardware was during the run."""


class Granularity(enum.Enum):
    """One simulation event per ..."""

    WORK_ITEM = "work_item"
    """... batch of vectors on a block, or block written (default; fast)."""
    VECTOR = "vector"
    """... input vector on a block."""
    ROW = "row"
    """... written row group (programming)."""


@dataclass(frozen=True)
class RunOptions:
    """What to simulate beyond the architecture and workload."""

    dataflow: Dataflow
    batch: int = 1
    seed: int = 0
    granularity: Granularity = Granularity.WORK_ITEM
    overlap: bool = False
    """Reprogram: each tile writes its next round's blocks as soon as its own blocks of the
    previous round have computed (else the whole chip finishes a round first)."""
    basis: BasisSpec | None = None
    """Basis layout and coefficient counts, for the basis dataflow."""
    weights: Mapping[str, np.ndarray] | None = None
    """Real weights per MVM layer: all-zero blocks and columns are not mapped, and cells are
    written towards their real levels (else every block is dense with uniform levels)."""
    force: bool = False
    """Run even when the estimated simulation steps exceed ``pipeline.MAX_STEPS``."""


@dataclass(frozen=True)
class Result:
    """Summary row and per-layer rows of one run."""

    summary: dict[str, Any]
    layers: list[dict[str, Any]]
    utilization: list[dict[str, Any]]
    """Per kind of shared hardware: capacity, busy cycles and busy fraction of the run."""
    area: list[dict[str, Any]]
    """The chip's area by component (``energy.area_breakdown_mm2``)."""


def simulate(arch: Arch, workload: Workload, options: RunOptions) -> Result:
    """Simulate one batch of ``workload`` on ``arch`` (its ``chip.crossbars``) with the chosen
    dataflow; resident weights (or the basis) are written once first and reported as setup."""
    with _cycle_collector_paused():
        return _simulate(arch, workload, options)


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector during a run, then free the run's objects.

    Reference counting frees a run's short-lived objects (events, processes) as it goes; its
    reference cycles are its chip, engine and SimPy environment, which refer to one another
    and die together when it returns. Until then the collector's passes only re-scan the
    live model, at a cost that grows with the chip. Every object the run made is still in
    the youngest generation when it ends, so one pass over that generation frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect(0)


def _simulate(arch: Arch, workload: Workload, options: RunOptions) -> Result:
    began = time.perf_counter()
    if options.batch < 1:
        raise XbarsimError(f"got {options.batch} (expected >= 1)", key="batch")
    if options.seed < 0:
        raise XbarsimError(f"got {options.seed} (expected >= 0)", key="seed")
    if options.batch * workload.total_macs > MAX_BATCH_MACS:
        raise XbarsimError(f"{options.batch:,} images of {workload.name} are "
                           f"{options.batch * workload.total_macs:.3g} multiply-accumulates "
                           f"(expected at most {MAX_BATCH_MACS:.3g}, the largest count exact in "
                           "a float64 CSV cell)", key="batch")
    enc = Encoding.from_arch(arch)
    maps = map_weights(workload, enc, options.weights)
    per_row = options.granularity is Granularity.ROW
    per_vector = options.granularity is Granularity.VECTOR
    setup: Engine | None
    if options.dataflow is Dataflow.BASIS:
        if options.basis is None:
            raise XbarsimError("the basis dataflow needs one (expected a BasisSpec from a basis "
                               "file)", key="basis")
        spec = options.basis

        def build(batch: int, per_vector: bool) -> Engine:
            return BasisDataflow(Chip(arch, options.seed, per_row), workload, enc, batch,
                                 per_vector, spec)
        setup = build(1, False)
    elif options.dataflow is Dataflow.DIGITAL:
        def build(batch: int, per_vector: bool) -> Engine:
            return DigitalDataflow(Chip(arch, options.seed, per_row), workload, enc, batch,
                                   per_vector)
        setup = None
    elif options.dataflow is Dataflow.STATIC or sum(
            m.mapped_blocks for m in maps) <= arch.chip.crossbars:
        # static, or reprogram on a chip that holds the network: nothing to rewrite, so the
        # weights stay resident and the layers pipeline (docs/design.md 6.3)
        check_static_fits(maps, arch.chip.crossbars)
        _check_work(pipeline_steps(workload, options.batch, per_vector),
                    "pipeline steps (layer x image x chunk)", workload, options)
        copies = plan_copies(arch, maps, enc, options.batch)
        copied = [m for m in maps for _ in range(copies[m.name])]
        setup = RoundsDataflow(Chip(arch, options.seed, per_row), workload, enc, 1, False,
                               plan_rounds(copied, enc, arch.chip.crossbars), resident=True,
                               overlap=False)

        def build(batch: int, per_vector: bool) -> Engine:
            return PipelineDataflow(Chip(arch, options.seed, per_row), workload, enc, batch,
                                    per_vector, maps, copies)
    else:
        _check_work(rounds_steps(arch, maps, options.batch, per_vector, per_row),
                    "block steps (blocks written and computed)", workload, options)
        rounds = plan_rounds(maps, enc, arch.chip.crossbars)

        def build(batch: int, per_vector: bool) -> Engine:
            return RoundsDataflow(Chip(arch, options.seed, per_row), workload, enc, batch,
                                  per_vector, rounds, resident=False, overlap=options.overlap)
        setup = None
    setup_cycles, setup_energy = _setup_cost(setup) if setup is not None else (0, 0.0)
    engine = build(options.batch, per_vector)
    cycles = engine.run()
    return _assemble(engine, cycles, options, maps, setup_cycles, setup_energy, began)


def _check_work(steps: int, what: str, workload: Workload, options: RunOptions) -> None:
    """Refuse a run whose estimated steps exceed ``MAX_STEPS`` (about 100 s and 2 GB) unless
    ``options.force``: an absurd batch or network fails at once instead of hanging."""
    if steps > MAX_STEPS and not options.force:
        raise XbarsimError(
            f"{options.batch:,} images of {workload.name} take {steps:,} {what} (expected at "
            f"most {MAX_STEPS:,}, about 100 s and 2 GB; use --force to run anyway)", key="batch")


def _assemble(engine: Engine, cycles: int, options: RunOptions, maps: list[Any],
              setup_cycles: int, setup_energy: float, began: float) -> Result:
    """Summary and layer rows from a finished engine."""
    chip, workload, arch = engine.chip, engine.workload, engine.chip.arch
    crossbars = arch.chip.crossbars
    energies = ActionEnergies.from_arch(arch, _mac_bits(arch, options))
    split = chip.activity.finish()
    counts = chip.counters.total()
    energy = dynamic_energy(counts, energies)
    latency = chip.clock.seconds(cycles)
    static = static_power_w(arch) * latency
    total = sum(energy.values()) + static
    n = options.batch
    steady = _two_views_of_time(engine.image_done_cycles(cycles), chip.clock.seconds)
    area = area_breakdown_mm2(arch)
    total_area = sum(area.values())
    summary: dict[str, Any] = {
        "workload": workload.name, "arch": arch.name, "dataflow": options.dataflow.value,
        "crossbars": crossbars, "batch": n, "seed": options.seed, "cycles": cycles,
        "latency_s": latency, "energy_j": total, "edp_js": total * latency,
        "cycles_per_inference": cycles / n, "energy_per_inference_j": total / n,
        "edp_per_inference_js": (total / n) * (latency / n),
        **steady,
        "compute_cycles": split["compute"], "program_cycles": split["program"],
        "stall_cycles": split["stall"], "setup_cycles": setup_cycles,
        "setup_energy_j": setup_energy,
        **{k: counts[k] for k in ("cells_written", "write_pulses", "verify_reads", "xbar_reads",
                                  "adc_conversions", "dac_conversions", "digital_macs",
                                  "noc_bytes", "dram_bytes")},
        "buffer_bytes": counts["tile_buffer_read_bytes"] + counts["tile_buffer_write_bytes"]
        + counts["global_buffer_bytes"] + counts["coeff_buffer_bytes"],
        **energy, "energy_static_j": static, "area_mm2": total_area,
        "failed_cells": counts["failed_cells"],
        "lifetime_h": _lifetime_h(engine, n, steady["throughput_inf_per_s"]),
        **_efficiency(workload.total_macs, total / n, steady["throughput_inf_per_s"],
                      total_area),
        "wall_s": time.perf_counter() - began, "version": __version__,
    }
    summary = {k: summary[k] for k in SUMMARY_COLUMNS}
    busy = chip.utilization(cycles)
    kinds = sorted(busy, key=lambda kind: (-busy[kind], kind))
    utilization: list[dict[str, Any]] = [
        {"resource": kind, "capacity": chip.capacity()[kind],
         "busy_cycles": chip.counters.busy[kind], "utilization": busy[kind]} for kind in kinds]
    area_rows = [{"component": k, "area_mm2": v, "share": v / total_area if total_area else 0.0}
                 for k, v in area.items()]
    return Result(summary=summary, layers=_layer_rows(engine, maps, energies, options.basis),
                  utilization=utilization, area=area_rows)


def _two_views_of_time(done: list[int], seconds: Any) -> dict[str, float]:
    """Steady-state throughput and one image's latency (docs/design.md section 7).

    ``image_latency_s``: from the start of the run (the first input leaves DRAM) to the first
    image's last output in DRAM. ``throughput_inf_per_s``: (N - 1) images over the time between
    the first and the last image's completion, the rate of a full pipeline; when all images
    finish together (batch 1, or a dataflow that moves the whole batch layer by layer) it is
    N / latency of the batch."""
    first, last = done[0], max(done)
    steady = (len(done) - 1) / seconds(last - first) if last > first else len(done) / seconds(last)
    return {"throughput_inf_per_s": steady, "image_latency_s": seconds(first)}


def _mac_bits(arch: Arch, options: RunOptions) -> tuple[int, int] | None:
    """Operand widths of a run's digital MACs: basis coefficients times projections (partial
    sums), or the digital baseline's weights times inputs."""
    p = arch.precision
    if options.dataflow is Dataflow.BASIS and options.basis is not None:
        return options.basis.coeff_bits, p.psum_bits
    if options.dataflow is Dataflow.DIGITAL:
        return p.weight_bits, p.input_bits
    return None


def _lifetime_h(engine: Engine, batch: int, inferences_per_s: float) -> float | None:
    """Hours of inference at ``inferences_per_s`` until the most-written crossbar's cells
    have been written ``endurance_cycles`` times (one write-verify of a cell = one cycle of
    wear); ``None`` (an empty CSV cell) when nothing is written per inference or no
    endurance is configured."""
    endurance = engine.chip.arch.write_verify.endurance_cycles
    most = max(engine.slot_writes.values(), default=0)
    if endurance is None or most == 0:
        return None
    inferences = endurance / (most / batch)
    return inferences / inferences_per_s / 3600


def _efficiency(macs: int, energy_per_inference_j: float, inferences_per_s: float,
                area: float) -> dict[str, float]:
    """Throughput and efficiency from the network's MACs (2 operations each): TOPS at the
    steady-state rate, TOPS/W = operations per joule / 1e12, TOPS/mm2, pJ per MAC."""
    ops = 2 * macs
    tops = ops * inferences_per_s / 1e12
    return {
        "tops": tops,
        "tops_per_w": ops / energy_per_inference_j / 1e12 if energy_per_inference_j else 0.0,
        "tops_per_mm2": tops / area if area else 0.0,
        "pj_per_mac": energy_per_inference_j / macs * 1e12 if macs else 0.0,
    }


def _setup_cost(engine: Engine) -> tuple[int, float]:
    """Cycles and energy (dynamic + leakage) of the dataflow's one-time writes."""
    engine.env.process(engine.setup())
    engine.env.run()
    cycles = int(engine.env.now)
    arch = engine.chip.arch
    dynamic = dynamic_energy(engine.chip.counters.total(), ActionEnergies.from_arch(arch))
    return cycles, sum(dynamic.values()) + static_power_w(arch) * engine.chip.clock.seconds(cycles)


def _layer_rows(engine: Engine, maps: list[Any], energies: ActionEnergies,
                basis: BasisSpec | None) -> list[dict[str, Any]]:
    blocks = {m.name: m.mapped_blocks for m in maps}
    groups = basis.analog_steps if basis is not None else {}
    rows = []
    for layer in engine.workload.layers:
        counts = engine.chip.counters.layer(layer.name)
        start, end = engine.start[layer.name], engine.end[layer.name]
        rows.append({
            "layer": layer.name, "type": layer.type.value, "start_cycle": start,
            "end_cycle": end, "cycles": end - start,
            "program_cycles": sum(b - a for a, b in engine.program_spans[layer.name]),
            "blocks": blocks.get(layer.name, 0),
            "copies": engine.copies.get(layer.name, 1) if layer.is_mvm else 0,
            "rounds": engine.rounds_of[layer.name],
            "analog_groups": groups.get(layer.name, 0),
            **counts, "energy_j": sum(dynamic_energy(counts, energies).values()),
        })
    return rows
