"""The basis-combination dataflow (BasisN): a global basis written once, layers combined digitally.

Each MVM layer needs N * P * G * S segment projections (S = ceil(K / L)); they are spread evenly
over the projection units (crossbars, or crossbar groups for a copy larger than one crossbar).
A projection takes t reads and converts B * s * d columns; a crossbar serves up to
``parallel_per_crossbar`` projections per read. The tile's coefficient combiner then does one MAC
per nonzero coefficient (``digital_macs`` = N * P * sum of nnz), reading each coefficient from
the coefficient buffer. Nothing is written per inference; the basis copies are the setup.
A vector whose projections land in several tiles is combined in pieces, then the pieces are
added (``gather``).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from dataclasses import dataclass

import simpy

from xbarsim.basis.copies import BasisFootprint, basis_encoding
from xbarsim.basis.timing_spec import BasisSpec
from xbarsim.config.schema import Combine
from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.engine import Engine, Proc
from xbarsim.timing.dataflows.spans import VECTORS, Span
from xbarsim.timing.dataflows.tile_memory import TileMemory
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.clock import until
from xbarsim.timing.hw.write_verify import BlockWrite
from xbarsim.util import ceil_div, even_split, nbytes, proportional_split
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import Layer


@dataclass(frozen=True)
class UnitShare:
    """One projection unit's share of a layer's work (the layer's totals split over units)."""

    projections: int
    macs: int
    """Digital combine: one per nonzero coefficient and vector."""
    outputs: int
    in_bytes: int
    steps: int
    """Analog combine: read steps (zero for digital combine)."""
    conversions: int
    """Analog combine: conversions (zero for digital combine)."""



@dataclass(frozen=True)
class TileReads:
    """What the projections of a tile's units take (``BasisDataflow.tile_projections``)."""

    cycles: int
    """The busiest unit's crossbar reads, then the shift-and-add waves."""
    reads: int
    dac: int
    adc: int
    crossbar_busy: int
    """Crossbar cycles, summed over the units."""
    shift_busy: int
    """Shift-and-add unit cycles, summed over the units."""
    shift_ops: int


class BasisDataflow(Engine):
    """Runs every MVM layer as basis projections plus coefficient combination."""

    def __init__(self, chip: Chip, workload: Workload, enc: Encoding, batch: int,
                 per_vector_events: bool, spec: BasisSpec) -> None:
        super().__init__(chip, workload, enc, batch, per_vector_events)
        self.spec = spec
        self.basis_enc = basis_encoding(enc, spec.basis_bits)
        self.footprint = BasisFootprint(spec.length, spec.size, self.basis_enc)
        crossbars = chip.arch.chip.crossbars
        self.footprint.check_fits(crossbars)
        per_unit = 1 if self.footprint.parallel_per_crossbar >= 1 else (
            self.footprint.crossbars_per_copy)
        self.units = [list(range(u * per_unit, (u + 1) * per_unit))
                      for u in range(self.footprint.units(crossbars))]
        self.par = max(1, self.footprint.parallel_per_crossbar)
        """Projections one read serves side by side (at least one)."""
        self._pieces = self.pieces()
        self.tile_free_at = [0] * chip.tiles
        """Cycle each tile's crossbars are next free for a layer's projections (booked by time,
        in request order: layers running side by side take turns on a tile)."""
        self._tile_reads: dict[tuple[tuple[int, int], ...], TileReads] = {}
        """``tile_projections``'s work by the tile's shares (every crossbar and bank alike)."""
        self._streams: dict[str, int] = {}
        """Per layer, the cycle the coefficient refill stream its tiles share ends (no global
        buffer)."""
        self.tile_units: dict[int, list[int]] = {}
        """Projection units (ascending) of each tile that holds one, by their first crossbar."""
        for u, slots in enumerate(self.units):
            self.tile_units.setdefault(chip.tile_of(slots[0]), []).append(u)

    def pieces(self) -> list[tuple[int, int]]:
        """(rows, cols) of each crossbar of a unit, as used by one read."""
        f, rows, cols = self.footprint, self.enc.rows, self.enc.cols
        if f.parallel_per_crossbar >= 1:
            par = f.parallel_per_crossbar
            return [(par * f.length, par * f.cols_per_copy)]
        return [(min(rows, f.length - i * rows), min(cols, f.cols_per_copy - j * cols))
                for i in range(ceil_div(f.length, rows))
                for j in range(ceil_div(f.cols_per_copy, cols))]

    def setup(self) -> Proc:
        """Write every copy of the basis once (the setup of this dataflow)."""
        f = self.footprint
        if f.parallel_per_crossbar >= 1:
            used = [((self.enc.rows // f.length) * f.length,
                     (self.enc.cols // f.cols_per_copy) * f.cols_per_copy)]
        else:
            used = self.pieces()
        yield from self.program_tiles((slot, BlockWrite("basis", r, c))
                                      for unit in self.units for slot, (r, c) in zip(unit, used))

    def schedule(self) -> Proc:
        """Start every MVM layer; each waits for its inputs."""
        yield self.all_of(self.run_basis_layer(la) for la in self.workload.layers if la.is_mvm)

    def run_basis_layer(self, layer: Layer) -> Proc:
        """Project, combine and store one layer."""
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        self.start[layer.name] = int(self.env.now)
        self.rounds_of[layer.name] = 1
        with self.chip.activity.busy("compute"):
            spec, name = self.spec, layer.name
            vectors = self.batch * self.workload.out_pixels(name)
            projections = vectors * layer.groups * spec.segments[name]
            coeff_bytes = self.coefficient_bytes(name)
            in_bytes = nbytes(self.batch * math.prod(self.workload.input_shape_of(name)),
                              self.act_bits)
            if self.spec.combine is Combine.ANALOG:
                share = even_split(projections, len(self.units))
                work = [UnitShare(*w) for w in zip(
                    share, proportional_split(vectors * spec.nnz[name], share),
                    proportional_split(vectors * layer.out_channels, share),
                    proportional_split(in_bytes, share), *self.analog_work(name, vectors, share))]
                per_tile = [sum(share[u] for u in units) for units in self.tile_units.values()]
                yield from self.memory.coefficients(name, coeff_bytes, self._busy(per_tile))
                self.share_refills(name, {
                    tile: max(work[u].in_bytes for u in units) * len(units)
                    for tile, units in self.tile_units.items()
                    if any(work[u].projections for u in units)})
                starts = _starts(share)
                yield self.all_of(
                    self.run_unit(name, self.units[u], w,
                                  Span(starts[u], starts[u] + w.projections, projections, VECTORS))
                    for u, w in enumerate(work) if w.projections)
                yield from self.gather(layer, per_tile)
            else:
                # the even split over units, summed per tile: the first ``extra`` units take
                # one projection more; the other quantities follow the tiles' projections
                base, extra = divmod(projections, len(self.units))
                shares = [unit_shares(base, bisect_left(units, extra), len(units))
                          for units in self.tile_units.values()]
                tile_projections = [sum(p * n for p, n in c) for c in shares]
                work = [UnitShare(*w, 0, 0) for w in zip(
                    tile_projections,
                    proportional_split(vectors * spec.nnz[name], tile_projections),
                    proportional_split(vectors * layer.out_channels, tile_projections),
                    proportional_split(in_bytes, tile_projections))]
                yield from self.memory.coefficients(name, coeff_bytes,
                                                    self._busy(tile_projections))
                self.share_refills(name, {
                    tile: nbytes(p * spec.size, self.psum_bits)
                    for tile, p in zip(self.tile_units, tile_projections) if p})
                tiles = [(tile, self.units[units[0]][0], counts, w,
                          Span(start, start + w.projections, projections, VECTORS))
                         for (tile, units), counts, w, start
                         in zip(self.tile_units.items(), shares, work,
                                _starts(tile_projections)) if w.projections]
                if isinstance(self.memory, TileMemory):
                    now = int(self.env.now)
                    ends = [self.book_tile(name, *t) for t in tiles]
                    # the tiles are done when their refills are too (``share_refills``)
                    yield from until(self.env, max([self._streams.get(name, now), *ends]))
                else:
                    yield self.all_of(self.run_tile(name, *t) for t in tiles)
                yield from self.gather(layer, tile_projections)
            yield from self.store_output(layer)
        self.finish(layer.name)

    def _busy(self, tile_projections: list[int]) -> list[int]:
        """The tiles with projections to do (the order of ``tile_units``)."""
        return [t for t, p in zip(self.tile_units, tile_projections) if p]

    def gather(self, layer: Layer, tile_projections: list[int]) -> Proc:
        """Merge the partial outputs of vectors whose projections landed in two or more tiles
        (``split_vectors``): each later piece's outputs, ``psum_bits`` each, go from its tile
        to where the rest is added (the global buffer's vector unit, or the tile holding the
        vector's start; docs/design.md 6.5). Within a tile the combiner (or, analog, the
        shift-and-add) merges them."""
        outputs = layer.out_channels // layer.groups
        tiles = list(self.tile_units)
        pieces = split_vectors(tile_projections, self.spec.segments[layer.name])
        if not any(pieces):
            return
        moves, previous = [], tiles[0]
        for tile, n, p in zip(tiles, pieces, tile_projections):
            if n:
                moves.append((tile, previous, nbytes(n * outputs, self.psum_bits)))
            if p:
                previous = tile
        yield from self.memory.merge_pieces(layer.name, moves, sum(pieces) * outputs)

    def run_tile(self, layer: str, tile: int, slot: int, shares: list[tuple[int, int]],
                 total: UnitShare, span: Span) -> Proc:
        """The units of one tile, digital combine, as one process (``shares``: units per
        projection count; ``total``: the tile's sums): their inputs arrive in one transfer;
        then the stages run side by side (``_book_stages``), the drain and any coefficient
        refills as processes (docs/design.md section 6.5); ``span``: its projections among the
        layer's."""
        yield from self.send_to_tile(layer, tile, total.in_bytes, span)
        yield from self.receive_coefficients(layer, tile)
        end = self._book_stages(layer, tile, slot, shares, total, int(self.env.now))
        yield self.all_of([
            self.drain(layer, tile, nbytes(total.outputs, self.act_bits), span),
            *self.refill_coefficients(layer, tile, self._projection_bytes(total))])
        yield from until(self.env, end)

    def book_tile(self, layer: str, tile: int, slot: int, shares: list[tuple[int, int]],
                  total: UnitShare, span: Span) -> int:
        """``run_tile`` booked at once, requested now, when the memory books by time (the tile
        buffers, ``TileMemory``): the gather, then from the cycle the inputs are in, the
        stages and the write of the outputs the tile keeps. Return the cycle the last ends.
        (The coefficients were multicast into the tile's buffer, its refills are the layer's
        shared stream: ``share_refills``.)"""
        assert isinstance(self.memory, TileMemory)
        ready = self.memory.book_fetch(layer, tile, total.in_bytes, span)
        return max(self._book_stages(layer, tile, slot, shares, total, ready),
                   self.memory.book_keep(layer, tile, nbytes(total.outputs, self.act_bits),
                                         span, at=ready))

    def _projection_bytes(self, total: UnitShare) -> int:
        """A tile's projections, ``psum_bits`` each."""
        return nbytes(total.projections * self.spec.size, self.psum_bits)

    def _book_stages(self, layer: str, tile: int, slot: int, shares: list[tuple[int, int]],
                     total: UnitShare, at: int) -> int:
        """Book a tile's stages side by side, requested at cycle ``at``: the buffer read of its
        inputs, its units' projections, the projections' write and the combiner; return the
        cycle the last ends."""
        port = self.chip.tile_ports[tile]
        proj_bytes = self._projection_bytes(total)
        return max(
            port.book(layer, nbytes(total.projections * self.spec.length, self.act_bits),
                      "read", at=at),
            self.tile_projections(layer, tile, slot, shares, at),
            port.book(layer, proj_bytes, "write", at=at),
            self.book_combine(layer, tile, total.macs, proj_bytes, at))

    def tile_projections(self, layer: str, tile: int, slot: int,
                         shares: list[tuple[int, int]], at: int) -> int:
        """Book the projections of every unit of a tile, at once, requested at cycle ``at``;
        return the cycle they end. The tile's crossbars are one resource (layers running side
        by side take turns on a tile)."""
        key = tuple(shares)
        work = self._tile_reads.get(key)
        if work is None:  # a layer's tiles mostly have the same shares
            work = self._tile_reads[key] = self._reads_of(shares, slot, tile)
        counters = self.chip.counters
        counters.add(layer, "xbar_reads", work.reads)
        counters.add(layer, "dac_conversions", work.dac)
        counters.add(layer, "adc_conversions", work.adc)
        counters.add(layer, "shift_add_ops", work.shift_ops)
        counters.add_busy("crossbar", work.crossbar_busy)
        counters.add_busy("shift_add", work.shift_busy)
        self.tile_free_at[tile] = max(at, self.tile_free_at[tile]) + work.cycles
        return self.tile_free_at[tile]

    def _reads_of(self, shares: list[tuple[int, int]], slot: int, tile: int) -> TileReads:
        """``TileReads`` of a tile's units with ``shares`` (units per projection count). A
        unit's full steps take t reads of ``parallel_per_crossbar`` projections, a last partial
        step t reads of the rest; each read's conversions are then merged on a shift-and-add
        unit (the tile's bank serves its units ``shift_add.units`` at a time)."""
        t, par = self.enc.t, self.par
        xbar, bank = self.chip.xbars[slot], self.chip.shift_add[tile]
        longest, units, largest = 0, 0, 0
        reads_done, dac, adc, busy, shift_busy, shift_ops = 0, 0, 0, 0, 0, 0
        # units with the same share do the same work (shares differ by at most one): each
        # distinct share is worked out once and counted for all its units
        for p, units_with_p in shares:
            if p == 0 or units_with_p == 0:
                continue
            full, rem = divmod(p, par)
            unit_cycles, unit_ops = 0, 0
            for rows, cols in self._pieces:
                reads = [(full * t, rows, cols)]
                if rem:
                    reads.append((t, rows // par * rem, cols // par * rem))
                cycles = 0
                for n, r, c in reads:
                    if n:
                        cycles += xbar.read_time(n, c, first=cycles == 0)
                        reads_done += n * units_with_p
                        dac += n * r * units_with_p
                        adc += n * c * units_with_p
                        unit_ops += n * c
                busy += cycles * units_with_p
                unit_cycles = max(unit_cycles, cycles)
            longest = max(longest, unit_cycles)
            units += units_with_p
            largest = max(largest, unit_ops)
            shift_busy += math.ceil(unit_ops / bank.ops_per_cycle) * units_with_p
            shift_ops += unit_ops * units_with_p
        waves = ceil_div(units, self.chip.arch.tile.shift_add.units)
        return TileReads(longest + waves * math.ceil(largest / bank.ops_per_cycle), reads_done,
                         dac, adc, busy, shift_busy, shift_ops)

    def receive_coefficients(self, layer: str, tile: int) -> Proc:
        """The layer's coefficients into the tile's buffer: a tile combines every output of
        its vectors (multicast, ``ActivationMemory.coefficients``)."""
        yield from self.memory.deliver(layer, tile, self.coefficient_bytes(layer))

    def coefficient_bytes(self, layer: str) -> int:
        """A layer's coefficients: its nonzeros at ``coeff_bits``."""
        return nbytes(self.spec.nnz[layer], self.spec.coeff_bits)

    def coefficient_refills(self, layer: str, held_bytes: int) -> int:
        """Coefficient bytes a tile fetches again because they exceed its coefficient buffer:
        the tile works through the data it combines (``held_bytes``: projections, or input
        segments under analog combination) in groups that fit its tile buffer, and streams the
        layer's coefficients through the coefficient buffer once per group (docs/design.md
        6.5). None when the coefficients fit: they stay for the whole layer."""
        coeff = self.coefficient_bytes(layer)
        tile = self.chip.arch.tile
        if coeff <= tile.combiner.coeff_buffer_kib * 1024:
            return 0
        return (ceil_div(held_bytes, tile.buffer.kib * 1024) - 1) * coeff

    def share_refills(self, layer: str, held: dict[int, int]) -> None:
        """Without a global buffer, the tiles of a layer that refill (``held``: each tile's
        held bytes) share one stream: the most refills any of them needs, read once from DRAM
        and multicast to all of them while they combine (docs/design.md 6.5), booked when the
        layer starts, before the tiles' own transfers."""
        if isinstance(self.memory, TileMemory):
            sizes = {t: self.coefficient_refills(layer, h) for t, h in held.items()}
            if any(sizes.values()):
                self._streams[layer] = self.memory.book_stream(
                    layer, [t for t, size in sizes.items() if size], max(sizes.values()))

    def refill_coefficients(self, layer: str, tile: int, held_bytes: int,
                            units: int = 1) -> list[Proc | simpy.Event]:
        """The stage fetching a tile's coefficient refills while it combines (none when it
        refills nothing): from the global buffer when the layer's coefficients fit in half of
        it (like activations), else from DRAM; then over the NoC into the tile. With
        ``units``, one unit's even share of the tile's refills (``held_bytes`` is still the
        tile's). Without a global buffer: the layer's shared stream (``share_refills``)."""
        size = self.coefficient_refills(layer, held_bytes) // units
        if not size:
            return []
        if layer in self._streams:
            return [until(self.env, self._streams[layer])]
        return [self._refill(layer, tile, size)]

    def _refill(self, layer: str, tile: int, size: int) -> Proc:
        """Move ``size`` refill bytes to ``tile`` (``refill_coefficients``)."""
        resident = self.coefficient_bytes(layer) <= self.chip.global_buffer_bytes // 2
        yield from self.memory.to_tile(layer, tile, size, resident=resident)

    def analog_work(self, name: str, vectors: int, share: list[int]) -> list[list[int]]:
        """Per unit: analog-combine read steps and conversions (zeros for digital combine)."""
        if self.spec.combine is not Combine.ANALOG:
            return [[0] * len(share)] * 2
        t, sd = self.enc.t, self.basis_enc.columns_per_weight
        return [proportional_split(vectors * t * self.spec.analog_steps[name], share),
                proportional_split(vectors * t * sd * self.spec.analog_active[name], share)]

    def run_unit(self, layer: str, slots: list[int], w: UnitShare, span: Span) -> Proc:
        """One unit's share (``span``: its projections among the layer's): inputs in,
        projections, combination, outputs out."""
        tile = self.chip.tile_of(slots[0])
        yield from self.send_to_tile(layer, tile, w.in_bytes, span)
        yield from self.receive_coefficients(layer, tile)
        stages: list[Proc | simpy.Event] = [self.chip.tile_ports[tile].access(
            layer, nbytes(w.projections * self.spec.length, self.act_bits), "read")]
        if self.spec.combine is Combine.ANALOG:
            stages += self.analog_stages(layer, tile, slots, w.projections, w.steps,
                                         w.conversions)
            self.chip.counters.add(layer, "coeff_buffer_bytes",
                                   nbytes(w.macs, self.spec.coeff_bits))
        else:
            stages += self.digital_stages(layer, tile, slots, w.projections, w.macs)
        units = len(self.tile_units[tile])
        stages += self.refill_coefficients(layer, tile, w.in_bytes * units, units)
        stages.append(self.drain(layer, tile, nbytes(w.outputs, self.act_bits), span))
        yield self.all_of(stages)

    def digital_stages(self, layer: str, tile: int, slots: list[int], projections: int,
                       macs: int) -> list[Proc]:
        """Project (B values per projection) then combine with one MAC per nonzero."""
        t = self.enc.t
        par = self.par
        full, rem = divmod(projections, par)
        proj_bytes = nbytes(projections * self.spec.size, self.psum_bits)
        # the last, partly filled step reads its ``rem`` copies side by side: t reads
        stages = [self.crossbar_reads(layer, slot, tile, full * t, rows, cols,
                                      t if rem else 0, rows // par * rem, cols // par * rem)
                  for slot, (rows, cols) in zip(slots, self._pieces)]
        stages.append(self.chip.tile_ports[tile].access(layer, proj_bytes, "write"))
        stages.append(self.combine(layer, tile, macs, proj_bytes))
        return stages

    def analog_stages(self, layer: str, tile: int, slots: list[int], projections: int,
                      steps: int, conversions: int) -> list[Proc]:
        """Summed bit lines converted once per output group and bit-plane, then shift-add.

        Each step is a read of L rows; ``parallel_per_crossbar`` copies take steps side by
        side; a copy split over crossbars converts its columns in proportion on each.
        """
        par = self.par
        pieces = self._pieces
        cols = [c for _, c in pieces]
        stages = []
        for slot, (rows, _), conv in zip(slots, pieces, proportional_split(conversions, cols)):
            stages.append(self.unit_reads(layer, slot, tile, ceil_div(steps, par),
                                          steps * min(rows, self.spec.length), conv))
        return stages

    def unit_reads(self, layer: str, slot: int, tile: int, reads: int, dac: int,
                   conversions: int) -> Proc:
        """Crossbar reads with a given conversion count, then their shift-adds."""
        yield from self.chip.xbars[slot].operate(layer, reads, dac, conversions, first=True)
        yield from self.chip.shift_add[tile].run(layer, conversions)

    def crossbar_reads(self, layer: str, slot: int, tile: int, reads: int, rows: int, cols: int,
                       rem_reads: int, rem_rows: int, rem_cols: int) -> Proc:
        """Full-width reads, then the reads of a last, partly filled step; shift-add each."""
        xbar = self.chip.xbars[slot]
        yield from xbar.compute(layer, reads, rows, cols, first=True)
        yield from self.chip.shift_add[tile].run(layer, reads * cols)
        if rem_reads:
            yield from xbar.compute(layer, rem_reads, rem_rows, rem_cols, first=reads == 0)
            yield from self.chip.shift_add[tile].run(layer, rem_reads * rem_cols)

    def combine(self, layer: str, tile: int, macs: int, proj_bytes: int) -> Proc:
        """Coefficient combiner: read projections and coefficients, one MAC per nonzero."""
        yield from until(self.env, self.book_combine(layer, tile, macs, proj_bytes,
                                                     int(self.env.now)))

    def book_combine(self, layer: str, tile: int, macs: int, proj_bytes: int, at: int) -> int:
        """``combine`` booked, requested at cycle ``at``: the projections' read, then the MACs
        on the combiner from its end; return the cycle the MACs end."""
        read = self.chip.tile_ports[tile].book(layer, proj_bytes, "read", at=at)
        self.chip.counters.add(layer, "coeff_buffer_bytes", nbytes(macs, self.spec.coeff_bits))
        return self.chip.combiners[tile].book(layer, macs, at=read)


AGGREGATE = True
"""Simulate the units of a tile that have the same share once, with their count as a
multiplicity (exact: they do the same work); False simulates every unit on its own (the
equivalence test)."""


def unit_shares(base: int, larger: int, units: int) -> list[tuple[int, int]]:
    """(projections, units) of a tile whose first ``larger`` units take ``base + 1``
    projections and the rest ``base``: two entries, or one per unit without aggregation."""
    pairs = [(base + 1, larger), (base, units - larger)]
    if AGGREGATE:
        return pairs
    return [(p, 1) for p, n in pairs for _ in range(n)]


def _starts(counts: list[int]) -> list[int]:
    """Where each of consecutive runs of ``counts`` starts."""
    return list(itertools.accumulate([0, *counts[:-1]]))


def split_vectors(tile_projections: list[int], segments: int) -> list[int]:
    """Per tile (in order), how many of its vector pieces continue a vector begun in an earlier
    tile: the projections are dealt out in order, ``segments`` per vector (and group), each
    tile a contiguous run; a run that starts inside a vector continues it (one piece)."""
    pieces, start = [], 0
    for count in tile_projections:
        pieces.append(1 if count and start % segments else 0)
        start += count
    return pieces
