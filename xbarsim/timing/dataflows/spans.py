"""Parts of an activation (*spans*) and which tile holds which (docs/design.md section 6.1).

A span is a range of positions along the axis a dataflow splits its work on (``VECTORS``: the
batch's output vectors in order, image-major; ``CHANNELS``: the channels in order), given with
the length of that axis. Spans of producer and consumer are matched by fraction of the
activation, so a tile that makes the first tenth of a layer's output vectors serves the tile
that needs the first tenth of the next layer's (halo rows ignored).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from xbarsim.util import proportional_split

VECTORS, CHANNELS = "vectors", "channels"
"""Axes a dataflow splits an activation on."""


@dataclass(frozen=True)
class Span:
    """Positions ``[start, stop)`` of an axis of ``length`` positions."""

    start: int
    stop: int
    length: int
    axis: str

    @staticmethod
    def whole(axis: str = VECTORS) -> Span:
        """All of an activation."""
        return Span(0, 1, 1, axis)


@dataclass
class Holdings:
    """Which tile holds which span of one activation (``IO``: DRAM), in order along its axis,
    and per tile the bytes of it that were spilled to DRAM."""

    axis: str
    length: int
    starts: list[int] = field(default_factory=list)
    stops: list[int] = field(default_factory=list)
    tiles: list[int] = field(default_factory=list)
    spilled: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Tile -> (bytes in DRAM, bytes it made); recorded with ``spill`` (which forgets the
    remembered pieces)."""
    _seen: set[tuple[int, int, int]] = field(default_factory=set, repr=False)
    _all_to_all: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict,
                                                               repr=False)
    """``pieces`` from another axis, by size (they depend on nothing else; a layer's tiles
    that each read the whole input ask for the same sizes): cleared when the spans or the
    spills change."""
    _layout: int | None = field(default=None, repr=False)
    """``layout``'s number, until the spans change."""

    def add(self, tile: int, start: int, stop: int) -> None:
        """Record that ``tile`` made positions ``[start, stop)`` (once, however many work items
        made them; merged with the last span when they continue it on the same tile)."""
        if (tile, start, stop) in self._seen:
            return
        self._seen.add((tile, start, stop))
        self._all_to_all.clear()
        self._layout = None
        if self.tiles and self.tiles[-1] == tile and self.stops[-1] == start:
            self.stops[-1] = stop
            return
        self.starts.append(start)
        self.stops.append(stop)
        self.tiles.append(tile)

    def sort(self) -> None:
        """Order the spans along the axis (parts of a layer may finish out of order)."""
        self._all_to_all.clear()
        self._layout = None
        order = sorted(range(len(self.starts)), key=lambda i: (self.starts[i], self.tiles[i]))
        self.starts = [self.starts[i] for i in order]
        self.stops = [self.stops[i] for i in order]
        self.tiles = [self.tiles[i] for i in order]

    def tile_bytes(self, size: int) -> dict[int, int]:
        """``size`` bytes (the whole activation) split over the tiles by the spans they hold."""
        shares = proportional_split(size, [b - a for a, b in zip(self.starts, self.stops)])
        held: dict[int, int] = {}
        for tile, share in zip(self.tiles, shares):
            held[tile] = held.get(tile, 0) + share
        return held

    def sources(self, span: Span, size: int) -> list[tuple[int, int]]:
        """(tile, bytes) holding the ``size`` bytes of ``span``: spans on the same axis by
        overlap of fractions (``a/A`` against ``b/B`` compared as ``a*B`` against ``b*A``);
        on another axis every span contributes in proportion to its length (all to all)."""
        if span.axis == self.axis:
            starts, stops, tiles, scale = self.starts, self.stops, self.tiles, span.length
            lo, hi = span.start * self.length, span.stop * self.length
            # the held spans (in order, disjoint) that overlap it: stops[i] * scale > lo and
            # starts[i] * scale < hi, i.e. stops[i] > lo // scale and starts[i] < ceil(hi / scale)
            first = bisect_right(stops, lo // scale)
            last = bisect_left(starts, -(-hi // scale), first)
            if last - first == 1 and lo < hi:  # the common case: one holder has it all
                return [(tiles[first], size)] if size else []
            if last - first == 2:  # the next: the span straddles two holders
                i, j = first, first + 1
                t0, t1 = tiles[i], tiles[j]
                s0, s1 = proportional_split(size, [
                    min(stops[i] * scale, hi) - max(starts[i] * scale, lo),
                    min(stops[j] * scale, hi) - max(starts[j] * scale, lo)])
                if t0 == t1:
                    return [(t0, s0 + s1)] if s0 + s1 else []
                return [(t, s) for t, s in ((t0, s0), (t1, s1)) if s]
            pairs = [(tiles[i], min(stops[i] * scale, hi) - max(starts[i] * scale, lo))
                     for i in range(first, last)]
        else:
            pairs = [(t, b - a) for t, a, b in zip(self.tiles, self.starts, self.stops)]
        split = proportional_split(size, [w for _, w in pairs])
        merged: dict[int, int] = {}
        for (tile, _), share in zip(pairs, split):
            if share:
                merged[tile] = merged.get(tile, 0) + share
        return list(merged.items())

    def layout(self, known: dict[tuple[object, ...], int]) -> int:
        """A number shared by every holdings of the same spans on the same tiles, on which
        alone ``sources`` depends (``known``: the layouts numbered so far); kept until the
        spans change. (DenseNet's concatenated outputs are mostly made alike.)"""
        if self._layout is None:
            key = (self.axis, self.length, *self.starts, None, *self.stops, None, *self.tiles)
            self._layout = known.setdefault(key, len(known))
        return self._layout

    def pieces(self, span: Span, size: int) -> list[tuple[int, int, int]]:
        """(tile, bytes, bytes of them in DRAM) of ``sources``: each holder's bytes spilled in
        the share it spilled of what it made. (The list is shared: read it, do not change
        it.)"""
        known = self._all_to_all.get(size) if span.axis != self.axis else None
        if known is None:
            known = self.with_spills(self.sources(span, size))
            if span.axis != self.axis:
                self._all_to_all[size] = known
        return known

    def with_spills(self, sources: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """``sources`` (tile, bytes) with the bytes of each in DRAM (``pieces``)."""
        spilled = self.spilled  # tile -> (dram, made): its bytes in DRAM in that share
        return [(tile, b, b * s[0] // s[1] if (s := spilled.get(tile)) and s[1] else 0)
                for tile, b in sources]

    def spill(self, tile: int, dram: int, made: int) -> None:
        """Record that ``dram`` of the ``made`` bytes ``tile`` holds went to DRAM."""
        self.spilled[tile] = (dram, made)
        self._all_to_all.clear()
