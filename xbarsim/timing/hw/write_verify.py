"""The RRAM write-verify controller: programs a crossbar block row group by row group.

Program-verify: every cell is read once, then pulsed and re-read until it is inside its tolerance
window; the cells pulsed together (``rows_parallel`` rows x ``cells_per_row_parallel`` cells)
finish when their slowest cell does, so one step takes verify + max_pulses x (pulse + verify), and
every verify reads all the step's cells (``verify_reads`` = cells x (1 + max_pulses) per step;
``write_pulses`` counts only the pulses cells really get). Single-pass (look-up-table
programming): one pulse per cell chosen from a table, no verify loop, so a step takes one pulse.
Pulse counts come from ``programming.pulses``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from xbarsim.config.schema import Arch, WriteCircuits, WritePolicy, WriteVerify
from xbarsim.programming.pulses import PulseDistribution, RowSizes, row_sizes
from xbarsim.timing.hw.clock import Clock, until
from xbarsim.timing.hw.stats import Counters
from xbarsim.timing.hw.windows import compiled_mode
from xbarsim.util import ceil_div


@dataclass(frozen=True)
class BlockWrite:
    """One block to write: its layer, used rows and columns, and (real weights) the cells per
    target level of each row."""

    layer: str
    rows: int
    cols: int
    levels: np.ndarray | None = None


def write_circuits(arch: Arch, crossbars: int) -> int:
    """Write-verify controllers of a tile holding ``crossbars`` crossbars
    (``tile.write_circuits``): the crossbars it writes at once. Per IMA: ceil(crossbars /
    crossbars_per_ima) (a tile smaller than an IMA is one IMA)."""
    tile = arch.tile
    if tile.write_circuits is WriteCircuits.PER_CROSSBAR:
        return crossbars
    if tile.write_circuits is WriteCircuits.PER_IMA:
        return ceil_div(crossbars, min(tile.crossbars_per_ima, arch.chip.crossbars_per_tile))
    return 1


def tile_crossbars(arch: Arch) -> list[int]:
    """Crossbars of each tile: full tiles, the last one holding the rest."""
    per_tile, total = arch.chip.crossbars_per_tile, arch.chip.crossbars
    return [min(per_tile, total - i * per_tile) for i in range(arch.chip.tiles)]


def chip_write_circuits(arch: Arch) -> int:
    """Write-verify controllers of the whole chip (``write_circuits`` summed over its tiles)."""
    return sum(write_circuits(arch, n) for n in tile_crossbars(arch))


class WriteVerifyController:
    """The write controllers of one tile (a SimPy resource of ``write_circuits`` units)."""

    def __init__(self, env: simpy.Environment, cfg: WriteVerify, controllers: int, clock: Clock,
                 counters: Counters, pulses: PulseDistribution, rng: np.random.Generator,
                 per_row_events: bool) -> None:
        self.env = env
        self.cfg = cfg
        self.controllers = simpy.Resource(env, capacity=controllers)
        self.pulse_cycles = clock.cycles(cfg.pulse_ns)
        self.verify_cycles = clock.cycles(cfg.verify_ns)
        self.counters = counters
        self.pulses = pulses
        self.rng = rng
        self.per_row_events = per_row_events
        self.count = controllers
        self.batch_free_at = 0
        """Cycle the tile's controllers are free of the batches ``program_blocks`` booked: one
        batch at a time, in the order they are requested (its length is known when it is
        requested, so it is booked by time: the schedule of a SimPy resource of one unit)."""
        self._step_cells: dict[tuple[int, int], np.ndarray] = {}
        self._batch_steps: dict[tuple[tuple[int, int], ...],
                                tuple[np.ndarray, np.ndarray, RowSizes]] = {}

    def step_cells(self, rows_used: int, cols_used: int) -> np.ndarray:
        """Cells pulsed together in each write step of a block, in write order (read-only:
        one array per block shape, shared)."""
        steps = self._step_cells.get((rows_used, cols_used))
        if steps is None:
            steps = self._step_cells[rows_used, cols_used] = self._new_step_cells(rows_used,
                                                                                  cols_used)
            steps.flags.writeable = False
        return steps

    def batch_steps(self, shapes: tuple[tuple[int, int], ...]
                    ) -> tuple[np.ndarray, np.ndarray, RowSizes]:
        """The write steps of blocks of ``shapes`` (rows, cols) one after another: the cells of
        each step, where each block's steps begin, and the steps' sizes for the draw
        (read-only, kept per sequence of shapes: the rounds of a layer mostly write the
        same)."""
        batch = self._batch_steps.get(shapes)
        if batch is None:
            steps = [self.step_cells(rows, cols) for rows, cols in shapes]
            cells = np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64)
            offsets = np.array(list(itertools.accumulate([s.size for s in steps[:-1]],
                                                         initial=0)), dtype=np.int64)
            sizes = row_sizes(cells)
            for array in (cells, offsets, sizes.which):
                array.flags.writeable = False
            batch = self._batch_steps[shapes] = (cells, offsets, sizes)
        return batch

    def _new_step_cells(self, rows_used: int, cols_used: int) -> np.ndarray:
        wv = self.cfg
        row_groups = np.minimum(wv.rows_parallel,
                                rows_used - np.arange(ceil_div(rows_used, wv.rows_parallel))
                                * wv.rows_parallel)
        passes = np.minimum(wv.cells_per_row_parallel,
                            cols_used - np.arange(ceil_div(cols_used, wv.cells_per_row_parallel))
                            * wv.cells_per_row_parallel)
        return np.outer(row_groups, passes).ravel()

    def step_levels(self, level_counts: np.ndarray, cols_used: int) -> np.ndarray:
        """Cells per target level in each step, from per-row level counts ``[rows, levels]``:
        rows summed per row group; a row group's cells are dealt to its passes at random
        (multivariate hypergeometric), so each pass gets exactly its number of cells."""
        wv = self.cfg
        share = np.minimum(wv.cells_per_row_parallel,
                           cols_used - np.arange(ceil_div(cols_used, wv.cells_per_row_parallel))
                           * wv.cells_per_row_parallel)
        steps = []
        for r in range(0, level_counts.shape[0], wv.rows_parallel):
            remaining = level_counts[r:r + wv.rows_parallel].sum(axis=0).astype(np.int64)
            for size in share * min(wv.rows_parallel, level_counts.shape[0] - r):
                draw = (remaining if size >= remaining.sum()
                        else self.rng.multivariate_hypergeometric(remaining, int(size)))
                remaining = remaining - draw
                steps.append(draw)
        return np.array(steps, dtype=np.int64)

    def step_cycles(self, step_cells: np.ndarray, step_levels: np.ndarray | None = None
                    ) -> tuple[np.ndarray, int, int, int]:
        """Cycles of each step, plus total pulses, verify reads and failed cells of the
        block."""
        cells = int(step_cells.sum())
        if self.cfg.policy is WritePolicy.SINGLE_PASS:
            return np.full(step_cells.shape, self.pulse_cycles, dtype=np.int64), cells, 0, 0
        if step_levels is None:  # no weights: target levels uniform over the cell's levels
            slowest = self.pulses.sample_row_max(step_cells, self.rng)
            total_pulses = self.pulses.sample_total(cells, self.rng)
            failed = self.pulses.sample_failed(cells, self.rng)
        else:
            slowest = self.pulses.sample_max_by_levels(step_levels, self.rng)
            per_level = step_levels.sum(axis=0)
            total_pulses = self.pulses.sample_total_by_levels(per_level, self.rng)
            failed = self.pulses.sample_failed_by_levels(per_level, self.rng)
        cycles = self.verify_cycles + slowest * (self.pulse_cycles + self.verify_cycles)
        # Every iteration re-reads all the step's cells (the row is sensed whole, converged
        # cells included): one read before the first pulse, then one after each pulse of the
        # step's slowest cell.
        verifies = int((step_cells * (1 + slowest)).sum())
        return cycles.astype(np.int64), total_pulses, verifies, failed

    def program(self, layer: str, rows_used: int, cols_used: int,
                level_counts: np.ndarray | None = None) -> Generator[Any, Any, None]:
        """Program one block of ``rows_used`` x ``cols_used`` cells on a free controller;
        ``level_counts[row, level]`` gives the target levels when the weights are known."""
        steps = self.step_cells(rows_used, cols_used)
        levels = None if level_counts is None else self.step_levels(level_counts, cols_used)
        with self.controllers.request() as req:
            yield req
            cycles, pulses, verifies, failed = self.step_cycles(steps, levels)
            if self.per_row_events:
                for c in cycles:
                    yield self.env.timeout(int(c))
            else:
                yield self.env.timeout(int(cycles.sum()))
        self.counters.add_busy("write_controller", int(cycles.sum()))
        self.counters.add(layer, "cells_written", rows_used * cols_used)
        self.counters.add(layer, "write_pulses", pulses)
        self.counters.add(layer, "verify_reads", verifies)
        self.counters.add(layer, "failed_cells", failed)

    def program_blocks(self, blocks: Sequence[BlockWrite]) -> Generator[Any, Any, list[int]]:
        """Program a tile's blocks as one batch: the controllers take them in order, each
        block to the controller free first (list scheduling), in one event; return the cycle
        each block is done. Same counts and the same per-block write time as ``program``."""
        cycles, pulses, verifies, failed = self.block_costs(blocks)
        free = [0] * min(self.count, len(blocks))  # zeros: a heap
        finish = []
        for c in cycles:
            end = free[0] + c  # the controller free first
            finish.append(end)
            heapq.heapreplace(free, end)
        start = max(int(self.env.now), self.batch_free_at)
        self.batch_free_at = start + max(finish, default=0)
        yield from until(self.env, self.batch_free_at)
        self.counters.add_busy("write_controller", sum(cycles))
        counts: dict[str, list[int]] = {}  # per layer: cells, pulses, verifies, failed
        for b, p, v, f in zip(blocks, pulses, verifies, failed):
            n = counts.setdefault(b.layer, [0, 0, 0, 0])
            n[0] += b.rows * b.cols
            n[1] += p
            n[2] += v
            n[3] += f
        for layer, n in counts.items():
            for counter, amount in zip(("cells_written", "write_pulses", "verify_reads",
                                        "failed_cells"), n):
                self.counters.add(layer, counter, amount)
        return [start + f for f in finish]

    def block_costs(self, blocks: Sequence[BlockWrite]
                    ) -> tuple[list[int], list[int], list[int], list[int]]:
        """Write cycles, pulses, verify reads and failed cells of each block. Without known
        levels every step's slowest cell is drawn in one call for all blocks, and each layer's
        total pulses and failed cells in one draw each (its cells are iid), credited to its
        first block."""
        if any(b.levels is not None for b in blocks):
            out = [self.step_cycles(self.step_cells(b.rows, b.cols),
                                    None if b.levels is None
                                    else self.step_levels(b.levels, b.cols)) for b in blocks]
            return ([int(c.sum()) for c, _, _, _ in out], [p for _, p, _, _ in out],
                    [v for _, _, v, _ in out], [f for *_, f in out])
        cells, offsets, sizes = self.batch_steps(tuple([(b.rows, b.cols) for b in blocks]))
        if self.cfg.policy is WritePolicy.SINGLE_PASS:
            per_step = np.full(cells.shape, self.pulse_cycles, dtype=np.int64)
            return ([int(x) for x in np.add.reduceat(per_step, offsets)] if blocks else [],
                    [b.rows * b.cols for b in blocks], [0] * len(blocks), [0] * len(blocks))
        slowest = self.pulses.sample_row_max(cells, self.rng, compiled=compiled_mode(),
                                             sizes=sizes)
        per_step = self.verify_cycles + slowest * (self.pulse_cycles + self.verify_cycles)
        verifies = np.add.reduceat(cells * (1 + slowest), offsets).tolist() if blocks else []
        pulses, failed = [0] * len(blocks), [0] * len(blocks)
        first: dict[str, int] = {}
        layer_cells: dict[str, int] = {}
        for i, b in enumerate(blocks):
            first.setdefault(b.layer, i)
            layer_cells[b.layer] = layer_cells.get(b.layer, 0) + b.rows * b.cols
        for layer, n in layer_cells.items():
            pulses[first[layer]] = self.pulses.sample_total(n, self.rng)
            failed[first[layer]] = self.pulses.sample_failed(n, self.rng)
        return (np.add.reduceat(per_step, offsets).tolist() if blocks else [], pulses, verifies,
                failed)
