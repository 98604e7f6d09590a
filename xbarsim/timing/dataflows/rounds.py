"""Static and reprogram dataflows: the network's blocks packed into rounds of crossbars.

Each round is fetched from DRAM, write-verified by the tiles' controllers, then computed for
the whole batch. With ``resident`` (the network fits: static, or reprogram on a large chip) the
rounds are written once as setup and never during the run; with ``overlap`` round r + 1 is
written while round r computes (on the other half of the chip, see ``plan.plan_rounds``).
A part (one layer's blocks of a round) (1) sends each tile the input channels its row blocks
need, (2) streams the batch's N * P vectors through each block as a pipeline of tile-buffer
reads, crossbar reads, shift-and-add and drain, and (3) in the layer's last part reduces the
partial sums of row blocks on the vector unit.
"""

from __future__ import annotations

from collections.abc import Iterable

from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.engine import Engine, Proc
from xbarsim.timing.dataflows.plan import Part, Round
from xbarsim.timing.hw.chip import Chip
from xbarsim.util import nbytes
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import Layer, LayerType


class RoundsDataflow(Engine):
    """Weights on the crossbars, written round by round (or once, when resident)."""

    def __init__(self, chip: Chip, workload: Workload, enc: Encoding, batch: int,
                 per_vector_events: bool, rounds: list[Round], *, resident: bool,
                 overlap: bool) -> None:
        super().__init__(chip, workload, enc, batch, per_vector_events)
        self.rounds, self.resident, self.overlap = rounds, resident, overlap

    def setup(self) -> Proc:
        """Write every round once, one after another."""
        for rnd in self.rounds:
            yield from self.program_round(rnd)

    def schedule(self) -> Proc:
        """Program and compute the rounds; round r is written once round r - lag has computed."""
        rounds, lag = self.rounds, 2 if self.overlap else 1
        computed = [self.env.event() for _ in rounds]
        programmed = [self.env.event() for _ in rounds]

        def programmer() -> Proc:
            for r in rounds:
                if not self.resident:
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
