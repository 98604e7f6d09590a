"""The shared execution mechanism of the weights-on-crossbar dataflows.

Layers run in dependency order: a layer part starts when all its inputs are complete. A part
(1) sends each tile the input channels its row blocks need (global buffer -> NoC -> tile buffer),
(2) streams the batch's N * P vectors through each block as a pipeline of tile-buffer reads,
crossbar reads (DAC, array, ADC), shift-and-add and drain to the global buffer, and (3) in the
layer's last part reduces partial sums of row blocks on the vector unit. Non-MVM layers run on
the vector unit. Outputs larger than half the global buffer spill to DRAM and are read back.
Rounds of blocks are programmed by the tiles' write-verify controllers (weights fetched from
DRAM first) and, with overlap, program one half of the chip while the other computes.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from typing import Any

import numpy as np
import simpy

from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.plan import Part, Round
from xbarsim.timing.hw.chip import Chip
from xbarsim.util import nbytes
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import INPUT, Layer, LayerType

Proc = Generator[Any, Any, None]


class Engine:
    """Runs one batch of a workload on a chip, given its rounds of blocks."""

    def __init__(self, chip: Chip, workload: Workload, enc: Encoding, batch: int,
                 per_vector_events: bool) -> None:
        self.chip, self.workload, self.enc, self.batch = chip, workload, enc, batch
        self.env = chip.env
        self.per_vector_events = per_vector_events
        self.act_bits = chip.arch.precision.input_bits
        self.psum_bits = chip.arch.precision.psum_bits
        self.done = {name: self.env.event() for name in [INPUT, *self._names()]}
        self.start: dict[str, int] = {}
        self.end: dict[str, int] = {}
        self.program_spans: dict[str, list[tuple[int, int]]] = {n: [] for n in self._names()}
        self.rounds_of: dict[str, int] = dict.fromkeys(self._names(), 0)

    def _names(self) -> list[str]:
        return [layer.name for layer in self.workload.layers]

    def all_of(self, procs: Iterable[Proc]) -> simpy.events.AllOf:
        """Start processes and wait for all of them."""
        return self.env.all_of([self.env.process(p) for p in procs])

    # -- whole run ---------------------------------------------------------------------------

    def run(self, rounds: list[Round], resident: bool, overlap: bool) -> int:
        """Simulate the batch; return its cycles. Programming is skipped when ``resident``."""
        self.env.process(self.load_input())
        for layer in self.workload.layers:
            if not layer.is_mvm:
                self.env.process(self.run_digital_layer(layer))
        self.env.process(self.schedule(rounds, resident, overlap))
        self.env.run()
        missing = [n for n, ev in self.done.items() if not ev.triggered]
        if missing:
            raise RuntimeError(f"simulation ended with layers not run: {missing[:5]}")
        return int(self.env.now)

    def schedule(self, rounds: list[Round], resident: bool, overlap: bool) -> Proc:
        """Program and compute the rounds; round r is written once round r - lag has computed."""
        lag = 2 if overlap else 1
        computed = [self.env.event() for _ in rounds]
        programmed = [self.env.event() for _ in rounds]

        def programmer() -> Proc:
            for r in rounds:
                if not resident:
                    if r.index >= lag:
                        yield computed[r.index - lag]
                    yield from self.program_round(r)
                programmed[r.index].succeed()

        def computer() -> Proc:
            for r in rounds:
                yield programmed[r.index]
                yield self.all_of(self.run_part(p) for p in r.parts)
                computed[r.index].succeed()

        yield self.all_of([programmer(), computer()])

    def load_input(self) -> Proc:
        """Bring the batch's input images from DRAM into the global buffer."""
        first = self.workload.layers[0].name
        size = nbytes(self.batch * math.prod(self.workload.input_shape), self.act_bits)
        yield from self.chip.dram.transfer(first, size)
        yield from self.chip.global_buffer.access(first, size, "write")
        self.done[INPUT].succeed()

    # -- programming ------------------------------------------------------------------------

    def program_round(self, rnd: Round) -> Proc:
        """Fetch and write-verify every block of a round."""
        with self.chip.activity.busy("program"):
            yield self.all_of(self.program_part(p) for p in rnd.parts)

    def program_part(self, part: Part) -> Proc:
        """Program one layer's blocks of a round and record the span."""
        name = part.lmap.name
        t0 = int(self.env.now)
        rows, cols = part.blocks["rows_used"], part.blocks["cols_used"]
        levels = part.blocks.get("level_counts")
        yield self.all_of(
            self.program_block(name, int(s), int(r), int(c),
                               None if levels is None else levels[k, :r])
            for k, (s, r, c) in enumerate(zip(part.slots, rows, cols))
        )
        self.program_spans[name].append((t0, int(self.env.now)))

    def program_block(self, layer: str, slot: int, rows_used: int, cols_used: int,
                      level_counts: np.ndarray | None = None) -> Proc:
        """DRAM -> NoC -> tile buffer -> write-verify controller, for one block."""
        tile = self.chip.tile_of(slot)
        size = nbytes(rows_used * cols_used, self.enc.cell_bits)
        yield from self.chip.dram.transfer(layer, size)
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.tile_ports[tile].access(layer, size, "write")
        yield from self.chip.writers[tile].program(layer, rows_used, cols_used, level_counts)

    # -- MVM layers -------------------------------------------------------------------------

    def run_part(self, part: Part) -> Proc:
        """Compute one layer's blocks of a round over the whole batch."""
        layer = self.workload.layers[part.lmap.index]
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        self.start.setdefault(layer.name, int(self.env.now))
        self.rounds_of[layer.name] += 1
        with self.chip.activity.busy("compute"):
            yield self.all_of(self.distribute_inputs(layer, part))
            yield self.all_of(self.run_block(layer, part, k) for k in range(part.size))
            if part.last:
                yield from self.reduce(layer, part)
                yield from self.store_output(layer)
        if part.last:
            self.finish(layer.name)

    def distribute_inputs(self, layer: Layer, part: Part) -> Iterable[Proc]:
        """One transfer per (tile, group, row block): the input channels those rows read."""
        _, h, w = self.workload.input_shape_of(layer.name)
        spatial, window = (1, 1) if layer.type is LayerType.LINEAR else (
            h * w, layer.kernel[0] * layer.kernel[1])
        needed: dict[int, float] = {}
        seen: set[tuple[int, int, int]] = set()
        b = part.blocks
        for k in range(part.size):
            tile = self.chip.tile_of(int(part.slots[k]))
            key = (tile, int(b["group"][k]), int(b["row_block"][k]))
            if key not in seen:
                seen.add(key)
                rows = int(b["rows_used"][k])
                needed[tile] = needed.get(tile, 0.0) + self.batch * spatial * rows / window
        for tile, elements in sorted(needed.items()):
            yield self.send_to_tile(layer.name, tile, nbytes(elements, self.act_bits))

    def send_to_tile(self, layer: str, tile: int, size: int) -> Proc:
        """Global buffer -> NoC -> tile buffer."""
        yield from self.chip.global_buffer.access(layer, size, "read")
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.tile_ports[tile].access(layer, size, "write")

    def run_block(self, layer: Layer, part: Part, k: int) -> Proc:
        """Stream N * P vectors through one block, in work items (or one item per vector)."""
        vectors = self.batch * part.lmap.P
        items = [1] * vectors if self.per_vector_events else [vectors]
        for i, n in enumerate(items):
            yield self.all_of(self.block_stages(layer, part, k, n, first=i == 0))

    def block_stages(self, layer: Layer, part: Part, k: int, n: int, first: bool) -> list[Proc]:
        """The pipelined stages of ``n`` vectors on block ``k`` of a part."""
        slot = int(part.slots[k])
        tile = self.chip.tile_of(slot)
        rows, cols = int(part.blocks["rows_used"][k]), int(part.blocks["cols_used"][k])
        reads = n * self.enc.t
        out_bits = self.psum_bits if part.lmap.row_blocks > 1 else self.act_bits
        out_size = nbytes(n * cols / self.enc.columns_per_weight, out_bits)
        port = self.chip.tile_ports[tile]
        return [
            port.access(layer.name, nbytes(n * rows, self.act_bits), "read"),
            self.chip.xbars[slot].compute(layer.name, reads, rows, cols, first),
            self.chip.shift_add[tile].run(layer.name, reads * cols),
            self.drain(layer.name, tile, out_size),
        ]

    def drain(self, layer: str, tile: int, size: int) -> Proc:
        """Tile buffer (write, then read) -> NoC -> global buffer."""
        port = self.chip.tile_ports[tile]
        yield from port.access(layer, size, "write")
        yield from port.access(layer, size, "read")
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.global_buffer.access(layer, size, "write")

    def reduce(self, layer: Layer, part: Part) -> Proc:
        """Sum the partial sums of a layer's row blocks into its output activations."""
        m = part.lmap
        if m.row_blocks == 1:
            return
        outputs = self.batch * m.P * m.G * m.O
        yield from self.chip.global_buffer.access(
            layer.name, nbytes(outputs * m.row_blocks, self.psum_bits), "read")
        yield from self.chip.vector_unit.run(layer.name, outputs * (m.row_blocks - 1))
        yield from self.chip.global_buffer.access(
            layer.name, nbytes(outputs, self.act_bits), "write")

    # -- digital layers and activations -----------------------------------------------------

    def run_digital_layer(self, layer: Layer) -> Proc:
        """Pool, add, concat or flatten on the vector unit beside the global buffer."""
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        self.start[layer.name] = int(self.env.now)
        if layer.type is not LayerType.FLATTEN:  # flatten is a view: no data moves
            with self.chip.activity.busy("compute"):
                in_elems = sum(math.prod(s) for s in self.workload.input_shapes(layer.name))
                out_elems = math.prod(self.workload.output_shape(layer.name))
                ops = out_elems * self._ops_per_output(layer)
                gb = self.chip.global_buffer
                yield from gb.access(layer.name, nbytes(self.batch * in_elems, self.act_bits),
                                     "read")
                yield from self.chip.vector_unit.run(layer.name, self.batch * ops)
                yield from gb.access(layer.name, nbytes(self.batch * out_elems, self.act_bits),
                                     "write")
                yield from self.store_output(layer)
        self.finish(layer.name)

    @staticmethod
    def _ops_per_output(layer: Layer) -> int:
        if layer.type is LayerType.POOL:
            return layer.kernel[0] * layer.kernel[1]  # compare or add per window element
        if layer.type is LayerType.ADD:
            return len(layer.inputs) - 1
        return 0  # concat: placement only

    def store_output(self, layer: Layer) -> Proc:
        """Network outputs go to DRAM; activations too large for the global buffer spill."""
        size = nbytes(self.batch * math.prod(self.workload.output_shape(layer.name)),
                      self.act_bits)
        if not self.workload.consumers(layer.name):
            yield from self.chip.dram.transfer(layer.name, size)
        elif size > self.chip.global_buffer_bytes // 2:
            yield from self.chip.dram.transfer(layer.name, size)  # write out
            yield from self.chip.dram.transfer(layer.name, size)  # read back for consumers

    def finish(self, name: str) -> None:
        """Mark a layer complete."""
        self.end[name] = int(self.env.now)
        self.done[name].succeed()
