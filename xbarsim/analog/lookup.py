"""Ideal-device crossbar MVM by group-sum lookup tables (the "Four Russians" method).

The analog sum of a read, row block and column is sum_i digit_i * level_i over the block's rows.
Rows are taken in groups of g (g * dac_bits <= 8 pattern bits): for every group, every pattern p
of its g input digits and every column, a table holds sum_j digit_j(p) * level_j (built once per
row block and 64-column tile, one vector add per entry). A read's column sums are then one table
row per group, added 64 columns at a time in bytes (simd.py), and converted by the ADC right
away. For ISAAC-like mappings (1-bit DAC, 2-bit cells, 128 rows) that is 16 byte-vector adds per
read and 64 columns, against 4 popcounts per column for packed bit planes (bitplane.py): about
1.5-2x the popcount kernel's rate here. Results equal the naive reference exactly: sums are
exact integers (bytes within a pass, 16-bit after), and the ADC formula is adc.py's, in float32
only where ``adc.float32_adc_exact`` proved it identical, else in float64.

``lookup_plan`` says when the method applies (``None``: use bitplane.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from xbarsim.analog.adc import AdcTables, float32_adc_exact
from xbarsim.analog.columns import KernelColumns
from xbarsim.analog.numba_settings import jit, jit_parallel
from xbarsim.analog.simd import PER_PASS, TILE, tile_reads

_CHUNK = 1024
"""Most vectors per work item: their offsets and one table stay in L2 while tiles go by."""


_COMBINE_BLOCK = 64
"""Vectors per shift-and-add work item."""


class LookupPlan(NamedTuple):
    """Grouping of a row block for the lookup tables."""

    group_rows: int
    """g: input rows per group (g * dac_bits <= 8)."""
    groups: int
    """Groups per row block, ceil(min(rows, K) / g)."""
    patterns: int
    """Table rows per group, 2**(g * dac_bits)."""
    per_pass: int
    """Groups added in bytes before widening (one of simd.PER_PASS; pass sums below 256)."""
    passes: int
    """Passes per read; passes * per_pass >= groups (extra groups read a zero row)."""


def lookup_plan(block_rows: int, dac_bits: int, cell_bits: int) -> LookupPlan | None:
    """The grouping for ``block_rows`` rows per block, or None when 4 groups' largest sum
    cannot stay in a byte (large DAC digits or cell levels) or a read's in 16 bits."""
    top = ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1)  # one row's largest contribution
    g = 8 // dac_bits
    while g > 0 and PER_PASS[0] * g * top > 255:
        g -= 1
    if g == 0 or block_rows * top > 0xFFFF:
        return None
    groups = -(-block_rows // g)
    per_pass = max(n for n in PER_PASS if n == PER_PASS[0] or n * g * top <= 255)
    while per_pass > PER_PASS[0] and per_pass // 2 >= groups:  # no pass mostly padding
        per_pass //= 2
    return LookupPlan(g, groups, 1 << (g * dac_bits), per_pass, -(-groups // per_pass))


def run_lookup(
    x: np.ndarray,
    cols: KernelColumns,
    adc: AdcTables,
    quantize: bool,
    plan: LookupPlan,
    geometry: tuple[int, int, int, int],
    n_out: int,
) -> np.ndarray:
    """y [N, n_out] int64 for x [N, K]; geometry = (input_bits, dac_bits, cell_bits, rows).
    Without ``quantize`` (ideal ADC) gain and lsb are 1: the formula returns v unchanged."""
    input_bits, dac_bits, _, rows = geometry
    if not quantize:
        adc = AdcTables(adc.fs, np.ones_like(adc.gain), np.ones_like(adc.lsb))
    (N, K), C = x.shape, cols.levels.shape[1]
    n_tiles = -(-C // TILE)
    levels = np.zeros((K, n_tiles * TILE), np.uint8)
    levels[:, :C] = cols.levels
    reads = -(-input_bits // dac_bits)
    dtype = _precision(adc, reads * dac_bits)
    gain, lsb = (np.ones((adc.fs.shape[0], n_tiles * TILE), dtype) for _ in range(2))
    gain[:, :C], lsb[:, :C] = adc.gain, adc.lsb
    acc = np.zeros((n_tiles, N, TILE), dtype)  # tile-major: a work item's slab is contiguous
    threads = numba.get_num_threads()
    chunk = min(_CHUNK, max(16, -(-N // threads)))
    n_chunks = -(-N // chunk)
    tile_groups = min(n_tiles, -(-2 * threads // n_chunks))
    fast = dac_bits == 1 and plan.group_rows == 8
    empty = np.zeros((N, 0, 1, 1), np.uint64)
    xb = byte_planes(x, rows, plan, -(-input_bits // 8)) if fast else empty
    _lookup_kernel(
        x, xb, levels, plan, rows, dac_bits, reads, gain, lsb, (chunk, tile_groups), acc
    )  # fmt: skip
    y = np.zeros((N, n_out), np.int64)
    g = C // n_out  # columns per output: out[c] = c // g (columns.py's layout)
    largest = float(adc.fs.sum(axis=0).max(initial=0.0)) * 2.0 ** (reads * dac_bits)
    exact = largest * 2.0 ** int(cols.shift.max(initial=0)) * g < 2.0**53
    if exact and TILE % g == 0 and np.array_equal(cols.out, np.arange(C) // g):
        factor = np.zeros(n_tiles * TILE)
        factor[:C] = cols.sign * np.exp2(cols.shift)
        _combine_groups(acc, factor, g, y)
    else:
        _combine(acc, C, cols.out, cols.shift, cols.sign, y)
    return y


def _precision(adc: AdcTables, input_span: int) -> type:
    """float32 when the float32 ADC is proven exact and every column's accumulated value
    (at most sum over blocks of fs times 2**input_span) stays exact in float32."""
    bound = float(adc.fs.sum(axis=0).max(initial=0.0)) * (2.0**input_span)
    return np.float32 if bound < 2.0**24 and float32_adc_exact(adc) else np.float64


@jit_parallel
def byte_planes(x, rows, plan, n_bytes):
    """out[n, b, c, k] = uint64 whose byte j is byte c of x[n, b*rows + 8k + j] (0 past the
    block or K): the 8 rows of group k, one byte plane of their values."""
    N, K = x.shape
    B = -(-K // rows)
    gp = plan.passes * plan.per_pass
    out = np.zeros((N, B, n_bytes, gp * 8), np.uint8)
    for n in prange(N):
        for b in range(B):
            seg = x[n, b * rows : min(K, (b + 1) * rows)]
            for c in range(n_bytes):
                dst = out[n, b, c]
                for i in range(seg.shape[0]):
                    dst[i] = (seg[i] >> (8 * c)) & 255
    return out.view(np.uint64)


@jit
def offsets_fast(xb_nb, row_bytes, reads, out, words):
    """Table row offsets [reads, groups] of one vector and block for 1-bit DACs and 8-row
    groups: transposing the 8x8 bit matrix of a group's byte plane turns byte r into the
    pattern of read 8c + r (bit j = row j). ``words``: uint64 scratch of at least ``groups``
    (passed in: an allocation per call would cost more than the work)."""
    gp = out.shape[1]
    m1, m2 = np.uint64(0x00AA00AA00AA00AA), np.uint64(0x0000CCCC0000CCCC)
    m3, mask = np.uint64(0x00000000F0F0F0F0), np.uint64(255)
    s7, s14, s28 = np.uint64(7), np.uint64(14), np.uint64(28)
    stride = np.uint32(gp * row_bytes)  # bytes between patterns (pattern-major tables)
    for c in range(xb_nb.shape[0]):
        plane = xb_nb[c]
        for k in range(gp):
            v = plane[k]
            t = (v ^ (v >> s7)) & m1
            v = v ^ t ^ (t << s7)
            t = (v ^ (v >> s14)) & m2
            v = v ^ t ^ (t << s14)
            t = (v ^ (v >> s28)) & m3
            words[k] = v ^ t ^ (t << s28)
        for r in range(min(8, reads - 8 * c)):
            dst, shift = out[8 * c + r], np.uint64(8 * r)
            for k in range(gp):  # uint32 arithmetic: one vector loop over the groups
                pattern = np.uint32((words[k] >> shift) & mask)
                dst[k] = np.uint32(k * row_bytes) + pattern * stride


@jit
def offsets_generic(x_n, k0, k1, plan, dac_bits, row_bytes, out):
    """Table row offsets [reads, groups] of one vector and block, any DAC width: pattern of
    read r, group k = sum_j digit_r(row j of the group) << (j * dac_bits)."""
    reads, gp = out.shape
    mask = (1 << dac_bits) - 1
    for k in range(gp):
        for r in range(reads):
            p = 0
            for j in range(plan.group_rows):
                i = k0 + k * plan.group_rows + j
                if k < plan.groups and i < k1:
                    p |= ((x_n[i] >> (r * dac_bits)) & mask) << (j * dac_bits)
            out[r, k] = np.uint32((p * gp + k) * row_bytes)


@jit
def build_table(levels, k0, k1, c0, plan, dac_bits, table):
    """``table`` [patterns, groups, width] of one block and tile: table[p, k] = the digits of
    pattern p times the levels of group k's rows, columns c0..c0+width. Pattern-major, so the
    groups of a common pattern (zero, say) share cache lines instead of cache sets. Built digit
    position by position: patterns whose position-j digit is d are those with digit d - 1 plus
    row j's levels (contiguous pattern ranges, one vectorized loop per row)."""
    width = table.shape[2]
    table[0] = 0  # pattern 0; rows for digits past k1 are never addressed (offsets are 0 there)
    for k in range(min(table.shape[1], plan.groups)):
        for j in range(min(plan.group_rows, k1 - k0 - k * plan.group_rows)):
            row = levels[k0 + k * plan.group_rows + j, c0 : c0 + width]
            unit = 1 << (j * dac_bits)  # patterns between digit values of position j
            for d in range(1, 1 << dac_bits):
                for q in range(d * unit, (d + 1) * unit):
                    dst, src = table[q, k], table[q - unit, k]
                    for c in range(width):
                        dst[c] = src[c] + row[c]


@jit_parallel
def _lookup_kernel(x, xb, levels, plan, rows, dac_bits, reads, gain, lsb, split, acc):
    """Work item = (vector chunk, tile group); per row block: offsets of the chunk's vectors,
    then per tile: build its table, convert every vector's reads into acc (float, exact)."""
    N, K = x.shape
    chunk, tile_groups = split
    n_tiles = acc.shape[0]
    per_group = -(-n_tiles // tile_groups)
    gp = plan.passes * plan.per_pass
    row_bytes = TILE
    step = float(1 << dac_bits)
    for item in prange(-(-N // chunk) * tile_groups):
        n0, t0 = (item // tile_groups) * chunk, (item % tile_groups) * per_group
        n1, t1 = min(N, n0 + chunk), min(n_tiles, t0 + per_group)
        offs = np.empty((n1 - n0, reads, gp), np.uint32)
        words = np.empty(gp, np.uint64)
        table = aligned_empty((plan.patterns, gp, TILE))
        for b in range(-(-K // rows)):
            k0, k1 = b * rows, min(K, (b + 1) * rows)
            # a short last block skips passes whose groups are all past k1 (zero rows)
            passes = -(-(k1 - k0) // (plan.group_rows * plan.per_pass))
            for i in range(n1 - n0):
                if xb.shape[1] > 0:
                    offsets_fast(xb[n0 + i, b], row_bytes, reads, offs[i], words)
                else:
                    offsets_generic(x[n0 + i], k0, k1, plan, dac_bits, row_bytes, offs[i])
            for t in range(t0, t1):
                c0 = t * TILE
                build_table(levels, k0, k1, c0, plan, dac_bits, table)
                g, s = gain[b, c0 : c0 + TILE], lsb[b, c0 : c0 + TILE]
                for i in range(n1 - n0):
                    tile_reads(table, offs[i], passes, plan.per_pass, g, s, step,
                               acc[t, n0 + i])  # fmt: skip


@jit
def aligned_empty(shape):
    """Uninitialised uint8 array of ``shape`` whose data starts on a 64-byte boundary: a
    table row (one cache line) then never straddles two lines, which would double the cache
    traffic of every row read (about 1.45x slower loops when rows are misaligned)."""
    size = 1
    for n in shape:
        size *= n
    raw = np.empty(size + 64, np.uint8)
    start = (64 - raw.ctypes.data % 64) % 64
    return raw[start : start + size].reshape(shape)


@jit_parallel
def _combine(acc, C, col_out, col_shift, col_sign, y):
    """Shift-and-add: y[n, out[c]] += sign[c] * acc[c // TILE, n, c % TILE] << shift[c] (acc
    holds exact integers)."""
    for n in prange(acc.shape[1]):
        for c in range(C):
            value = np.int64(acc[c // TILE, n, c % TILE])
            y[n, col_out[c]] += col_sign[c] * (value << col_shift[c])


@jit_parallel
def _combine_groups(acc, factor, g, y):
    """``_combine`` when output o has columns o*g .. o*g+g-1 and g divides TILE: each output is
    one sum of g products acc * factor (factor = sign * 2**shift; exact in float64, as every
    term and partial sum is an integer below 2**53)."""
    n_tiles, N, width = acc.shape
    per_tile = width // g
    n_out = y.shape[1]
    for block in prange(-(-N // _COMBINE_BLOCK)):  # tile by tile, so acc is read in order
        n0 = block * _COMBINE_BLOCK
        for t in range(n_tiles):
            f = factor[t * width : (t + 1) * width]
            for n in range(n0, min(N, n0 + _COMBINE_BLOCK)):
                row = acc[t, n]
                for q in range(min(per_tile, n_out - t * per_tile)):
                    total = 0.0
                    for i in range(q * g, (q + 1) * g):
                        total += row[i] * f[i]
                    y[n, t * per_tile + q] = np.int64(total)
