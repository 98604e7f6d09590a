"""Static dataflow as ISAAC runs it: resident (replicated) layers form a pipeline over the tiles.

Every MVM layer keeps its blocks (and any copies, ``mapping.replication``) on its own crossbars;
activations live in the tile buffers and move tile to tile over the mesh (``hw.mesh``); no global
buffer is involved. Each layer processes its output rows in order, image after image, in chunks
of rows, and its rows follow its inputs' rows (the line-buffer rule, docs/design.md section 6):
output rows [r0, r1) of a conv or pool layer with kernel kh, stride sh and padding ph need input
rows [0, min(H_in, (r1 - 1) * sh - ph + kh)); an add or concat needs rows [0, r1) of every input;
a linear or flatten layer needs its whole input. A chunk starts once the layer has finished its
previous chunk and the input rows its first row needs have arrived, and ends no earlier than its
own work and than one row's time after the input rows its last row needs have arrived; rows
arrive at an even pace over their chunk's compute time. A chunk's outputs stream to their
consumers while it computes (the last vector's share leaves when it is done). So consecutive
layers overlap row by row, and images follow each other through the layers.

A chunk of n output vectors on a layer with c copies: each copy computes about n / c of them;
all blocks of a copy read in lockstep (one bit-serial input slice per read), so the copy's time
is the crossbar read time of its vectors (``CrossbarUnit.read_time``), paced if need be by its
tiles' buffer ports and shift-and-add banks, which layers sharing a tile share. Partial sums of
row blocks in other tiles go over the mesh to the copy's first tile (its *home*), where the
shift-and-add bank reduces them and the outputs are written; from there they go to the home
tiles of the consumers (or, for a network output, to DRAM through the I/O port). Pool, add and
concat layers run on the shift-and-add banks of their first input's home tiles.

Identical work is simulated once: a copy's blocks are one lockstep unit, and the tiles' loads
are numpy arrays, so the cost of a run grows with layers x images x chunks, not with the chip.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xbarsim.config.schema import Arch, Replication
from xbarsim.mapping.blocks import LayerMap, block_table
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.replication import balance_copies, lanes
from xbarsim.timing.dataflows.engine import Engine, Proc
from xbarsim.timing.estimators import adc_conversion_ns
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.clock import Clock, transfer_cycles, until
from xbarsim.timing.hw.mesh import IO, Trees
from xbarsim.timing.hw.windows import Windows
from xbarsim.util import ceil_div, nbytes
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import INPUT, Layer, LayerType

CHUNK_STEPS = 20_000
"""Work-item granularity: about this many (layer, image, chunk) steps per run, whatever the batch,
so a run's cost is bounded; a layer never has more chunks per image than output rows."""

MAX_CHUNKS = 16
"""Most chunks per image and layer at work-item granularity."""

MAX_STEPS = 1_000_000
"""Most (layer, image, chunk) steps a static run may take unless forced. Measured on the
development machine (one core): ResNet-18 CIFAR-100 at batch 1,024 is 31,744 steps in 3.3 s
and 180 MB, about 10,000 steps per second, so the limit is about 100 s and 2 GB; a batch of
1e8 would be 3.1e9 steps and never finish."""


def chunk_count(rows: int, layers: int, batch: int, per_vector: bool) -> int:
    """Chunks per image of a layer with ``rows`` output rows (``_chunk_bounds``)."""
    if per_vector:
        return rows
    return max(1, min(rows, MAX_CHUNKS, CHUNK_STEPS // max(1, (layers + 1) * batch)))


def pipeline_steps(workload: Workload, batch: int, per_vector: bool) -> int:
    """(layer, image, chunk) steps a static run of ``batch`` images simulates."""
    layers = len(workload.layers)
    rows = [int(workload.input_shape[1])] + [int(workload.output_shape(la.name)[1])
                                             for la in workload.layers]
    return sum(batch * chunk_count(r, layers, batch, per_vector) for r in rows)


IMAGES_AHEAD = 2
"""Back-pressure [A]: a layer starts image b only after each consumer has finished image
b - IMAGES_AHEAD (double buffering), so a fast layer cannot flood the mesh with later images."""


def plan_copies(arch: Arch, maps: list[LayerMap], enc: Encoding,
                images: int = 1) -> dict[str, int]:
    """Copies of each MVM layer (``mapping.replication``) for a batch of ``images``, balancing
    the layers' crossbar time: output vectors x t reads x the widest block's read-and-convert
    cycles (beyond a copy per vector, in lanes of whole images: ``replication.lanes``)."""
    if arch.mapping.replication is Replication.NONE:
        return {m.name: 1 for m in maps}
    clock = Clock(arch.clock_ghz)
    xb = arch.crossbar
    read = clock.cycles(xb.read_ns)
    per_vector = []
    for m in maps:
        widest = int(block_table(m, enc)["cols_used"].max()) if m.mapped_blocks else 0
        convert = clock.cycles(ceil_div(widest, xb.adc.count) * adc_conversion_ns(xb.adc))
        per_vector.append(enc.t * max(read, convert))
    copies = balance_copies([m.mapped_blocks for m in maps], [m.P for m in maps], per_vector,
                            arch.chip.crossbars, images)
    return {m.name: c for m, c in zip(maps, copies)}


@dataclass(frozen=True)
class Placement:
    """Where a layer's work happens and how much of it each of its tiles does per output vector
    of one copy (summed over the copies sharing a tile)."""

    tiles: np.ndarray
    """Tiles the layer uses."""
    home: np.ndarray
    """Home tile of each copy: where its outputs are gathered."""
    port_bytes: np.ndarray
    """Tile-buffer bytes read and written per vector, per tile (float: bits / 8)."""
    shift_ops: np.ndarray
    """Shift-and-add operations per vector, per tile."""
    shift_share: np.ndarray | None
    """Fraction of each tile's shift-and-add bank that is the layer's own (ISAAC: the units sit
    in the IMAs, beside the crossbars they serve); None: the layer books the whole bank."""
    working_set_bytes: np.ndarray
    """Bytes the layer keeps in each tile: its share of the line buffer of input rows."""


@dataclass(frozen=True)
class MvmWork:
    """Per-vector work of one copy of an MVM layer (a copy's blocks read in lockstep)."""

    lmap: LayerMap
    copies: int
    blocks: int
    rows_total: int
    """Rows driven per read, summed over the copy's blocks."""
    cols_total: int
    """Columns converted per read, summed over the copy's blocks."""
    cols_widest: int
    """Columns of the widest block: sets the conversion time of a lockstep read."""
    in_elems: int
    """Input elements read from the tile buffers per vector (one read per IMA and row block)."""
    reduce_ops: int
    """Additions merging row blocks' partial sums per vector."""
    psum_sends: tuple[tuple[int, int, float], ...]
    """(last tile, home tile, partial sums per vector) of each copy whose row blocks span
    tiles: its cross-tile partial sums travel from its last tile (a bound on the route) home."""
    psum_routes: Trees
    """Their routes, booked together each chunk."""


class PipelineDataflow(Engine):
    """Resident layers, replicated, pipelined across layers and images (static dataflow)."""

    def __init__(self, chip: Chip, workload: Workload, enc: Encoding, batch: int,
                 per_vector_events: bool, maps: list[LayerMap], copies: dict[str, int]) -> None:
        super().__init__(chip, workload, enc, batch, per_vector_events)
        self.copies = copies
        self.maps = {m.name: m for m in maps}
        self.rounds_of.update({m.name: 1 for m in maps})  # resident: one round
        self.cpt = chip.crossbars_per_tile
        tiles = chip.tiles
        self.ports = Windows(tiles)
        """Each tile's buffer port, shared by the layers on the tile."""
        self.banks = Windows(tiles)
        """Each tile's shift-and-add bank, as pool, add and concat layers book it whole."""
        self._lists: dict[int, tuple[tuple[int, ...], list[float], list[float], list[float]]] = {}
        self._reader_lists: dict[str, list[str]] = {}
        self.shift_rate = chip.arch.tile.shift_add.units * chip.arch.tile.shift_add.ops_per_cycle
        self.port_rate = chip.arch.tile.buffer.port_bytes_per_cycle
        self.work: dict[str, MvmWork] = {}
        self.place: dict[str, Placement] = {}
        self._place_layers()
        self.spill_bytes = self._spills()
        self.chunks = {name: self._chunk_bounds(name) for name in [INPUT, *self._names()]}
        self.computed = {name: [[self.env.event() for _ in self.chunks[name][:-1]]
                                for _ in range(batch)] for name in self.chunks}
        self.arrival = {name: np.zeros((batch, len(self.chunks[name]) - 1), dtype=np.int64)
                        for name in self.chunks}
        """Cycle each chunk's outputs are all at their consumers."""
        self.began = {name: np.zeros_like(a) for name, a in self.arrival.items()}
        self.ended = {name: np.zeros_like(a) for name, a in self.arrival.items()}
        """Cycles each chunk started and ended computing (input chunks: when they arrived)."""
        self.compute_spans: list[tuple[int, int]] = []
        self.image_done = np.zeros(batch, dtype=np.int64)
        self.busy_until: dict[tuple[str, int], int] = {}
        """When each (layer, lane) finished its last chunk: its read pipeline refills after."""
        self._groups: dict[tuple[str, tuple[str, ...], int],
                           tuple[list[tuple[int, tuple[int, ...], list[int]]], int, Trees]] = {}
        self._route_lanes: dict[str, int] = {}
        self._need_lists: dict[str, list[list[tuple[str, int, int, int, int]]]] = {}
        self._periods: dict[tuple[str, tuple[str, ...]], int] = {}
        self.first = self.workload.consumers(INPUT)[0]
        """The layer the input images' traffic is counted for."""

    # -- placement ---------------------------------------------------------------------------

    def _place_layers(self) -> None:
        """Slots in layer order, copy after copy; digital layers on their first input's tiles."""
        offset = 0
        for layer in self.workload.layers:
            if layer.is_mvm:
                lmap = self.maps[layer.name]
                copies = self.copies.get(layer.name, 1)
                self.work[layer.name], self.place[layer.name] = self._place_mvm(
                    layer, lmap, copies, offset)
                offset += copies * lmap.mapped_blocks
            else:
                self.place[layer.name] = self._place_digital(layer)

    def _place_mvm(self, layer: Layer, lmap: LayerMap, copies: int,
                   offset: int) -> tuple[MvmWork, Placement]:
        # a copy's blocks in (group, column block, row block) order: the row blocks whose
        # partial sums are added together sit side by side, mostly in one tile
        table = block_table(lmap, self.enc)
        order = np.lexsort((table["row_block"], table["col_block"], table["group"]))
        table = {k: v[order] for k, v in table.items()}
        b = int(table["group"].size)
        copy = np.repeat(np.arange(copies), b)
        tile = (offset + np.arange(copies * b)) // self.cpt
        g, rb, cb = (np.tile(table[k], copies) for k in ("group", "row_block", "col_block"))
        rows, cols = np.tile(table["rows_used"], copies), np.tile(table["cols_used"], copies)
        # each IMA reads an input segment (group, row block) from its tile's buffer once per
        # vector into its input register, shared by its crossbars that use it (ISAAC: the
        # eDRAM-to-IMA bus fills each IMA's input register)
        ima = self.chip.ima_of(offset + np.arange(copies * b))
        _, first = np.unique(np.stack([copy, ima, g, rb]), axis=1, return_index=True)
        used = np.unique(tile) if b else np.zeros(0, dtype=np.int64)
        where = np.searchsorted(used, tile)
        in_elems = np.bincount(where[first], rows[first], minlength=used.size)
        home = offset // self.cpt + (np.arange(copies) * b) // self.cpt
        last = (offset + np.arange(copies) * b + max(b - 1, 0)) // self.cpt
        outputs = lmap.G * lmap.O
        out_bits = self.act_bits
        # a column block whose row blocks sit in k tiles sends k - 1 tiles' partial sums home
        _, spread = np.unique(np.stack([copy, g, cb, tile]), axis=1, return_index=True)
        col_outputs = cols / self.enc.columns_per_weight
        psum = np.bincount(copy[spread], col_outputs[spread], minlength=copies)
        own = np.unique(np.stack([copy, g, cb]), axis=1, return_index=True)[1]
        psum -= np.bincount(copy[own], col_outputs[own], minlength=copies)
        reduce_ops = outputs * (lmap.row_blocks - 1) if b else 0
        home_idx = np.searchsorted(used, home) if b else np.zeros(0, dtype=np.int64)
        t = self.enc.t
        at_home = np.bincount(home_idx, minlength=used.size).astype(float)
        psum_home = np.bincount(home_idx, psum, minlength=used.size)
        port = (in_elems * self.act_bits + at_home * outputs * out_bits
                + 2 * psum_home * self.psum_bits) / 8
        shift = t * np.bincount(where, cols, minlength=used.size) + at_home * reduce_ops
        # the layer's working set, shared by its tiles in proportion to the blocks they hold:
        # the input rows one output row's windows read (a whole input for linear); outputs
        # stream out as they are produced, into their consumers' line buffers (copies split a
        # row's vectors, so they share one line buffer)
        c_in, h_in, w_in = self.workload.input_shape_of(layer.name)
        if layer.type is LayerType.LINEAR:
            elems = c_in * h_in * w_in
        else:
            elems = c_in * min(layer.kernel[0], h_in) * w_in
        share = np.bincount(where, minlength=used.size) / max(copies * b, 1)
        working = share * elems * self.act_bits / 8
        # a copy with partial sums to send spans tiles: its last tile is not its home
        psum_sends = tuple((int(last[k]), int(home[k]), float(psum[k]))
                           for k in np.flatnonzero(psum))
        work = MvmWork(lmap=lmap, copies=copies, blocks=b, rows_total=int(table["rows_used"].sum()),
                       cols_total=int(table["cols_used"].sum()),
                       cols_widest=int(table["cols_used"].max()) if b else 0,
                       in_elems=int(in_elems.sum()) // max(copies, 1) if b else 0,
                       reduce_ops=reduce_ops,
                       psum_sends=psum_sends,
                       psum_routes=self.chip.mesh.trees([(a, (h,)) for a, h, _ in psum_sends]))
        bank = np.bincount(where, minlength=used.size) / self.cpt
        return work, Placement(tiles=used, home=home, port_bytes=port, shift_ops=shift,
                               shift_share=bank,
                               working_set_bytes=np.ceil(working).astype(np.int64))

    def _place_digital(self, layer: Layer) -> Placement:
        """A pool, add or concat runs copy for copy beside its first input: one copy on the
        home tile of each of that input's copies (tile 0 for the network input), taking the
        vectors that copy makes, so its first input never crosses the mesh (the pixels a pool
        window needs from a neighbouring copy are left out [A]); a flatten is a view that
        stays where its input is."""
        source = self.place.get(layer.inputs[0])
        if source is None or source.tiles.size == 0:
            home = np.zeros(1, dtype=np.int64)
        else:
            home = source.home
        tiles, per_tile = np.unique(home, return_counts=True)
        if layer.type is LayerType.FLATTEN or self._is_view(layer.name):
            return Placement(tiles=tiles, home=home, port_bytes=np.zeros(tiles.size),
                             shift_ops=np.zeros(tiles.size), shift_share=None,
                             working_set_bytes=np.zeros(tiles.size, dtype=np.int64))
        share = per_tile / home.size
        c, h_in, w_in = self.workload.input_shapes(layer.name)[0]
        c_out = self.workload.output_shape(layer.name)[0]
        inputs = len(layer.inputs)
        per_vector = (inputs * c + c_out) * self.act_bits / 8
        kh = layer.kernel[0] if layer.type is LayerType.POOL else 1
        line = inputs * c * min(kh, h_in) * w_in * self.act_bits / 8  # the input rows a row needs
        return Placement(tiles=tiles, home=home, port_bytes=share * per_vector,
                         shift_ops=share * self._ops_per_output(layer) * c_out, shift_share=None,
                         working_set_bytes=np.ceil(share * line).astype(np.int64))

    def _spills(self) -> dict[str, int]:
        """Bytes per output row each layer spills to DRAM and reads back: the tiles' working
        sets beyond the tile buffer, shared out in proportion to each layer's part."""
        capacity = self.chip.arch.tile.buffer.kib * 1024
        total = np.zeros(self.chip.tiles, dtype=np.int64)
        for p in self.place.values():
            np.add.at(total, p.tiles, p.working_set_bytes)
        excess = np.maximum(total - capacity, 0)
        spills = {}
        for name, p in self.place.items():
            share = excess[p.tiles] * p.working_set_bytes // np.maximum(total[p.tiles], 1)
            spills[name] = int(share.sum())
        return spills

    # -- chunks and the line-buffer rule ----------------------------------------------------------

    def _rows(self, name: str) -> int:
        shape = self.workload.input_shape if name == INPUT else self.workload.output_shape(name)
        return int(shape[1])

    def _chunk_bounds(self, name: str) -> list[int]:
        """Row boundaries of a layer's chunks: [0, ..., rows]."""
        rows = self._rows(name)
        k = chunk_count(rows, len(self.workload.layers), self.batch, self.per_vector_events)
        return [j * rows // k for j in range(k + 1)]

    def rows_needed(self, layer: Layer, source: str, row_end: int) -> int:
        """Rows of ``source`` that output rows [0, row_end) of ``layer`` need (line buffer)."""
        rows_in = self._rows(source)
        if layer.type in (LayerType.CONV, LayerType.POOL):
            kh, sh, ph = layer.kernel[0], layer.stride[0], layer.padding[0]
            return max(1, min(rows_in, (row_end - 1) * sh - ph + kh))
        if layer.type in (LayerType.ADD, LayerType.CONCAT):
            return row_end
        return rows_in

    def _chunk_holding(self, source: str, rows: int) -> int:
        """Index of the chunk of ``source`` that completes row ``rows - 1``."""
        return bisect_right(self.chunks[source], rows - 1) - 1

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> int:
        """Simulate the batch through the pipeline; return its cycles."""
        self.env.process(self._load_inputs())
        for layer in self.workload.layers:
            ways = self._lanes(layer)
            for lane in range(ways):
                self.env.process(self._stage(layer, lane, ways))
        self.env.run()
        for layer in self.workload.layers:
            name = layer.name
            self.start[name] = int(self.began[name][:, 0].min())
            self.end[name] = int(self.arrival[name].max())
        self.chip.activity.add_spans("compute", self.compute_spans)
        return int(self.env.now)

    def image_done_cycles(self, cycles: int) -> list[int]:
        """Cycle at which each image's last network output reached DRAM."""
        return [int(c) for c in self.image_done]

    def _load_inputs(self) -> Proc:
        """Images come from DRAM, chunk by chunk, to the input layers' home tiles; the channel
        takes the next chunk as soon as it is free (the access latency overlaps)."""
        bounds = self.chunks[INPUT]
        c, _, w = self.workload.input_shape
        dram = self.chip.dram
        for b in range(self.batch):
            for j in range(len(bounds) - 1):
                size = nbytes(c * (bounds[j + 1] - bounds[j]) * w, self.act_bits)
                channel_free, arrive = dram.book(self.first, size, int(self.env.now))
                self.env.process(self._deliver_input(b, j, size, arrive))
                yield self.env.timeout(channel_free - int(self.env.now))

    def _deliver_input(self, b: int, j: int, size: int, arrive: int) -> Proc:
        yield self.env.timeout(arrive - int(self.env.now))
        arrival = self._send(self.first, INPUT, self._readers(INPUT), size, b)
        self.arrival[INPUT][b, j] = self.began[INPUT][b, j] = self.ended[INPUT][b, j] = arrival
        self.computed[INPUT][b][j].succeed()

    def _stage(self, layer: Layer, lane: int, ways: int) -> Proc:
        """One lane of a layer (``_lanes``; most layers have one): its chunks in order, image
        after image (images ``lane``, ``lane + ways``, ...). A chunk's timing is set when the
        input rows its last row needs are known (it may have started earlier, booking its
        units from its start)."""
        name, bounds = layer.name, self.chunks[layer.name]
        # back-pressure: a consumer buffers IMAGES_AHEAD images per lane (its own or this
        # layer's, whichever has more)
        consumers = self.workload.consumers(name)
        ahead = IMAGES_AHEAD * max([ways, *(self._lanes(self.workload.layer(c))
                                            for c in consumers)])
        free = 0  # the cycle the lane finished its previous chunk
        view = self._is_view(name)
        for b in range(lane, self.batch, ways):
            if b >= ahead:
                for consumer in consumers:
                    yield self.computed[consumer][b - ahead][-1]
                    free = max(free, int(self.ended[consumer][b - ahead, -1]))
            for j, needs in enumerate(self._needs(layer)):
                first = last = 0
                for source, k, row_chunk, behind, rows_in_chunk in needs:
                    yield self.computed[source][b][k]
                    last = max(last, int(self.arrival[source][b, k]))
                    # the chunk's rows arrive a row's compute time apart, its last row with
                    # the whole chunk
                    per_row = (self.ended[source][b, row_chunk]
                               - self.began[source][b, row_chunk]) / rows_in_chunk
                    first = max(first, int(self.arrival[source][b, row_chunk])
                                - int(behind * per_row))
                start = max(free, first)
                rows = bounds[j + 1] - bounds[j]
                vectors = rows * self._row_vectors(layer)
                if layer.is_mvm:
                    cycles = self._mvm_chunk(layer, vectors, start, ways, lane)
                else:
                    cycles = self._digital_chunk(layer, vectors, start)
                cycles = max(cycles, self._spill(name, rows, start) - start)
                free = max(start + cycles, last + math.ceil(cycles / rows))
                self.began[name][b, j], self.ended[name][b, j] = start, free
                self.compute_spans.append((start, free))
                yield from until(self.env, free)
                if view:  # its inputs' rows went straight to its readers
                    self.arrival[name][b, j] = last
                else:
                    self.arrival[name][b, j] = self._forward(layer, b, vectors, start)
                self.computed[name][b][j].succeed()

    def _needs(self, layer: Layer) -> list[list[tuple[str, int, int, int, int]]]:
        """Per chunk of a layer, per input: the input's chunk holding the last row the chunk
        needs (line buffer, ``rows_needed``), the chunk holding the first row it needs, that
        row's distance from its chunk's last row, and that chunk's rows (cached per layer)."""
        needs = self._need_lists.get(layer.name)
        if needs is None:
            bounds = self.chunks[layer.name]
            needs = self._need_lists[layer.name] = []
            for j in range(len(bounds) - 1):
                chunk = []
                for source in layer.inputs:
                    row = self.rows_needed(layer, source, bounds[j] + 1) - 1
                    k = self._chunk_holding(source, row + 1)
                    held = self.chunks[source]
                    chunk.append((source, self._chunk_holding(
                        source, self.rows_needed(layer, source, bounds[j + 1])), k,
                        held[k + 1] - 1 - row, held[k + 1] - held[k]))
                needs.append(chunk)
        return needs

    def _lanes(self, layer: Layer) -> int:
        """Lanes of a layer (``replication.lanes``): more copies than its vectors of an image
        take whole images side by side (image b on lane b mod lanes); pool, add and concat
        follow their first input's copies one by one, in one lane."""
        if not layer.is_mvm:
            return 1
        return lanes(self.maps[layer.name].P, self.copies.get(layer.name, 1), self.batch)

    def _route_lane_count(self, name: str) -> int:
        """Lanes an activation's copies are split in: an MVM layer's own (``_lanes``); a pool,
        add, concat or flatten, beside its first input's copies, that input's; the input, one."""
        count = self._route_lanes.get(name)
        if count is None:
            if name == INPUT:
                count = 1
            else:
                layer = self.workload.layer(name)
                count = (self._lanes(layer) if layer.is_mvm
                         else self._route_lane_count(layer.inputs[0]))
            self._route_lanes[name] = count
        return count

    def _homes(self, name: str, b: int) -> np.ndarray:
        """Home tiles of the copies that hold image ``b`` of an activation: those of the
        image's lane (image b on lane b mod lanes), each lane a run of copies; the input: the
        I/O port."""
        if name not in self.place:
            return np.full(1, IO)
        homes = self.place[name].home
        count = self._route_lane_count(name)
        if count == 1:
            return homes
        per = homes.size // count
        lane = b % count
        return homes[lane * per:(lane + 1) * per]

    def _row_vectors(self, layer: Layer) -> int:
        """Output vectors (pixels) per output row."""
        if layer.type is LayerType.LINEAR:
            return 1
        return int(self.workload.output_shape(layer.name)[2])

    # -- one chunk ----------------------------------------------------------------------------

    def _mvm_chunk(self, layer: Layer, vectors: int, now: int, ways: int = 1,
                   lane: int = 0) -> int:
        """Count a chunk of ``vectors`` on lane ``lane`` of an MVM layer of ``ways`` lanes and
        return its cycles.

        The copies of the chunk's lane (all of them, in one lane) take the vectors round-robin,
        continuing across chunks and images, so each computes n / c of them on average; a
        chunk is timed at that share (a whole copy's vectors are exact over an image). The read
        pipeline refills after the lane idled. Tiles, ports and partial sums are loaded at the
        layer's average share, n / c."""
        w, p, name, t = self.work[layer.name], self.place[layer.name], layer.name, self.enc.t
        if w.blocks == 0 or vectors == 0:
            return 0
        fill, per_read = self.chip.xbars[0].pipeline_cycles(w.cols_widest)
        if now <= self.busy_until.get((name, lane), -1):
            fill = 0
        per_copy = vectors / w.copies
        cycles = fill + math.ceil(vectors / (w.copies // ways) * t * per_read - 1e-9)
        c = self.chip.counters
        c.add_busy("crossbar", (fill * w.copies + vectors * t * per_read) * w.blocks)
        reads = vectors * t
        c.add(name, "xbar_reads", reads * w.blocks)
        c.add(name, "dac_conversions", reads * w.rows_total)
        c.add(name, "adc_conversions", reads * w.cols_total)
        c.add(name, "shift_add_ops", reads * w.cols_total + vectors * w.reduce_ops)
        outputs = w.lmap.G * w.lmap.O
        c.add(name, "tile_buffer_read_bytes", nbytes(vectors * w.in_elems, self.act_bits))
        c.add(name, "tile_buffer_write_bytes", nbytes(vectors * outputs, self.act_bits))
        done = max(cycles, self._tiles_busy(p, per_copy, now))
        if w.psum_sends:  # row blocks in other tiles: partial sums home
            sizes = [nbytes(per_copy * elems, self.psum_bits) for _, _, elems in w.psum_sends]
            c.add(name, "tile_buffer_write_bytes", sum(sizes))
            c.add(name, "tile_buffer_read_bytes", sum(sizes))
            done = max(done, self.chip.mesh.multicast_many(name, w.psum_routes, sizes,
                                                           [now] * len(sizes)) - now)
        self.busy_until[name, lane] = now + done
        return done

    def _digital_chunk(self, layer: Layer, vectors: int, now: int) -> int:
        """Count a chunk of a pool, add or concat on its tiles and return its cycles (a
        flatten, or a concat read by later layers, is a view: nothing to do)."""
        if layer.type is LayerType.FLATTEN or self._is_view(layer.name):
            return 0
        p, name = self.place[layer.name], layer.name
        c_out = int(self.workload.output_shape(name)[0])
        c_in = sum(int(s[0]) for s in self.workload.input_shapes(name))
        counters = self.chip.counters
        counters.add(name, "shift_add_ops", vectors * c_out * self._ops_per_output(layer))
        counters.add(name, "tile_buffer_read_bytes", nbytes(vectors * c_in, self.act_bits))
        counters.add(name, "tile_buffer_write_bytes", nbytes(vectors * c_out, self.act_bits))
        return self._tiles_busy(p, vectors, now)

    def _tiles_busy(self, p: Placement, vectors: float, now: int) -> int:
        """Book each tile's buffer port (shared by the layers on the tile) for ``vectors`` per
        copy from cycle ``now``, in its earliest free window (``windows.Windows``), and run the
        shift-and-adds on the layer's own units (or book the whole bank, for pool and add
        layers); return the cycles until the last of them is done (they work alongside the
        crossbars)."""
        tiles, port_bytes, shift_ops, shift_rates = self._per_tile(p)
        port = [math.ceil(vectors * b / self.port_rate - 1e-9) for b in port_bytes]
        done = self.ports.reserve_each(tiles, port, now) - now
        counters, units = self.chip.counters, self.chip.arch.tile.shift_add.units
        counters.add_busy("tile_buffer", sum(port))
        if p.shift_share is None:
            shift = [math.ceil(vectors * ops / self.shift_rate - 1e-9) for ops in shift_ops]
            done = max(done, self.banks.reserve_each(tiles, shift, now) - now)
            counters.add_busy("shift_add", sum(shift) * units)
        else:
            shift = [math.ceil(vectors * ops / rate - 1e-9)
                     for ops, rate in zip(shift_ops, shift_rates)]
            done = max(done, max(shift, default=0))
            counters.add_busy("shift_add", int((np.array(shift) * p.shift_share).sum() * units))
        return done

    def _per_tile(self, p: Placement) -> tuple[tuple[int, ...], list[float], list[float],
                                               list[float]]:
        """A placement's tiles (a tuple, whose id array ``Windows`` keeps), port bytes and
        shift-and-add ops per vector, and the rate of the layer's own share of each tile's bank,
        as lists (``_tiles_busy`` runs every chunk)."""
        lists = self._lists.get(id(p))
        if lists is None:
            rates = ([] if p.shift_share is None else
                     (self.shift_rate * np.maximum(p.shift_share, 1e-12)).tolist())
            lists = self._lists[id(p)] = (tuple(p.tiles.tolist()), p.port_bytes.tolist(),
                                          p.shift_ops.tolist(), rates)
        return lists

    def _spill(self, name: str, rows: int, now: int) -> int:
        """Working set beyond the tile buffers: out to DRAM and back, once per output row."""
        size = 2 * self.spill_bytes.get(name, 0) * rows
        if size == 0:
            return now
        return self.chip.dram.book(name, size, now)[1]

    def _forward(self, layer: Layer, b: int, vectors: int, began: int) -> int:
        """Send a chunk of ``vectors`` computed from cycle ``began`` to now to its consumers'
        home tiles (network outputs to DRAM); return when the last of it arrives."""
        name = layer.name
        size = nbytes(vectors * int(self.workload.output_shape(name)[0]), self.act_bits)
        readers = self._readers(name)
        if readers:
            return self._send(name, name, readers, size, b, (began, vectors))
        src = int(self._homes(name, b)[0])
        self.chip.counters.add(name, "tile_buffer_read_bytes", size)
        at_io = self.chip.mesh.book(name, src, IO, size, int(self.env.now))
        self.env.process(self._write_output(name, b, size, at_io))
        return at_io

    def _is_view(self, name: str) -> bool:
        """A concat read by later layers is a view of its inputs: each input goes straight to
        the concat's readers (``_readers``), and the concat moves nothing itself."""
        return (self.workload.layer(name).type is LayerType.CONCAT
                and bool(self.workload.consumers(name)))

    def _readers(self, name: str) -> list[str]:
        """The layers an output is sent to: its consumers, through the concats that are
        views (a concat's readers read each of its inputs where that input was made)."""
        readers = self._reader_lists.get(name)
        if readers is None:
            readers = self._reader_lists[name] = self.workload.readers(name, (LayerType.CONCAT,))
        return readers

    def _write_output(self, name: str, b: int, size: int, at_io: int) -> Proc:
        yield self.env.timeout(at_io - int(self.env.now))
        _, done = self.chip.dram.book(name, size, int(self.env.now))
        self.image_done[b] = max(self.image_done[b], done)
        yield self.env.timeout(done - int(self.env.now))

    def _send(self, layer: str | None, source: str, consumers: Sequence[str], size: int,
              b: int, streamed: tuple[int, int] | None = None) -> int:
        """Split ``size`` bytes of image ``b`` over streams from the source's copies to the
        copies of every consumer, of the image's lane of each (``_homes``; S streams, S the
        most copies of any of them: stream s from source copy s mod c_src to copy s mod c of
        each consumer). A stream's bytes leave the source once and travel the tree of XY
        routes to its destinations (multicast [A]); streams with the same source tile and
        destination tiles travel as one transfer. ``streamed``: the bytes are ``(began,
        vectors)``'s outputs, produced at an even pace from cycle ``began`` to now, so a
        transfer may start while they are computed, its last vector's share leaving now.
        Return the last arrival."""
        now = int(self.env.now)
        groups, streams, trees = self._stream_groups(source, tuple(consumers), b)
        part, extra = divmod(size, streams)
        sizes = [part * len(indices) + bisect_right(indices, extra - 1) for _, _, indices in groups]
        ats = [now] * len(sizes)
        if streamed is not None:
            began, vectors = streamed
            rate = self.chip.mesh.bytes_per_cycle
            ats = [max(began, now - transfer_cycles(n, rate) * (vectors - 1) // vectors)
                   if n else now for n in sizes]
        counters = self.chip.counters
        counters.add(layer, "tile_buffer_read_bytes",
                     sum(n for (a, _, _), n in zip(groups, sizes) if a != IO))
        counters.add(layer, "tile_buffer_write_bytes",
                     sum(n * len(dsts) for (_, dsts, _), n in zip(groups, sizes)))
        return max(now, self.chip.mesh.multicast_many(layer, trees, sizes, ats))

    def _stream_groups(self, source: str, consumers: tuple[str, ...], b: int
                       ) -> tuple[list[tuple[int, tuple[int, ...], list[int]]], int, Trees]:
        """(source tile, destination tiles, stream indices) of the streams of image ``b`` that
        leave their tile, grouped by source and destinations, the number of streams, and the
        groups' multicast trees (cached per combination of lanes)."""
        period = self._periods.get((source, consumers))
        if period is None:  # images whose lanes repeat
            period = self._periods[source, consumers] = math.lcm(
                self._route_lane_count(source), *map(self._route_lane_count, consumers))
        key = (source, consumers, b % period)
        if key not in self._groups:
            src = self._homes(source, b)
            dst = [self._homes(c, b) for c in consumers]
            streams = max(src.size, *(d.size for d in dst))
            groups: dict[tuple[int, tuple[int, ...]], list[int]] = {}
            for s in range(streams):
                a = int(src[s % src.size])
                far = tuple(sorted({int(d[s % d.size]) for d in dst} - {a}))
                if far:
                    groups.setdefault((a, far), []).append(s)
            self._groups[key] = ([(a, d, idx) for (a, d), idx in groups.items()], streams,
                                 self.chip.mesh.trees(list(groups)))
        return self._groups[key]
