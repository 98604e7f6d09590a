"""A reprogram part's blocks booked in one compiled call, once the mesh books with compiled code.

Every block of a part is booked at the same cycle, in block order (``RoundsDataflow``): its
tile port reads the block's inputs, its crossbar reads, a shift-and-add unit of its tile merges
the conversions; its partial sums cross the mesh to their column block's home, whose port
writes them and, unless they start the sum, reads the running sums for a shift-and-add unit to
add them (``TileMemory.partial_sums``). ``book_blocks`` makes exactly those bookings (the same
formulas for the cycles, the same order, the same mesh search) on arrays gathered from the
units and written back after, and counts the same totals. VGG-16 ImageNet reprogram books
67,576 blocks, about 20 us each in Python; ``tests/test_tile_memory.py`` checks both ways book
the same windows and counts (``test_blocks_booked_together_are_booked_as_one_by_one``) and
give the same CSVs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from xbarsim.numba_settings import jit
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.clock import transfer_cycles
from xbarsim.timing.hw.windows import reserve_windows
from xbarsim.util import ceil_div


@dataclass(frozen=True)
class BlockBookings:
    """Per block of a part (int64 arrays, in block order): where it runs and what it books."""

    slots: np.ndarray
    """Distinct: a part's blocks each have their own crossbar (``plan_rounds``)."""
    tiles: np.ndarray
    homes: np.ndarray
    """Home tile of the block's column block, where its partial sums are added."""
    in_bytes: np.ndarray
    """Inputs its tile port reads (0: the IMA's input register has them)."""
    reads: np.ndarray
    dac: np.ndarray
    conversions: np.ndarray
    sum_bytes: np.ndarray
    """Partial sums sent to the home."""
    adds: np.ndarray
    """Outputs the home adds (0: the block starts its column block's sum)."""


def book_blocks(chip: Chip, layer: str, blocks: BlockBookings, now: int,
                known: dict[tuple[tuple[int, ...], ...], np.ndarray] | None = None
                ) -> np.ndarray:
    """Book every block of ``blocks`` requested at cycle ``now`` and count it; return, per
    block, the cycle its home is done with its partial sums or its stages end, whichever is
    later. (The mesh's windows switch to the compiled search if they had not.) ``known``:
    the cycles of the sequences of block shapes seen so far on this chip, kept by the caller
    (a layer's rounds mostly repeat theirs)."""
    shapes = tuple(zip(blocks.in_bytes.tolist(), blocks.reads.tolist(),
                       blocks.conversions.tolist(), blocks.sum_bytes.tolist(),
                       blocks.adds.tolist()))
    if known is None:
        known = {}
    costs = known.get(shapes)
    if costs is None:
        costs = known[shapes] = _costs(chip, shapes)
    mesh = chip.mesh
    tiles, homes = blocks.tiles.tolist(), blocks.homes.tolist()
    routes = [mesh.route(t, h) if t != h and b > 0 else ()
              for t, h, b in zip(tiles, homes, blocks.sum_bytes.tolist())]
    offsets = list(itertools.accumulate(map(len, routes), initial=0))
    slots = blocks.slots.tolist()
    port_free = np.array([p.free_at for p in chip.tile_ports], dtype=np.int64)
    bank_free = np.array([b.free_at for b in chip.shift_add], dtype=np.int64)
    xbar_free = np.array([chip.xbars[s].free_at for s in slots], dtype=np.int64)
    totals = np.zeros(len(_TOTALS), dtype=np.int64)
    ends = _book(now, blocks.tiles, blocks.homes, blocks.in_bytes, blocks.reads, blocks.dac,
                 blocks.conversions, blocks.sum_bytes, blocks.adds, costs,
                 np.array([i for r in routes for i in r], dtype=np.int64),
                 np.array(offsets, dtype=np.int64), mesh.hop_cycles, port_free, bank_free,
                 xbar_free, *mesh.windows.arrays(), totals)
    for t in set(tiles) | set(homes):
        chip.tile_ports[t].free_at = int(port_free[t])
        chip.shift_add[t].free_at = sorted(bank_free[t].tolist())  # sorted: a valid heap
    for s, free_at in zip(slots, xbar_free.tolist()):
        chip.xbars[s].free_at = free_at
    port, bank, xbar = chip.tile_ports[0], chip.shift_add[0], chip.xbars[0]
    n = dict(zip(_TOTALS, totals.tolist()))
    port.count_booked(layer, "read", n["read_bytes"], n["read_cycles"])
    port.count_booked(layer, "write", n["write_bytes"], n["write_cycles"])
    xbar.count_booked(layer, n["reads"], n["dac"], n["conversions"], n["xbar_cycles"])
    bank.count_booked(layer, n["ops"], n["op_cycles"])
    mesh.count_booked(layer, busy=n["link_cycles"], moved=n["moved"], byte_hops=n["byte_hops"])
    return ends


def _costs(chip: Chip, shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """The cycles of ``_COSTS`` of blocks of ``shapes`` (in bytes, reads, conversions, sum
    bytes, adds), one row per block (read-only)."""
    port, bank, xbar, mesh = chip.tile_ports[0], chip.shift_add[0], chip.xbars[0], chip.mesh

    def cycles(shape: tuple[int, ...]) -> tuple[int, ...]:
        in_bytes, reads, conversions, sum_bytes, adds = shape
        return (transfer_cycles(in_bytes, port.bytes_per_cycle),
                # a block's conversions spread evenly over its reads (CrossbarUnit.book)
                xbar.read_time(reads, ceil_div(conversions, reads), True) if reads else 0,
                math.ceil(conversions / bank.ops_per_cycle),
                transfer_cycles(sum_bytes, port.bytes_per_cycle),
                math.ceil(adds / bank.ops_per_cycle),
                transfer_cycles(sum_bytes, mesh.bytes_per_cycle))

    known: dict[tuple[int, ...], tuple[int, ...]] = {}  # few distinct shapes
    costs = np.array([known[s] if s in known else known.setdefault(s, cycles(s))
                      for s in shapes], dtype=np.int64).reshape(-1, len(_COSTS))
    costs.flags.writeable = False
    return costs


_COSTS = ("in", "xbar", "shift", "sums", "adds", "link")
"""Cycles of a block's steps, the columns of ``_book``'s ``costs``: its port's read of the
inputs, its crossbar's reads, the shift-and-add merge, a home port access of the partial sums,
the home's adds, and the sums on each link."""

_TOTALS = ("read_bytes", "read_cycles", "write_bytes", "write_cycles", "reads", "dac",
           "conversions", "xbar_cycles", "ops", "op_cycles", "link_cycles", "moved", "byte_hops")
"""What ``_book`` counts, in the order of its ``totals``."""


@jit
def _book(now: int, tiles: np.ndarray, homes: np.ndarray, in_bytes: np.ndarray,
          reads: np.ndarray, dac: np.ndarray, conversions: np.ndarray, sum_bytes: np.ndarray,
          adds: np.ndarray, costs: np.ndarray, links: np.ndarray, link_offsets: np.ndarray,
          hop_cycles: int, port_free: np.ndarray, bank_free: np.ndarray, xbar_free: np.ndarray,
          starts: np.ndarray, ends: np.ndarray, counts: np.ndarray, link_free: np.ndarray,
          totals: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    """The bookings of ``book_blocks``: ``Port.book``, ``CrossbarUnit.book`` and
    ``UnitBank.book`` on their next-free cycles (block k's crossbar is ``xbar_free[k]``; a
    bank's units: the one free first), the mesh's ``book`` on its links' windows (block k's
    route: ``links[link_offsets[k]:link_offsets[k + 1]]``); ``costs[k]``: the cycles of
    ``_COSTS``; ``totals`` gets what they count (``_TOTALS``)."""
    out = np.empty(len(tiles), dtype=np.int64)
    for k in range(len(tiles)):
        t, home = tiles[k], homes[k]
        in_cycles, xbar_cycles, shift_cycles, sum_cycles, add_cycles, link_cycles = costs[k]
        end = now
        if in_bytes[k] > 0:
            end = _access(port_free, t, now, in_bytes[k], in_cycles, totals, 0)  # a read
        if reads[k] > 0:
            xbar_free[k] = max(now, xbar_free[k]) + xbar_cycles
            end = max(end, xbar_free[k])
            totals[4] += reads[k]
            totals[5] += dac[k]
            totals[6] += conversions[k]
            totals[7] += xbar_cycles
        if conversions[k] > 0:  # merged on a shift-and-add unit
            end = max(end, _unit(bank_free[t], now, shift_cycles))
            totals[8] += conversions[k]
            totals[9] += shift_cycles
        done = now
        hops = link_offsets[k + 1] - link_offsets[k]
        if hops:  # the partial sums over the mesh to their home
            start = reserve_windows(starts, ends, counts, link_free,
                                    links[link_offsets[k]:link_offsets[k + 1]], now,
                                    link_cycles)
            done = start + link_cycles + hops * hop_cycles
            totals[10] += link_cycles * hops
            totals[11] += sum_bytes[k]
            totals[12] += sum_bytes[k] * hops
        if sum_bytes[k] > 0:  # the home writes them, then reads the running sums
            done = _access(port_free, home, done, sum_bytes[k], sum_cycles, totals, 2)
            if adds[k] > 0:
                done = _access(port_free, home, done, sum_bytes[k], sum_cycles, totals, 0)
        if adds[k] > 0:
            done = _unit(bank_free[home], done, add_cycles)
            totals[8] += adds[k]
            totals[9] += add_cycles
        out[k] = max(end, done)
    return out


@jit
def _access(free: np.ndarray, port: int, at: int, nbytes: int, cycles: int, totals: np.ndarray,
            counted: int) -> int:  # pragma: no cover (compiled)
    """``Port.book`` on the ports' next-free cycles ``free``; ``totals[counted]`` and the next
    entry get the bytes and cycles (a read: 0, a write: 2, ``_TOTALS``)."""
    free[port] = max(at, free[port]) + cycles
    totals[counted] += nbytes
    totals[counted + 1] += cycles
    return free[port]


@jit
def _unit(free: np.ndarray, at: int, cycles: int) -> int:  # pragma: no cover (compiled)
    """``UnitBank.book`` on a bank's units' next-free cycles ``free``: the unit free first
    takes the job."""
    u = 0
    for i in range(1, len(free)):
        if free[i] < free[u]:
            u = i
    free[u] = max(at, free[u]) + cycles
    return free[u]
