"""The reprogram dataflow (and the static setup): the network's blocks packed into rounds.

Each round is fetched from DRAM, write-verified by the tiles' controllers, then computed for
the whole batch. With ``resident`` (the one-time write of the static dataflow, and of reprogram
on a chip that holds the network; both then run on ``pipeline.PipelineDataflow``) the rounds are
written once as setup. Without ``overlap`` round r + 1 is
written once all of round r has computed; with it, each tile writes its blocks of round r + 1 as
soon as its own blocks of round r have computed.
A part (one layer's blocks of a round) (1) sends each tile the input channels its row blocks
need, (2) streams the batch's N * P vectors through each block as a pipeline of tile-buffer
reads, crossbar reads, shift-and-add and drain, and (3) in the layer's last part reduces the
partial sums of row blocks (on the vector unit beside the global buffer, or at each column
block's home tile: ``tile_memory.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import simpy

from xbarsim.config.schema import Arch
from xbarsim.mapping.blocks import LayerMap
from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.engine import Engine, Proc
from xbarsim.timing.dataflows.plan import Part, Round
from xbarsim.timing.dataflows.spans import CHANNELS, Span
from xbarsim.timing.dataflows.tile_memory import TileMemory
from xbarsim.timing.hw.block_bookings import BlockBookings, book_blocks
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.clock import until
from xbarsim.timing.hw.write_verify import BlockWrite
from xbarsim.util import ceil_div, nbytes
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import Layer, LayerType

Key = tuple[int, int]
"""A column block of a layer: (group, column block)."""

ROW_EVENTS_PER_STEP = 64
"""Written row groups that cost one block step at row granularity (a row group is one SimPy
timeout; measured: VGG-16 ImageNet's 8.65 M row groups add 10.3 s to a 6.6 s run of 67,576
blocks, so a row group costs about 1/80 of a block step)."""


def rounds_steps(arch: Arch, maps: list[LayerMap], batch: int, per_vector: bool,
                 per_row: bool) -> int:
    """Simulation steps of a reprogram run, in block steps: a write and a compute step per
    block, or a compute step per (block, input vector) at vector granularity; at row
    granularity also every written row group (an upper bound: every block counted full), at
    ``ROW_EVENTS_PER_STEP`` a step. Measured on the development machine: ResNet-18 CIFAR-100
    at 64 crossbars, 284,700 block-vector steps, takes 16.6 s; about 17,000 steps a second."""
    blocks = sum(m.mapped_blocks for m in maps)
    steps = sum(m.mapped_blocks * batch * m.P for m in maps) if per_vector else blocks
    if per_row:
        wv, xb = arch.write_verify, arch.crossbar
        row_groups = blocks * ceil_div(xb.rows, wv.rows_parallel) * ceil_div(
            xb.cols, wv.cells_per_row_parallel)
        steps += ceil_div(row_groups, ROW_EVENTS_PER_STEP)
    return steps


AGGREGATE = True
"""Simulate a part's blocks in one process when the memory books their partial sums (exact:
the same bookings in the same order as a process per block); False runs a process per block
(the equivalence test)."""


BOOKED_TOGETHER = 16
"""Blocks from which a part is booked by one compiled call (``block_bookings``) once the mesh
books with compiled code; a smaller part's arrays cost about what its Python bookings do
(reprogram b64 on 16 crossbars, warm, fastest of 4: VGG-16 ImageNet, 16-block parts, 3.95 s
in Python, 3.87 s compiled; ResNet-50 ImageNet 0.77 and 0.73 s)."""


@dataclass(frozen=True)
class BlockRows:
    """A part's block records, one list entry per block."""

    slots: list[int]
    tiles: list[int]
    rows: list[int]
    cols: list[int]
    groups: list[int]
    row_blocks: list[int]
    col_blocks: list[int]
    fills: list[bool]
    """Whether the block is the first of its IMA to read its input segment."""


class RoundsDataflow(Engine):
    """Weights on the crossbars, written round by round (or once, when resident)."""

    def __init__(self, chip: Chip, workload: Workload, enc: Encoding, batch: int,
                 per_vector_events: bool, rounds: list[Round], *, resident: bool,
                 overlap: bool) -> None:
        super().__init__(chip, workload, enc, batch, per_vector_events)
        self.rounds, self.resident, self.overlap = rounds, resident, overlap
        self._first_sums: dict[int, list[bool]] = {}
        """Per part (by id): whether each block starts its column block's sum."""
        self._rows: dict[int, BlockRows] = {}
        """Per part (by id): its block records as lists (``_block_rows``)."""
        self._placements: dict[bytes, tuple[list[int], list[int], list[int]]] = {}
        """``_placed`` by the bytes of the slots."""
        self._work: dict[tuple[object, ...], BlockBookings] = {}
        """``_block_work`` by vectors and part shape."""
        self._block_costs: dict[tuple[tuple[int, ...], ...], np.ndarray] = {}
        """``book_blocks``'s cycles by sequence of block shapes."""
        self._blocks_seen: dict[str, dict[Key, int]] = {}
        """Per layer: blocks of each column block computed so far (parts begun)."""
        self._blocks_per_key: dict[str, dict[Key, int]] = {}
        """Per layer: blocks of each column block (group, column block) in the whole run."""
        for rnd in rounds:
            for p in rnd.parts:
                counts = self._blocks_per_key.setdefault(p.lmap.name, {})
                for key in zip(p.blocks["group"].tolist(), p.blocks["col_block"].tolist()):
                    counts[key] = counts.get(key, 0) + 1
        self._homes: dict[str, dict[Key, tuple[int, Span]]] = {}
        """Per layer with row blocks: (group, column block) -> (home tile, output span)."""

    def setup(self) -> Proc:
        """Write every round once, one after another."""
        for rnd in self.rounds:
            yield from self.program_round(rnd)

    def schedule(self) -> Proc:
        """Program and compute the rounds: chip-wide, round r is written once round r - 1 has
        computed; with ``overlap``, tile by tile (``_schedule_per_tile``)."""
        if self.overlap and not self.resident:
            yield from self._schedule_per_tile()
            return
        rounds = self.rounds
        computed = [self.env.event() for _ in rounds]
        programmed = [self.env.event() for _ in rounds]

        def programmer() -> Proc:
            for r in rounds:
                if not self.resident:
                    if r.index >= 1:
                        yield computed[r.index - 1]
                    yield from self.program_round(r)
                programmed[r.index].succeed()

        def computer() -> Proc:
            for r in rounds:
                yield programmed[r.index]
                yield self.all_of(self.run_part(p) for p in r.parts)
                computed[r.index].succeed()

        yield self.all_of([programmer(), computer()])

    def _schedule_per_tile(self) -> Proc:
        """Reprogram with per-tile overlap: a tile writes its blocks of round r as soon as its
        own blocks of round r - 1 have computed (no chip-wide barrier), and a part computes as
        soon as its blocks are written, its inputs are complete and the layer's previous part
        has finished (the partial sums of a layer's parts meet in order)."""
        left: list[dict[int, int]] = []
        freed: list[dict[int, simpy.Event]] = []
        for r in self.rounds:
            count: dict[int, int] = {}
            for p in r.parts:
                for s in p.slots:
                    tile = self.chip.tile_of(int(s))
                    count[tile] = count.get(tile, 0) + 1
            left.append(count)
            freed.append({tile: self.env.event() for tile in count})
        # a tile's blocks of round r wait for the last earlier round that used the tile
        gates: list[dict[int, simpy.Event]] = []
        latest: dict[int, simpy.Event] = {}
        for r in self.rounds:
            gates.append(dict(latest))
            latest.update(freed[r.index])
        previous_part: dict[str, simpy.Event] = {}

        def block_done(r: int, tile: int) -> None:
            left[r][tile] -= 1
            if left[r][tile] == 0:
                freed[r][tile].succeed()

        written = [{tile: self.env.event() for tile in count} for count in left]
        for r in self.rounds:
            self.env.process(self.program_round(r, gates[r.index].get, written[r.index]))

        def run(r: int, part: Part, after: simpy.Event | None) -> Proc:
            tiles = {self.chip.tile_of(int(s)) for s in part.slots}
            yield self.env.all_of([written[r][t] for t in tiles])
            if after is not None:
                yield after
            yield from self.run_part(part, on_block=lambda tile: block_done(r, tile))

        procs = []
        for r in self.rounds:
            for part in r.parts:
                name = part.lmap.name
                proc = self.env.process(run(r.index, part, previous_part.get(name)))
                previous_part[name] = proc
                procs.append(proc)
        yield self.env.all_of(procs)

    def program_round(self, rnd: Round,
                      gate: Callable[[int], simpy.Event | None] | None = None,
                      written: dict[int, simpy.Event] | None = None) -> Proc:
        """Fetch and write-verify every block of a round, tile by tile (``program_tiles``)."""
        yield from self.program_tiles(
            ((s, BlockWrite(p.lmap.name, r, c, None if p.blocks.get("level_counts") is None
                            else p.blocks["level_counts"][k, :r]))
             for p in rnd.parts
             for k, (s, r, c) in enumerate(zip(p.slots.tolist(), p.blocks["rows_used"].tolist(),
                                               p.blocks["cols_used"].tolist()))),
            gate, written)

    def run_part(self, part: Part, on_block: Callable[[int], None] | None = None) -> Proc:
        """Compute one layer's blocks of a round over the whole batch (``on_block(tile)`` is
        called as each block finishes)."""
        layer = self.workload.layers[part.lmap.index]
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        self.start.setdefault(layer.name, int(self.env.now))
        self.rounds_of[layer.name] += 1
        with self.chip.activity.busy("compute"):
            yield from self.distribute_inputs(layer, part)
            resumed, pending = self._partial_sum_sets(part)
            yield from self.memory.resume_sums(layer.name, resumed)
            if AGGREGATE and isinstance(self.memory, TileMemory) and part.lmap.row_blocks > 1 \
                    and not self.per_vector_events:
                yield from self._booked_blocks(layer, part, on_block)
            else:
                yield self.all_of(self._block_then(layer, part, k, on_block)
                                  for k in range(part.size))
            yield from self.memory.hold_sums(layer.name, pending)
            if part.last:
                yield from self.reduce(layer, part)
                yield from self.store_output(layer)
        if part.last:
            self.finish(layer.name)

    def distribute_inputs(self, layer: Layer, part: Part) -> Proc:
        """Each tile of the part gets, once per (group, row block) of its blocks, the input
        channels those rows read (``span``: the rows among the layer's G * K), the tiles side
        by side (``fetch_parts``)."""
        _, h, w = self.workload.input_shape_of(layer.name)
        spatial, window = (1, 1) if layer.type is LayerType.LINEAR else (
            h * w, layer.kernel[0] * layer.kernel[1])
        m, b = part.lmap, self._block_rows(part)
        needed: dict[int, list[tuple[Span, float]]] = {}
        seen: set[tuple[int, int, int]] = set()
        for tile, g, r, rows in zip(b.tiles, b.groups, b.row_blocks, b.rows):
            if (tile, g, r) not in seen:
                seen.add((tile, g, r))
                start = g * m.K + r * self.enc.rows
                needed.setdefault(tile, []).append(
                    (Span(start, start + rows, m.G * m.K, CHANNELS),
                     self.batch * spatial * rows / window))
        yield from self.memory.fetch_parts(layer.name, needed, self.act_bits)

    def _block_then(self, layer: Layer, part: Part, k: int,
                    on_block: Callable[[int], None] | None) -> Proc:
        yield from self.run_block(layer, part, k)
        if on_block is not None:
            on_block(self.chip.tile_of(int(part.slots[k])))

    def run_block(self, layer: Layer, part: Part, k: int) -> Proc:
        """Stream N * P vectors through one block, in work items (or one item per vector)."""
        vectors = self.batch * part.lmap.P
        items = [1] * vectors if self.per_vector_events else [vectors]
        for i, n in enumerate(items):
            yield from self.block_stages(layer, part, k, n, first=i == 0)

    def block_stages(self, layer: Layer, part: Part, k: int, n: int, first: bool) -> Proc:
        """The pipelined stages of ``n`` vectors on block ``k`` of a part, side by side
        (``_book_block``); the item ends when the last stage does."""
        end, then = self._book_block(layer, part, k, n, first)
        if isinstance(then, int):
            end = max(end, then)
        else:
            yield from then
        yield from until(self.env, end)

    def _booked_blocks(self, layer: Layer, part: Part,
                       on_block: Callable[[int], None] | None) -> Proc:
        """All blocks of a part whose partial sums the memory books (``TileMemory``), in one
        process: each block's stages booked now, in block order, as a process per block would
        book them as it starts (a part of ``BOOKED_TOGETHER`` blocks or more in one compiled
        call once the mesh books with compiled code); a tile's blocks finish with the last of
        them."""
        n = self.batch * part.lmap.P
        tiles = self._block_rows(part).tiles
        if self.chip.mesh.windows.compiled and part.size >= BOOKED_TOGETHER:
            assert isinstance(self.memory, TileMemory)
            blocks = self._block_bookings(layer, part, n)
            ends = book_blocks(self.chip, layer.name, blocks, int(self.env.now),
                               self._block_costs).tolist()
            self.memory.sums_added(layer.name, int(blocks.adds.sum()))
        else:
            ends = []
            for k in range(part.size):
                end, sums = self._book_block(layer, part, k, n, first=True)
                assert isinstance(sums, int)
                ends.append(max(end, sums))
        last: dict[int, list[int]] = {}
        for tile, end in zip(tiles, ends):
            last.setdefault(tile, []).append(end)
        for tile, ends in sorted(last.items(), key=lambda item: (max(item[1]), item[0])):
            yield from until(self.env, max(ends))
            if on_block is not None:
                for _ in ends:
                    on_block(tile)

    def _book_block(self, layer: Layer, part: Part, k: int, n: int,
                    first: bool) -> tuple[int, int | Proc]:
        """Book the stages of ``n`` vectors on block ``k`` now: the buffer read of the inputs
        (from the IMA's input register, filled by the IMA's first block of that row block),
        the crossbar reads and the shift-and-adds. Return their end and what follows: the
        cycle the partial sums are added at their column block's home, when the memory books
        them, or else the process that sends them there or drains the outputs."""
        b = self._block_rows(part)
        slot, tile, rows, cols = b.slots[k], b.tiles[k], b.rows[k], b.cols[k]
        in_rows = rows if b.fills[k] else 0
        reads = n * self.enc.t
        m = part.lmap
        end = max(
            self.chip.tile_ports[tile].book(layer.name, nbytes(n * in_rows, self.act_bits),
                                            "read"),
            self.chip.xbars[slot].book(layer.name, reads, reads * rows, reads * cols, first),
            self.chip.shift_add[tile].book(layer.name, reads * cols))
        g, c = b.groups[k], b.col_blocks[k]
        outputs = n * cols / self.enc.columns_per_weight
        if m.row_blocks > 1:
            home = self._homes[layer.name][g, c][0]
            adds = 0 if self._first_sums[id(part)][k] else n * cols // self.enc.columns_per_weight
            return end, self.memory.partial_sums(
                layer.name, tile, nbytes(outputs, self.psum_bits), (g, c), home, adds=adds)
        start = g * m.O * self.enc.columns_per_weight + c * self.enc.cols
        span = Span(start, start + cols, m.G * m.O * self.enc.columns_per_weight, CHANNELS)
        return end, self.drain(layer.name, tile, nbytes(outputs, self.act_bits), span)

    def _block_bookings(self, layer: Layer, part: Part, n: int) -> BlockBookings:
        """What ``_book_block`` books for each block of a part with row blocks, as arrays
        (``book_blocks`` books them in one call)."""
        listed = self._block_rows(part)
        work = self._block_work(n, listed)
        homes = self._homes[layer.name]
        return replace(
            work, slots=part.slots.astype(np.int64), tiles=np.array(listed.tiles, dtype=np.int64),
            homes=np.array([homes[key][0] for key in zip(listed.groups, listed.col_blocks)],
                           dtype=np.int64),
            adds=np.where(self._first_sums[id(part)], 0, work.adds))

    def _block_work(self, n: int, listed: BlockRows) -> BlockBookings:
        """The work of ``n`` vectors on each block of a part, kept per shape of the part (a
        layer's rounds mostly repeat theirs): its placement (slots, tiles, homes) left empty
        and its adds as if no block started its sum (``_block_bookings`` fills both in; the
        arrays are read, not changed)."""
        key = (n, tuple(listed.rows), tuple(listed.cols), tuple(listed.fills))
        work = self._work.get(key)
        if work is None:
            enc, none = self.enc, np.zeros(0, dtype=np.int64)
            rows, cols = np.array(listed.rows, dtype=np.int64), np.array(listed.cols,
                                                                         dtype=np.int64)
            reads = n * enc.t
            work = self._work[key] = BlockBookings(
                slots=none, tiles=none, homes=none,
                in_bytes=np.array([nbytes(n * r, self.act_bits) if fills else 0
                                   for r, fills in zip(listed.rows, listed.fills)],
                                  dtype=np.int64),
                reads=np.full(len(rows), reads, dtype=np.int64),
                dac=reads * rows, conversions=reads * cols,
                sum_bytes=np.array([nbytes(n * c / enc.columns_per_weight, self.psum_bits)
                                    for c in listed.cols], dtype=np.int64),
                adds=n * cols // enc.columns_per_weight)
        return work

    def _block_rows(self, part: Part) -> BlockRows:
        """The part's block records as Python lists, once per part (``_book_block`` reads them
        block by block)."""
        rows = self._rows.get(id(part))
        if rows is None:
            b = part.blocks
            groups, row_blocks = b["group"].tolist(), b["row_block"].tolist()
            slots, tiles, imas = self._placed(part.slots)
            rows = self._rows[id(part)] = BlockRows(
                slots=slots, tiles=tiles, rows=b["rows_used"].tolist(),
                cols=b["cols_used"].tolist(), groups=groups, row_blocks=row_blocks,
                col_blocks=b["col_block"].tolist(),
                fills=_first_readers(imas, groups, row_blocks))
        return rows

    def _placed(self, slots: np.ndarray) -> tuple[list[int], list[int], list[int]]:
        """``slots`` and the tile and IMA of each, as lists (kept: on a small chip every
        round fills the same crossbars)."""
        key = slots.tobytes()
        placed = self._placements.get(key)
        if placed is None:
            placed = self._placements[key] = (
                slots.tolist(), (slots // self.chip.crossbars_per_tile).tolist(),
                self.chip.ima_of(slots).tolist())
        return placed

    def _partial_sum_sets(self, part: Part) -> tuple[dict[Key, tuple[int, int]],
                                                      dict[Key, tuple[int, int]]]:
        """Before a part of a layer with row blocks computes: which of its blocks starts its
        column block's sum (the first of that column block in the run: ``_first_sums``); the
        column blocks whose sums earlier parts left at their homes (resumed now), and those
        this part leaves unfinished (held until a later part): each ``key -> (home, bytes)``,
        ``bytes`` the column block's sums for the batch at ``psum_bits``."""
        m = part.lmap
        if m.row_blocks == 1:
            return {}, {}
        name = m.name
        seen = self._blocks_seen.setdefault(name, {})
        homes = self._homes.setdefault(name, {})
        rows = self._block_rows(part)
        resumed: dict[Key, int] = {}  # key -> home
        first = [False] * part.size
        sizes: dict[Key, int] = {}
        cpw = self.enc.columns_per_weight
        outputs = m.G * m.O * cpw  # the layer's output columns
        vectors = self.batch * m.P
        size_of: dict[int, int] = {}  # by the block's columns
        for k, (key, tile, cols) in enumerate(zip(zip(rows.groups, rows.col_blocks),
                                                  rows.tiles, rows.cols)):
            count = seen.get(key)
            if count is None:
                first[k] = True
                count = 0
                start = key[0] * m.O * cpw + key[1] * self.enc.cols
                homes.setdefault(key, (tile, Span(start, start + cols, outputs, CHANNELS)))
            elif count and key not in resumed and key not in sizes:
                resumed[key] = homes[key][0]
            seen[key] = count + 1
            size = size_of.get(cols)
            if size is None:
                size = size_of[cols] = nbytes(vectors * cols / cpw, self.psum_bits)
            sizes[key] = size
        self._first_sums[id(part)] = first
        per_key = self._blocks_per_key[name]
        pending = {key: (homes[key][0], size) for key, size in sizes.items()
                   if seen[key] < per_key[key]}
        return {key: (home, sizes[key]) for key, home in resumed.items()}, pending

    def reduce(self, layer: Layer, part: Part) -> Proc:
        """Sum the partial sums of a layer's row blocks into its output activations (each column
        block at its home, the tile of its first block computed, without a global buffer)."""
        m = part.lmap
        if m.row_blocks == 1:
            return
        outputs = self.batch * m.P * m.G * m.O
        yield from self.memory.reduce(layer.name, outputs, m.row_blocks,
                                      self._homes.pop(layer.name, {}))


def _first_readers(imas: list[int], groups: list[int], row_blocks: list[int]) -> list[bool]:
    """Per block: whether it is the first of its IMA to read its input segment (group, row
    block), which the IMA's other crossbars then share (a loop: parts are mostly a few dozen
    blocks, where NumPy's unique costs more)."""
    seen: set[tuple[int, int, int]] = set()
    first = []
    for key in zip(imas, groups, row_blocks):
        first.append(key not in seen)
        seen.add(key)
    return first
