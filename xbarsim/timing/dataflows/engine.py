"""The mechanism every dataflow shares, on one chip: the batch's input load, layers in
dependency order (a layer starts when all its inputs are complete), pool/add/concat layers, one
block's write (DRAM -> NoC -> tile buffer -> write-verify controller), transfers to and from
tiles, and output storage (network outputs to DRAM). Where activations live between layers and
how they move, in the global buffer or in the tiles, is the chip's activation memory
(``activations.py``).

Weights are written tile by tile: a tile's blocks of a round are fetched per layer and written
by the tile's controllers as one batch (``program_tiles``).

A dataflow is a subclass with explicit inputs in its constructor: ``schedule()`` runs its MVM
layers during the batch, ``setup()`` writes what stays resident for the whole run
(``rounds.RoundsDataflow`` for static and reprogram, ``basis.BasisDataflow``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterable
from typing import Any

import simpy

from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.activations import memory_for
from xbarsim.timing.dataflows.spans import Span
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.write_verify import BlockWrite
from xbarsim.util import nbytes
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import INPUT, Layer, LayerType

Proc = Generator[Any, Any, None]


class Engine:
    """The mechanism every dataflow shares: inputs, digital layers, block writes, transfers and
    output storage on one chip. A dataflow subclass supplies ``schedule`` and ``setup``."""

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
        self.copies: dict[str, int] = {}
        """Copies of each replicated MVM layer (absent: one)."""
        self.slot_writes: dict[int, int] = {}
        """Times each crossbar slot was written by this engine (for wear: ``lifetime_h``)."""
        self.memory = memory_for(self)
        """Where activations live between layers: the global buffer or the tile buffers."""

    def _names(self) -> list[str]:
        return [layer.name for layer in self.workload.layers]

    def all_of(self, procs: Iterable[Proc | simpy.Event]) -> simpy.events.AllOf:
        """Start processes and wait for all of them (and for any events among them)."""
        return self.env.all_of([p if isinstance(p, simpy.Event) else self.env.process(p)
                                for p in procs])

    # -- whole run ---------------------------------------------------------------------------

    def run(self) -> int:
        """Simulate the batch; return its cycles."""
        self.env.process(self.load_input())
        for layer in self.workload.layers:
            if not layer.is_mvm:
                self.env.process(self.run_digital_layer(layer))
        self.env.process(self.schedule())
        self.env.run()
        missing = [n for n, ev in self.done.items() if not ev.triggered]
        if missing:
            raise RuntimeError(f"simulation ended with layers not run: {missing[:5]}")
        return int(self.env.now)

    def image_done_cycles(self, cycles: int) -> list[int]:
        """Cycle at which each image's last output is stored: here the whole batch moves layer
        by layer, so every image is done when the batch is."""
        return [cycles] * self.batch

    def schedule(self) -> Proc:
        """The dataflow's MVM layers: programming (if any) and computation, as one process."""
        raise NotImplementedError

    def setup(self) -> Proc:
        """Write the weights that stay resident for the whole run, once (the setup cost)."""
        raise NotImplementedError

    def load_input(self) -> Proc:
        """Bring the batch's input images on chip (or leave them in DRAM for the tiles)."""
        yield from self.memory.load_input()
        self.done[INPUT].succeed()

    def output_bytes(self, name: str) -> int:
        """Bytes of a layer's output for the whole batch."""
        return nbytes(self.batch * math.prod(self.workload.output_shape(name)), self.act_bits)

    # -- programming ------------------------------------------------------------------------

    def program_tiles(self, blocks: Iterable[tuple[int, BlockWrite]],
                      gate: Callable[[int], simpy.Event | None] | None = None,
                      written: dict[int, simpy.Event] | None = None) -> Proc:
        """Write blocks given as (slot, block), tile by tile (each tile's after its ``gate``
        event, if any, succeeding ``written[tile]`` when done); record each layer's span in
        ``program_spans``."""
        by_tile: dict[int, list[BlockWrite]] = {}
        per_tile, writes = self.chip.crossbars_per_tile, self.slot_writes
        for slot, block in blocks:
            by_tile.setdefault(slot // per_tile, []).append(block)  # ``Chip.tile_of``
            writes[slot] = writes.get(slot, 0) + 1
        spans: dict[str, list[int]] = {}

        def tile_batch(tile: int, batch: list[BlockWrite]) -> Proc:
            event = gate(tile) if gate is not None else None
            if event is not None:
                yield event
            with self.chip.activity.busy("program"):
                yield from self.program_tile(tile, batch, spans)
            if written is not None:
                written[tile].succeed()

        yield self.all_of(tile_batch(t, b) for t, b in by_tile.items())
        for layer, (t0, t1) in spans.items():
            self.program_spans.setdefault(layer, []).append((t0, t1))

    def program_tile(self, tile: int, blocks: list[BlockWrite],
                     spans: dict[str, list[int]]) -> Proc:
        """A tile's blocks of one round as one batch: each layer's cells from DRAM over the NoC
        into the tile buffer, then the tile's controllers write the blocks in order. Widens
        ``spans[layer]`` to cover the batch's start and each layer's last block."""
        t0 = int(self.env.now)
        sizes: dict[str, int] = {}
        bits = self.enc.cell_bits
        for b in blocks:
            sizes[b.layer] = sizes.get(b.layer, 0) + nbytes(b.rows * b.cols, bits)
        for layer, size in sizes.items():
            yield from self.memory.to_tile(layer, tile, size, resident=False)
            yield from self.chip.tile_ports[tile].access(layer, size, "write")
        writer = self.chip.writers[tile]
        if writer.per_row_events:  # --granularity row: one event per written row group
            finish = [0] * len(blocks)

            def one(i: int, b: BlockWrite) -> Proc:
                yield from writer.program(b.layer, b.rows, b.cols, b.levels)
                finish[i] = int(self.env.now)

            yield self.all_of(one(i, b) for i, b in enumerate(blocks))
        else:
            finish = yield from writer.program_blocks(blocks)
        for b, end in zip(blocks, finish):
            span = spans.setdefault(b.layer, [t0, end])
            span[0], span[1] = min(span[0], t0), max(span[1], end)

    # -- MVM layers -------------------------------------------------------------------------

    def send_to_tile(self, layer: str, tile: int, size: int, span: Span | None = None) -> Proc:
        """``size`` bytes of the layer's inputs (``span`` of them) into a tile's buffer."""
        yield from self.memory.fetch(layer, tile, size, span or Span.whole())

    def drain(self, layer: str, tile: int, size: int, span: Span | None = None) -> Proc:
        """``size`` bytes of the layer's output (``span`` of it) made by a tile, out of its
        shift-and-add units into the activation memory."""
        yield from self.memory.keep(layer, tile, size, span or Span.whole())

    # -- digital layers and activations -----------------------------------------------------

    def run_digital_layer(self, layer: Layer) -> Proc:
        """Pool, add or concat (on the vector unit, or in the tiles holding its first input);
        a flatten is a view of its input (no data moves)."""
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        self.start[layer.name] = int(self.env.now)
        if layer.type is LayerType.FLATTEN:
            self.memory.view(layer)
        else:
            with self.chip.activity.busy("compute"):
                in_elems = sum(math.prod(s) for s in self.workload.input_shapes(layer.name))
                out_elems = math.prod(self.workload.output_shape(layer.name))
                ops = out_elems * self._ops_per_output(layer)
                yield from self.memory.digital_layer(
                    layer, self.batch * ops, nbytes(self.batch * in_elems, self.act_bits),
                    nbytes(self.batch * out_elems, self.act_bits))
        self.finish(layer.name)

    @staticmethod
    def _ops_per_output(layer: Layer) -> int:
        if layer.type is LayerType.POOL:
            return layer.kernel[0] * layer.kernel[1]  # compare or add per window element
        if layer.type is LayerType.ADD:
            return len(layer.inputs) - 1
        return 0  # concat: placement only

    def store_output(self, layer: Layer) -> Proc:
        """Network outputs go to DRAM; other activations stay in the activation memory (or
        spill to DRAM when it is full)."""
        yield from self.memory.store(layer)

    def finish(self, name: str) -> None:
        """Mark a layer complete."""
        self.end[name] = int(self.env.now)
        self.done[name].succeed()
