"""The tile mesh of the pipelined engine: XY-routed transfers, each directed link a resource.

Tiles sit on a w x w mesh (w = ceil(sqrt(tiles))), tile i at column i mod w, row i div w; the
chip's off-chip links (DRAM and host) enter at ``io_ports`` corner routers, a transfer to or
from a tile through the port nearest it (a multicast through the port nearest all its
destinations). A transfer takes the XY route (columns first, then rows) and, wormhole-style,
holds every link of the route at once for ceil(bytes / link width) cycles, then arrives
hops x hop_cycles later. A link serves one transfer at a time: two transfers sharing a link
serialize, two on disjoint routes overlap, and a transfer takes the earliest window in which
every link of its route is free (``windows.Windows``: it may use a window a link left idle while
an earlier transfer waited for another link of its route). Links are booked by time, so a
transfer costs no simulation event of its own. Energy is per byte per hop, as in ``noc.Noc``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xbarsim.config.schema import Noc as NocConfig
from xbarsim.numba_settings import jit
from xbarsim.timing.hw.clock import EPS, transfer_cycles
from xbarsim.timing.hw.stats import Counters
from xbarsim.timing.hw.windows import Windows, reserve_windows

IO = -1
"""Endpoint id of the chip's off-chip links (the I/O port nearest the other end)."""

TREES_TOGETHER = 3
"""Trees from which ``multicast_many`` books in one compiled call once the links are compiled
(fewer cost more as arrays). Static b64 on 16,128 crossbars, warm, one process alternating,
fastest of 5, compiled from 3 trees against Python: ResNet-18 CIFAR-100 1.57 against 1.79 s,
ResNet-34 ImageNet 1.61 against 1.81 s, ResNet-20 Fashion 1.91 both, ResNet-50 ImageNet 1.74
against 1.71 s."""

ROUTES_TOGETHER = TREES_TOGETHER
"""Transfers from which ``book_many`` books in one compiled call once the links are compiled
(DenseNet-121 ImageNet ``digital`` b1 on 16,128 crossbars gathers 3,864 times from 31 or 32
holders; most gathers have one or two)."""


@dataclass(frozen=True)
class Trees:
    """The XY trees of several multicasts (``Mesh.trees``), booked together
    (``Mesh.multicast_many``)."""

    multicasts: tuple[tuple[int, tuple[int, ...]], ...]
    """(source, destinations) of each."""
    links: tuple[tuple[int, ...], ...]
    """The links of each tree."""
    hops: tuple[int, ...]
    """Hops of each tree's bytes: its links, and the off-chip link of one from ``IO``."""
    farthest: tuple[int, ...]
    """Hops to each tree's farthest destination."""
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """For the compiled booking (``_book_trees``): the trees' links one after another, where
    each tree's start, and per tree its hops, farthest hops and destinations (int64)."""


class Mesh:
    """Directed links between neighbouring tile routers."""

    def __init__(self, cfg: NocConfig, tiles: int, counters: Counters, io_ports: int = 1) -> None:
        self.width = max(1, math.ceil(math.sqrt(tiles)))
        last_row = max(1, math.ceil(tiles / self.width)) - 1
        corners = [(0, 0), (self.width - 1, last_row), (self.width - 1, 0), (0, last_row)]
        self.ports = list(dict.fromkeys(corners[:io_ports]))
        """(column, row) of the routers the off-chip links enter at (a small mesh may have
        fewer distinct corners than ports)."""
        self.bytes_per_cycle = cfg.bytes_per_cycle
        self.hop_cycles = cfg.hop_cycles
        self.multicast_ok = cfg.multicast
        self.counters = counters
        # link id: 4 per router (east, west, south, north)
        self.windows = Windows(4 * self.width ** 2)
        self._routes: dict[tuple[int, int], tuple[int, ...]] = {}
        self._trees: dict[tuple[int, tuple[int, ...]], tuple[tuple[int, ...], int]] = {}
        """Multicast trees: (source, destinations) -> (links, longest route)."""
        self._route_sets: dict[tuple[tuple[int, int], ...], tuple[np.ndarray, ...]] = {}
        """``_book_routes``'s arrays per list of (source, destination): a layer's tiles gather
        from the same holders again and again (DenseNet-121 ImageNet ``digital`` b1: 3,948
        gathers of 252 distinct lists)."""

    @property
    def links(self) -> int:
        """Directed links that can be busy at once."""
        return len(self.windows)

    def position(self, tile: int) -> tuple[int, int]:
        """(column, row) of a tile, rows filled left to right. (A snake order, which keeps
        consecutive tiles adjacent, measured slower with XY routing: ResNet-18 CIFAR-100 +7%,
        ResNet-50 ImageNet +9% cycles per inference at batch 64 on isaac_like.)"""
        row, col = divmod(tile, self.width)
        return col, row

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """Link ids of the XY route from ``src`` to ``dst`` (tiles, or ``IO``)."""
        key = (src, dst)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = tuple(self._xy(src, dst))
        return route

    def _port(self, near: list[tuple[int, int]]) -> tuple[int, int]:
        """The I/O port with the least total distance to the positions ``near`` (ties: the
        first port)."""
        return min(self.ports, key=lambda p: sum(abs(p[0] - x) + abs(p[1] - y)
                                                 for x, y in near))

    def _xy(self, src: int, dst: int) -> list[int]:
        if src == IO and dst == IO:
            return []
        ends = [self.position(e) for e in (src, dst) if e != IO]
        start = self._port(ends) if src == IO else ends[0]
        return self._xy_between(start, self._port(ends) if dst == IO else ends[-1])

    def _xy_between(self, start: tuple[int, int], end: tuple[int, int]) -> list[int]:
        links = []
        x, y = start
        tx, ty = end
        while x != tx:
            step = 1 if tx > x else -1
            links.append(4 * (y * self.width + x) + (0 if step > 0 else 1))
            x += step
        while y != ty:
            step = 1 if ty > y else -1
            links.append(4 * (y * self.width + x) + (2 if step > 0 else 3))
            y += step
        return links

    def book(self, layer: str | None, src: int, dst: int, nbytes: int, now: int) -> int:
        """Reserve the route for ``nbytes`` requested at cycle ``now``; return the arrival cycle.

        The same tile as source and destination is no transfer (the data is already there)."""
        return self.book_many(layer, [(src, dst, nbytes)], now)

    def book_many(self, layer: str | None, moves: list[tuple[int, int, int]], now: int) -> int:
        """``book`` each ``(src, dst, nbytes)`` of ``moves``, requested at cycle ``now`` in
        that order (``ROUTES_TOGETHER`` or more in one compiled call once the links are
        compiled); return the last arrival (``now`` if nothing moves)."""
        if len(moves) >= ROUTES_TOGETHER and self.windows.compiled:
            return self._book_routes(layer, moves, now)
        routes, rate = self._routes, self.bytes_per_cycle
        arrive, busy, moved, byte_hops, hop_cycles = now, 0, 0, 0, self.hop_cycles
        for src, dst, nbytes in moves:
            if nbytes <= 0 or src == dst:
                continue
            links = routes.get((src, dst)) or self.route(src, dst)
            start = end = now
            if links:
                cycles = math.ceil(nbytes / rate - EPS)  # transfer_cycles, inlined (hot loop)
                start = self.windows.reserve(links, now, cycles)
                end = start + cycles
            hops = len(links) + (src == IO) + (dst == IO)
            busy += (end - start) * hops
            moved += nbytes
            byte_hops += nbytes * hops
            if end + hops * hop_cycles > arrive:
                arrive = end + hops * hop_cycles
        if moved:
            self.count_booked(layer, busy=busy, moved=moved, byte_hops=byte_hops)
        return arrive

    def _book_routes(self, layer: str | None, moves: list[tuple[int, int, int]], now: int) -> int:
        """``book_many`` in one compiled call: each route a tree of one destination, which
        ``_book_trees`` books as ``multicast_many`` does, the same formulas in the same order
        (a transfer within a tile, or of no bytes, moves nothing and is left out)."""
        moves = [(src, dst, n) for src, dst, n in moves if n > 0 and src != dst]
        if not moves:
            return now
        pairs = tuple([(src, dst) for src, dst, _ in moves])
        arrays = self._route_sets.get(pairs)
        if arrays is None:
            routes = [self.route(src, dst) for src, dst in pairs]
            arrays = self._route_sets[pairs] = (
                np.array([i for r in routes for i in r], dtype=np.int64),
                np.cumsum([0, *map(len, routes)], dtype=np.int64),
                np.array([len(r) + (src == IO) + (dst == IO) for r, (src, dst)
                          in zip(routes, pairs)], dtype=np.int64),
                np.ones(len(pairs), dtype=np.int64))
        links, offsets, hops, dsts = arrays
        totals = np.zeros(3, dtype=np.int64)
        arrive = int(_book_trees(
            *self.windows.arrays(), links, offsets, hops, hops, dsts,
            np.full(len(moves), now, dtype=np.int64),
            np.array([n for *_, n in moves], dtype=np.int64), self.bytes_per_cycle,
            self.hop_cycles, totals))
        busy, moved, byte_hops = totals.tolist()
        self.count_booked(layer, busy=busy, moved=moved, byte_hops=byte_hops)
        return max(now, arrive)

    def count_booked(self, layer: str | None, *, busy: int, moved: int, byte_hops: int) -> None:
        """Count transfers booked (here, or by compiled code: ``block_bookings``): links held
        ``busy`` cycles in all, ``moved`` bytes delivered over ``byte_hops``."""
        self.counters.add_busy("mesh_link", busy)
        self.counters.add(layer, "noc_bytes", moved)
        self.counters.add(layer, "noc_byte_hops", byte_hops)

    def multicast(self, layer: str | None, src: int, dsts: list[int], nbytes: int,
                  now: int) -> int:
        """Reserve the tree of XY routes from ``src`` to every tile of ``dsts`` for ``nbytes``
        (each link of the tree carries them once), requested at cycle ``now``; return the
        cycle the farthest destination has them. Without ``noc.multicast``: one ``book`` per
        destination, in order. ``noc_bytes`` counts the bytes delivered
        (``nbytes`` per destination other than the source), ``noc_byte_hops`` the tree's."""
        dsts = [d for d in dsts if d != src]
        if nbytes <= 0 or not dsts:
            return now
        if not self.multicast_ok:
            return self.book_many(layer, [(src, d, nbytes) for d in dsts], now)
        links, farthest = self._tree(src, tuple(dsts))
        cycles = transfer_cycles(nbytes, self.bytes_per_cycle) if links else 0
        start = self.windows.reserve(links, now, cycles) if links else now
        io_hop = int(src == IO)
        hops = len(links) + io_hop
        self.count_booked(layer, busy=cycles * hops, moved=nbytes * len(dsts),
                          byte_hops=nbytes * hops)
        farthest += io_hop
        return start + cycles + farthest * self.hop_cycles

    def trees(self, multicasts: Sequence[tuple[int, tuple[int, ...]]]) -> Trees:
        """The trees of multicasts given as (source, destinations other than the source)."""
        trees = [self._tree(src, dsts) for src, dsts in multicasts]
        links = tuple(t[0] for t in trees)
        hops = tuple(len(t[0]) + (src == IO) for t, (src, _) in zip(trees, multicasts))
        farthest = tuple(t[1] + (src == IO) for t, (src, _) in zip(trees, multicasts))
        arrays = (np.array([i for tree in links for i in tree], dtype=np.int64),
                  np.cumsum([0, *map(len, links)], dtype=np.int64),
                  np.array(hops, dtype=np.int64), np.array(farthest, dtype=np.int64),
                  np.array([len(d) for _, d in multicasts], dtype=np.int64))
        return Trees(multicasts=tuple(multicasts), links=links, hops=hops, farthest=farthest,
                     arrays=arrays)

    def multicast_many(self, layer: str | None, trees: Trees, sizes: Sequence[int],
                       nows: Sequence[int]) -> int:
        """``multicast`` of ``sizes[k]`` bytes over tree ``k`` of ``trees`` requested at cycle
        ``nows[k]``, for each k in turn (``TREES_TOGETHER`` or more in one compiled call once
        the links are compiled); return the last arrival (``multicast``'s: a multicast of no
        bytes arrives when requested)."""
        if len(sizes) == 1:  # nothing to share
            (src, dsts), = trees.multicasts
            return self.multicast(layer, src, list(dsts), sizes[0], nows[0])
        arrive = max(nows, default=0)
        if not self.multicast_ok:
            for (src, dsts), n, now in zip(trees.multicasts, sizes, nows):
                arrive = max(arrive, self.multicast(layer, src, list(dsts), n, now))
            return arrive
        rate = self.bytes_per_cycle
        if len(sizes) >= TREES_TOGETHER and self.windows.compiled:
            totals = np.zeros(3, dtype=np.int64)
            arrive = max(arrive, int(_book_trees(*self.windows.arrays(), *trees.arrays,
                                                 np.asarray(nows, dtype=np.int64),
                                                 np.asarray(sizes, dtype=np.int64), rate,
                                                 self.hop_cycles, totals)))
            busy, moved, byte_hops = totals.tolist()
        else:
            cycles = [transfer_cycles(n, rate) if links else 0
                      for n, links in zip(sizes, trees.links)]
            starts = self.windows.reserve_many(trees.links, nows, cycles)
            busy = moved = byte_hops = 0
            for k, n in enumerate(sizes):
                if n > 0:
                    busy += cycles[k] * trees.hops[k]
                    moved += n * len(trees.multicasts[k][1])
                    byte_hops += n * trees.hops[k]
                    arrive = max(arrive, starts[k] + cycles[k]
                                 + trees.farthest[k] * self.hop_cycles)
        if moved:
            self.count_booked(layer, busy=busy, moved=moved, byte_hops=byte_hops)
        return arrive

    def _tree(self, src: int, dsts: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
        """The links of the tree of XY routes from ``src`` to every tile of ``dsts`` (none of
        them ``src``), and the longest route's."""
        key = (src, dsts)
        tree = self._trees.get(key)
        if tree is None:
            ends = [self.position(d) for d in dsts]
            # from DRAM, the port nearest all the destinations feeds the whole tree
            tree = self._trees[key] = self._xy_tree(
                self._port(ends) if src == IO else self.position(src), ends)
        return tree

    def _xy_tree(self, start: tuple[int, int],
                 ends: list[tuple[int, int]]) -> tuple[tuple[int, ...], int]:
        """``_tree`` from position ``start`` to positions ``ends``, without building each
        route: an XY route runs along the start's row to the end's column, then along that
        column, so the routes together cover the start's row out to the farthest end on each
        side, and each end column from the start's row out to its farthest end on each side
        (the links ``_xy_between`` numbers)."""
        (sx, sy), width = start, self.width
        column_rows: dict[int, list[int]] = {}
        for x, y in ends:
            column_rows.setdefault(x, []).append(y)
        row = 4 * sy * width
        links = [row + 4 * x for x in range(sx, max(column_rows))]  # east
        links += [row + 4 * x + 1 for x in range(min(column_rows) + 1, sx + 1)]  # west
        for x, rows in column_rows.items():
            links += [4 * (y * width + x) + 2 for y in range(sy, max(rows))]  # south
            links += [4 * (y * width + x) + 3 for y in range(min(rows) + 1, sy + 1)]  # north
        longest = max(abs(x - sx) + abs(y - sy) for x, y in ends)
        return tuple(sorted(links)), longest


@jit
def _book_trees(starts: np.ndarray, ends: np.ndarray, counts: np.ndarray, free_at: np.ndarray,
                links: np.ndarray, offsets: np.ndarray, hops: np.ndarray, farthest: np.ndarray,
                dsts: np.ndarray, nows: np.ndarray, sizes: np.ndarray, rate: float,
                hop_cycles: int, totals: np.ndarray) -> int:  # pragma: no cover (compiled)
    """``Mesh.multicast_many`` on the links' windows (``Windows.arrays``), and ``book_many``
    (each route a tree of one destination): tree k's links are
    ``links[offsets[k]:offsets[k + 1]]``; ``totals`` gets the links' busy cycles, the bytes
    delivered and the byte-hops. Returns the last arrival of a transfer of bytes (0 if
    none)."""
    arrive = 0
    for k in range(len(sizes)):
        n, first, last = sizes[k], offsets[k], offsets[k + 1]
        cycles = 0
        if last > first and n > 0:
            cycles = math.ceil(n / rate - EPS)  # transfer_cycles
        start = nows[k]
        if cycles > 0:
            start = reserve_windows(starts, ends, counts, free_at, links[first:last], nows[k],
                                    cycles)
        if n > 0:
            totals[0] += cycles * hops[k]
            totals[1] += n * dsts[k]
            totals[2] += n * hops[k]
            arrive = max(arrive, start + cycles + farthest[k] * hop_cycles)
    return arrive
