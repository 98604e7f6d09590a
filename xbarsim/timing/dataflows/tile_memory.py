"""Activations in the tile buffers, on a chip without a global buffer as ISAAC and PUMA
(docs/design.md section 6.1): each tile keeps the part of an output it made and consumers
gather their parts tile to tile over the XY-routed mesh; DRAM is reached through the nearest
of the chip's I/O ports (``chip.dram.io_ports``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from xbarsim.timing.dataflows.spans import CHANNELS, VECTORS, Holdings, Span
from xbarsim.timing.hw.clock import until
from xbarsim.timing.hw.mesh import IO
from xbarsim.util import even_split, nbytes, proportional_split
from xbarsim.workload.layer import INPUT, Layer, LayerType

if TYPE_CHECKING:
    from xbarsim.timing.dataflows.engine import Engine, Proc


VIEWS = (LayerType.FLATTEN, LayerType.CONCAT)
"""Layer kinds whose output, when later layers read it, is a view of their inputs: an activation
stays live until the layers reading it through them are done."""


class TileMemory:
    """Activations in the tile buffers (no global buffer): each tile keeps what it made, up to
    ``tile.buffer.activation_share`` of its buffer for all live activations together (the rest
    is its working space); the excess goes to DRAM and comes back when a consumer gathers it.
    All moves are XY-routed on the mesh (``hw/mesh.py``), DRAM entering at the nearest I/O
    port. Every move is booked by time when it is requested, each step from the cycle the step
    before it ends, and returns its end (``book_fetch``, ``book_keep``, ``partial_sums``): a
    tile's work on a layer needs no process (docs/design.md 6.1)."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.chip = engine.chip
        self.env = engine.env
        self.held: dict[str, Holdings] = {}
        self.live = [0] * self.chip.tiles
        """Bytes of live activations kept in each tile's buffer."""
        buffer = self.chip.arch.tile.buffer
        self.capacity = int(buffer.kib * 1024 * buffer.activation_share)
        """Bytes of a tile's buffer for live activations (``tile.buffer.activation_share``)."""
        self.views: dict[str, list[tuple[str, int]]] = {}
        """Concats, kept as views of their inputs (nothing moves): name -> [(input, its
        channels)]."""
        self.sets: dict[str, dict[Any, tuple[int, int, int]]] = {}
        """Per layer, the running sums a part left unfinished: key -> (home, kept, spilled)."""
        self.accumulated: dict[str, int] = {}
        """Per layer, the adds its homes made as partial sums arrived."""
        self._layouts: dict[tuple[object, ...], int] = {}
        """The activations' layouts numbered so far (``Holdings.layout``)."""
        self._splits: dict[tuple[str, int], list[int]] = {}
        """``_view_split``'s splits so far."""

    # -- moves ---------------------------------------------------------------------------

    def _dram(self, layer: str, size: int, at: int, *, write: bool = False) -> int:
        """Book ``size`` bytes through the DRAM channel, requested at cycle ``at``, by time as in
        the static pipeline (docs/design.md section 2); return the cycle a read has its bytes
        (the channel, then the access latency) or a write has left the channel."""
        free, arrival = self.chip.dram.book(layer, size, at)
        return free if write else arrival

    def _move(self, layer: str, src: int, dst: int, size: int, at: int) -> int:
        """Book ``size`` bytes of ``src``'s buffer (``IO``: of DRAM) into ``dst``'s, requested at
        cycle ``at``: read at the source, over the mesh, written at the destination, each step
        from the end of the one before; nothing moves within a tile. Return the cycle the
        destination has written them."""
        ports, mesh = self.chip.tile_ports, self.chip.mesh
        if src == IO:
            at = mesh.book(layer, IO, dst, size, self._dram(layer, size, at))
        elif src != dst:
            at = mesh.book(layer, src, dst, size, ports[src].book(layer, size, "read", at=at))
        else:
            return at
        return ports[dst].book(layer, size, "write", at=at)

    def _holders(self, name: str, span: Span, size: int, into: dict[int, list[int]]) -> None:
        """Add to ``into`` (holder tile, or ``IO``, -> [bytes, bytes of them spilled], in the
        order the holders first appear) where ``size`` bytes of ``span`` of activation
        ``name`` are. A concat's output is a view of its inputs (which are never views
        themselves: ``digital_layer``): on the vector axis every input gives the same vectors,
        the bytes split by channels; on the channel axis see ``_channel_parts``."""
        inputs = self.views.get(name)
        held = self.held
        if inputs is None:
            _add_pieces(into, held[name].pieces(span, size))
            return
        if span.axis == CHANNELS:
            for source, sub, part in self._channel_parts(inputs, span, size):
                _add_pieces(into, held[source].pieces(sub, part))
            return
        # every input gives the same vectors: inputs laid out alike, with the same bytes,
        # have the same sources (each its own spills: ``Holdings.with_spills``)
        alike = dict[tuple[int, int], list[tuple[int, int]]]()
        for (source, _), part in zip(inputs, self._view_split(name, size)):
            inp = held[source]
            if inp.axis != span.axis:
                _add_pieces(into, inp.pieces(span, part))
                continue
            key = (inp.layout(self._layouts), part)
            found = alike.get(key)
            if found is None:
                found = alike[key] = inp.sources(span, part)
            # each holder's bytes in DRAM in the share it spilled (``Holdings.with_spills``,
            # inlined: a list per input made DenseNet-121 basis on the full chip 7-10% slower)
            spilled = inp.spilled
            for tile, b in found:
                entry = into.get(tile)
                if entry is None:
                    entry = into[tile] = [0, 0]
                entry[0] += b
                if (s := spilled.get(tile)) and s[1]:
                    entry[1] += b * s[0] // s[1]

    def _view_split(self, name: str, size: int) -> list[int]:
        """``size`` bytes of concat ``name`` split over its inputs by channels (kept: a
        layer's tiles mostly gather the same sizes)."""
        key = (name, size)
        split = self._splits.get(key)
        if split is None:
            split = self._splits[key] = proportional_split(size, [c for _, c in self.views[name]])
        return split

    @staticmethod
    def _channel_parts(inputs: list[tuple[str, int]], span: Span,
                       size: int) -> list[tuple[str, Span, int]]:
        """``span`` of the channels of a concat of ``inputs`` (name, its channels) as (input,
        its span, bytes): the inputs whose channels the span covers, each its part."""
        total, length = sum(c for _, c in inputs), span.length
        lo, hi = span.start * total, span.stop * total  # in units of 1 / (total * length)
        parts, offset = [], 0
        for source, channels in inputs:
            a, b = max(lo, offset * length), min(hi, (offset + channels) * length)
            if b > a:
                parts.append((source, Span(a - offset * length, b - offset * length,
                                           channels * length, CHANNELS), b - a))
            offset += channels
        sizes = proportional_split(size, [w for _, _, w in parts])
        return [(source, sub, part) for (source, sub, _), part in zip(parts, sizes)]

    def _placement(self, name: str) -> Holdings:
        """Where an activation is held (a view: where its first input is)."""
        while name in self.views:
            name = self.views[name][0][0]
        return self.held[name]

    def _gather(self, layer: str, sources: list[str], tile: int, size: int, span: Span,
                at: int) -> int:
        """Book ``size`` bytes of ``span``, split evenly over the activations ``sources``, from
        the tiles (or DRAM) holding them into ``tile``'s buffer, requested at cycle ``at``: the
        spilled bytes in one DRAM transfer through the I/O port, then the mesh; each holder's
        bytes (of all the sources it holds) in one transfer over its XY route; the holders'
        buffer reads are counted but do not hold their ports [A] (a gather may draw on every
        tile); the tile writes what arrived once the last has. Return the cycle it has."""
        holders: dict[int, list[int]] = {}
        for name, part in zip(sources, even_split(size, len(sources))):
            self._holders(name, span, part, holders)
        spilled, read, local = 0, 0, []
        for src, (b, sp) in holders.items():
            if src == IO:
                spilled += b
                continue
            spilled += sp
            if src != tile:
                read += b - sp
                local.append((src, tile, b - sp))
        self.chip.counters.add(layer, "tile_buffer_read_bytes", read)
        mesh = self.chip.mesh
        arrival = mesh.book_many(layer, local, at)
        if spilled:
            arrival = max(arrival, mesh.book(layer, IO, tile, spilled,
                                             self._dram(layer, spilled, at)))
        return self.chip.tile_ports[tile].book(layer, spilled + read, "write", at=arrival)

    def load_input(self) -> Proc:
        """The input stays in DRAM: consumers read it through the I/O port."""
        self.held[INPUT] = Holdings(VECTORS, 1, [0], [1], [IO])
        return
        yield

    def fetch(self, layer: str, tile: int, size: int, span: Span) -> Proc:
        """``tile`` gathers the ``size`` bytes of ``span`` of the layer's inputs."""
        yield from until(self.env, self.book_fetch(layer, tile, size, span))

    def book_fetch(self, layer: str, tile: int, size: int, span: Span,
                   at: int | None = None) -> int:
        """``fetch`` booked, requested now (or at cycle ``at``); return the cycle it ends."""
        inputs = self.e.workload.layer(layer).inputs
        return self._gather(layer, list(inputs), tile, size, span,
                            int(self.env.now) if at is None else at)

    def fetch_parts(self, layer: str, needed: dict[int, list[tuple[Span, float]]],
                    bits: int) -> Proc:
        """Each tile's input parts (``needed``: tile -> [(span, elements of ``bits``)]), each
        gathered on its own after the one before, the tiles side by side: all booked now."""
        now = int(self.env.now)
        ends = []
        for tile, parts in sorted(needed.items()):
            at = now
            for span, elements in parts:
                at = self.book_fetch(layer, tile, nbytes(elements, bits), span, at)
            ends.append(at)
        yield from until(self.env, max(ends, default=now))

    def fetch_whole(self, layer: str, tiles: list[int], size: int) -> Proc:
        """Every tile of ``tiles`` gets all of the layer's inputs: each holder multicasts its
        part to all of them (spilled parts read from DRAM once, multicast from the I/O port);
        then each tile writes the whole into its buffer."""
        inputs = self.e.workload.layer(layer).inputs
        by_source: dict[int, list[int]] = {}  # a holder sends all it holds in one multicast
        for name, part in zip(inputs, even_split(size, len(inputs))):
            self._holders(name, Span.whole(self._placement(name).axis), part, by_source)
        now = int(self.env.now)
        arrival = max([self._multicast(layer, src, tiles, b, sp, now)
                       for src, (b, sp) in sorted(by_source.items())], default=now)
        yield from until(self.env, self._write_each(layer, tiles, size, arrival))

    def _write_each(self, layer: str, tiles: list[int], size: int, at: int) -> int:
        """Book every tile of ``tiles`` writing ``size`` bytes into its buffer, side by side, from
        cycle ``at``; return the cycle the last is done."""
        ports = self.chip.tile_ports
        return max((ports[t].book(layer, size, "write", at=at) for t in tiles), default=at)

    def _multicast(self, layer: str, src: int, tiles: list[int], size: int, spilled: int,
                   at: int) -> int:
        """Book ``size`` bytes held by ``src`` (``spilled`` of them in DRAM) to every tile,
        requested at cycle ``at``: the spilled bytes first, then the rest; return the cycle
        the farthest tile has them."""
        if src == IO:
            spilled = size
        mesh = self.chip.mesh
        if spilled:
            at = mesh.multicast(layer, IO, tiles, spilled, self._dram(layer, spilled, at))
        if size - spilled:
            at = mesh.multicast(layer, src, tiles, size - spilled, self.chip.tile_ports[src].book(
                layer, size - spilled, "read", at=at))
        return at

    def keep(self, layer: str, tile: int, size: int, span: Span) -> Proc:
        """``tile`` writes the ``size`` bytes of ``span`` of the layer's output it made into its
        own buffer, where they stay."""
        yield from until(self.env, self.book_keep(layer, tile, size, span))

    def book_keep(self, layer: str, tile: int, size: int, span: Span,
                  at: int | None = None) -> int:
        """``keep`` booked, requested now (or at cycle ``at``); return the cycle the write
        ends."""
        held = self.held.get(layer)
        if held is None:
            held = self.held[layer] = Holdings(span.axis, span.length)
        held.add(tile, span.start, span.stop)
        return self.chip.tile_ports[tile].book(layer, size, "write", at=at)

    def to_tile(self, layer: str, tile: int, size: int, *, resident: bool) -> Proc:
        """Bytes from DRAM through the I/O port over the mesh to a tile (no tile-buffer
        write); nothing is resident on chip outside the tiles."""
        yield from until(self.env, self._to_tile(layer, tile, size, int(self.env.now)))

    def _to_tile(self, layer: str, tile: int, size: int, at: int) -> int:
        """Book ``to_tile``, requested at cycle ``at``; return the cycle it ends."""
        return self.chip.mesh.book(layer, IO, tile, size, self._dram(layer, size, at))

    def book_stream(self, layer: str, tiles: list[int], size: int) -> int:
        """Book bytes read once from DRAM and multicast from the I/O port to ``tiles`` (into
        their coefficient buffers: no tile-buffer write), requested now; return the cycle the
        farthest tile has them."""
        return self.chip.mesh.multicast(layer, IO, tiles, size,
                                        self._dram(layer, size, int(self.env.now)))

    def digital_operands(self, layer: str, tiles: list[int], weight_bytes: int,
                         weights: list[int], ins: list[int], *,
                         by_vectors: bool) -> Generator[Any, Any, list[int]]:
        """The digital baseline's operands. Split by vectors, the weights are multicast from
        DRAM and each tile then gathers its inputs; split by channels, each tile is sent its
        share of the weights and gets every input from their holders. Returns the bytes each
        tile of ``tiles`` still gathers."""
        if by_vectors:
            yield from self.multicast_from_dram(layer, tiles, weight_bytes)
            return [ins[t] for t in tiles]
        now, ports = int(self.env.now), self.chip.tile_ports
        yield from until(self.env, max(
            ports[t].book(layer, weights[t], "write", at=self._to_tile(layer, t, weights[t], now))
            for t in tiles))
        yield from self.fetch_whole(layer, tiles, ins[tiles[0]])  # each: the whole input
        return [0] * len(tiles)

    def multicast_from_dram(self, layer: str, tiles: list[int], size: int) -> Proc:
        """``book_stream``, then each tile's buffer writes the bytes."""
        at = self.book_stream(layer, tiles, size)
        yield from until(self.env, self._write_each(layer, tiles, size, at))

    # -- a finished layer ---------------------------------------------------------------

    def store(self, layer: Layer) -> Proc:
        """A network output goes from its tiles to DRAM. Any other output stays where it was
        made: each tile keeps what fits in its share of live activations and writes the rest to
        DRAM (read back by the consumers); the space is freed when every consumer is done."""
        name = layer.name
        held = self.held.setdefault(name, Holdings(VECTORS, 1, [0], [1], [0]))  # nothing mapped
        held.sort()
        per_tile = held.tile_bytes(self.e.output_bytes(name))
        consumers = self.e.workload.consumers(name)
        end = int(self.env.now)
        for tile, made in sorted(per_tile.items()):
            if tile == IO:
                continue
            kept = 0 if not consumers else min(made, max(0, self.capacity - self.live[tile]))
            if made - kept:
                end = max(end, self._to_dram(name, tile, made - kept))
            held.spill(tile, made - kept, made)
            self.live[tile] += kept
        yield from until(self.env, end)
        if consumers:
            self.env.process(self._free_after(self.e.workload.readers(name, VIEWS), {
                t: m - d for t, (d, m) in held.spilled.items()}))

    def _to_dram(self, layer: str, tile: int, size: int) -> int:
        """Book ``size`` bytes of ``tile``'s buffer to DRAM, requested now: the tile's read,
        the mesh, the DRAM write, each from the end of the one before; return the cycle the
        write has left the channel."""
        at = self.chip.tile_ports[tile].book(layer, size, "read")
        return self._dram(layer, size, self.chip.mesh.book(layer, tile, IO, size, at), write=True)

    def _free_after(self, consumers: list[str], kept: dict[int, int]) -> Proc:
        yield self.env.all_of([self.e.done[c] for c in consumers])
        for tile, size in kept.items():
            self.live[tile] -= size

    def digital_layer(self, layer: Layer, ops: int, in_bytes: int, out_bytes: int) -> Proc:
        """Pool, add or concat where its first input is held, each holding tile on its share
        (by the spans it holds): it gathers the same span of the other inputs, reads its
        inputs, runs its share of the ops on its shift-and-add bank and keeps its output. A
        concat read by other layers is a view of its inputs instead: nothing moves."""
        if layer.type is LayerType.CONCAT and self.e.workload.consumers(layer.name):
            channels = [shape[0] for shape in self.e.workload.input_shapes(layer.name)]
            # a concat of concats is one concat of their inputs (concatenation is
            # associative): DenseNet's chains of views stay one level deep
            self.views[layer.name] = [part for name, c in zip(layer.inputs, channels)
                                      for part in self.views.get(name, [(name, c)])]
            return
        first = self._placement(layer.inputs[0])
        spans: dict[int, list[tuple[int, int]]] = {}
        for tile, a, b in zip(first.tiles, first.starts, first.stops):
            spans.setdefault(0 if tile == IO else tile, []).append((a, b))
        tiles = sorted(spans)
        weights = [sum(b - a for a, b in spans[t]) for t in tiles]
        shares = zip(tiles, proportional_split(ops, weights),
                     proportional_split(in_bytes, weights), proportional_split(out_bytes, weights))
        now = int(self.env.now)
        yield from until(self.env, max(
            [self._digital_share(layer, tile, spans[tile], first, o, i, w, now)
             for tile, o, i, w in shares], default=now))
        held = self.held.setdefault(layer.name, Holdings(first.axis, first.length))
        for tile in tiles:
            for a, b in spans[tile]:
                held.add(tile, a, b)
        yield from self.store(layer)

    def _digital_share(self, layer: Layer, tile: int, spans: list[tuple[int, int]],
                       first: Holdings, ops: int, in_bytes: int, out_bytes: int, at: int) -> int:
        """Book one tile's share of a pool, add or concat, requested at cycle ``at``: its
        gathers one after another, then the read of its inputs, its ops on the whole bank and
        the write of its output, each from the end of the one before; return the cycle it
        ends."""
        name = layer.name
        weights = [b - a for a, b in spans]
        for (a, b), part in zip(spans, proportional_split(in_bytes, weights)):
            at = self._gather(name, list(layer.inputs), tile, part,
                              Span(a, b, first.length, first.axis), at)
        port = self.chip.tile_ports[tile]
        at = self.chip.shift_add[tile].book_all(name, ops, at=port.book(name, in_bytes, "read",
                                                                         at=at))
        return port.book(name, out_bytes, "write", at=at)

    def view(self, layer: Layer) -> None:
        """A flatten holds its input's spans (or is the view its input is): no data moves."""
        if layer.inputs[0] in self.views:
            self.views[layer.name] = self.views[layer.inputs[0]]
            return
        source = self.held[layer.inputs[0]]
        self.held[layer.name] = Holdings(source.axis, source.length, list(source.starts),
                                         list(source.stops), list(source.tiles),
                                         dict(source.spilled))

    def partial_sums(self, layer: str, tile: int, size: int, key: Any, home: int, *,
                     adds: int) -> int:
        """A block's partial sums for column block ``key`` go, as they are made, to the
        column block's home tile (over the mesh unless it is the home), which writes them into
        its buffer; unless they start the column block's sum (``adds`` 0), the home reads its
        running sums and adds them (``adds`` outputs) on its shift-and-add units. All booked
        now: the home's write, read and add back to back from the sums' arrival (one
        read-modify-write [A]). Returns the cycle the home is done with them."""
        arrive = int(self.env.now)
        if tile != home:
            arrive = self.chip.mesh.book(layer, tile, home, size, arrive)
        port = self.chip.tile_ports[home]
        done = port.book(layer, size, "write", at=arrive)
        if adds:
            self.sums_added(layer, adds)
            done = port.book(layer, size, "read", at=done)
            done = self.chip.shift_add[home].book(layer, adds, at=done)
        return done

    def sums_added(self, layer: str, adds: int) -> None:
        """Record ``adds`` outputs added at their homes as the partial sums arrived (booked
        by ``partial_sums``, or for a whole part by ``block_bookings``)."""
        self.accumulated[layer] = self.accumulated.get(layer, 0) + adds

    def hold_sums(self, layer: str, sets: dict[Any, tuple[int, int]]) -> Proc:
        """Column blocks a part leaves unfinished (``key -> (home, bytes)``): each home keeps
        the running sums while it has room beside its live activations; the rest goes to
        DRAM, one transfer per home, until the part that continues them (``resume_sums``)."""
        spills: dict[int, int] = {}
        held = self.sets.setdefault(layer, {})
        for key, (home, size) in sets.items():
            kept = min(size, max(0, self.capacity - self.live[home]))
            self.live[home] += kept
            held[key] = (home, kept, size - kept)
            if size - kept:
                spills[home] = spills.get(home, 0) + size - kept
        if spills:
            yield from until(self.env, max(self._to_dram(layer, home, size)
                                           for home, size in spills.items()))

    def resume_sums(self, layer: str, sets: dict[Any, tuple[int, int]]) -> Proc:
        """Column blocks an earlier part left unfinished: their homes take back the running
        sums sent to DRAM (``hold_sums``), one transfer per home, and free the room of those
        they kept."""
        spills: dict[int, int] = {}
        for key in sets:
            home, kept, spilled = self.sets[layer].pop(key)
            self.live[home] -= kept
            if spilled:
                spills[home] = spills.get(home, 0) + spilled
        if spills:
            now = int(self.env.now)
            yield from until(self.env, max(self._move(layer, IO, home, size, now)
                                           for home, size in spills.items()))

    def reduce(self, layer: str, outputs: int, row_blocks: int,
               homes: dict[Any, tuple[int, Span]]) -> Proc:
        """The sums of the layer's ``outputs`` are complete at the homes (``homes``: key ->
        (home, output span)): each home reads its sums (``psum_bits``) and keeps its outputs
        (``input_bits``), split over the column blocks by span length. The adds were made as
        the partial sums arrived; any left (a block whose columns split a weight rounds its
        outputs down) run at the first home."""
        rest = outputs * (row_blocks - 1) - self.accumulated.pop(layer, 0)
        self.sets.pop(layer, None)
        keys = list(homes)
        weights = [homes[k][1].stop - homes[k][1].start for k in keys]
        by_home: dict[int, list[tuple[Span, int, int]]] = {}
        for k, size, sums in zip(keys, proportional_split(nbytes(outputs, self.e.act_bits),
                                                          weights),
                                 proportional_split(nbytes(outputs, self.e.psum_bits), weights)):
            home, span = homes[k]
            by_home.setdefault(home, []).append((span, size, sums))
        yield self.e.all_of(self._finish_sums(layer, home, sums, rest if i == 0 else 0)
                            for i, (home, sums) in enumerate(sorted(by_home.items())))

    def _finish_sums(self, layer: str, home: int, sums: list[tuple[Span, int, int]],
                     adds: int) -> Proc:
        port = self.chip.tile_ports[home]
        yield from port.access(layer, sum(p for _, _, p in sums), "read")
        yield from self.chip.shift_add[home].run(layer, adds)
        for span, size, _ in sums:
            yield from self.keep(layer, home, size, span)

    def merge_pieces(self, layer: str, moves: list[tuple[int, int, int]], adds: int) -> Proc:
        """Pieces of split vectors ``(tile, to tile, bytes)``: each over the mesh to the tile
        holding the rest of its vector, whose shift-and-add bank adds them (``adds`` outputs
        split in proportion to the bytes)."""
        now, banks = int(self.env.now), self.chip.shift_add
        adds_each = proportional_split(adds, [b for _, _, b in moves])
        yield from until(self.env, max(
            banks[dst].book_all(layer, a, at=self._move(layer, src, dst, size, now))
            for (src, dst, size), a in zip(moves, adds_each)))

    def coefficients(self, layer: str, size: int, tiles: list[int]) -> Proc:
        """A layer's coefficients read once from DRAM and multicast to its tiles."""
        yield from self.multicast_from_dram(layer, tiles, size)

    def deliver(self, layer: str, tile: int, size: int) -> Proc:
        """Nothing more: the multicast wrote the coefficients into every tile's buffer."""
        return
        yield


def _add_pieces(into: dict[int, list[int]], pieces: list[tuple[int, int, int]]) -> None:
    """Add ``pieces`` (holder, bytes, bytes of them spilled) to ``into`` (``_holders``)."""
    for tile, b, sp in pieces:
        entry = into.get(tile)
        if entry is None:
            entry = into[tile] = [0, 0]
        entry[0] += b
        entry[1] += sp
