"""Ideal-device crossbar MVM by group-sum lookup tables (the "Four Russians" method).

The analog sum of a read, row block and column is sum_i digit_i * level_i over the block's rows.
Rows are taken in groups of g (g * dac_bits <= 8 pattern bits): for every group, every pattern p
of its g input digits and every column, a table holds sum_j digit_j(p) * level_j (built once per
row block, 64-column tile and chunk of vectors, one vector add per entry). A read's column sums
are then one table row per group, added 64 columns at a time in bytes (llvm_ir.py), and converted
by the ADC right away. For ISAAC-like mappings (1-bit DAC, 2-bit cells, 128 rows) that is 16
byte-vector adds per read and 64 columns; the row of every (vector, block, read, group) is
computed once up front (``pattern_rows``), and each tile's shift-and-add runs as soon as its
blocks are done. Results equal the naive reference exactly: sums are exact integers (bytes
within a pass, 16-bit after), and the ADC formula is adc.py's, in float32 only where
``adc.float32_adc_exact`` proved it identical, else in float64.

``lookup_plan`` says when the method applies (``None``: use bitplane.py).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from xbarsim.functional.kernel.adc import AdcTables, float32_adc_exact
from xbarsim.functional.kernel.columns import KernelColumns
from xbarsim.functional.kernel.llvm_ir import PER_PASS, ROW_WORDS, TILE, add_row, tile_reads
from xbarsim.numba_settings import jit, jit_parallel

_CHUNK = 1024
"""Most vectors per work item. A table (256 KiB for ISAAC-like 8-row groups) is built per
chunk, tile and row block, so larger chunks amortize it; 1024 vectors keep their accumulators
and one block's row indices (256 KiB each) in a 1 MiB L2 beside the table."""

_OFFSETS_BYTES = 32 << 20
"""Bound on the table row indices held at once: vectors are taken in slabs below it."""

_NO_PLANES = np.zeros((0, 0, 1, 1), np.uint64)
"""Stand-in for ``byte_planes`` when the generic pattern code runs."""


class LookupPlan(NamedTuple):
    """Grouping of a row block for the lookup tables."""

    group_rows: int
    """g: input rows per group (g * dac_bits <= 8)."""
    groups: int
    """Groups per row block, ceil(min(rows, K) / g)."""
    patterns: int
    """Table rows per group, 2**(g * dac_bits)."""
    per_pass: int
    """Groups added in bytes before widening (one of llvm_ir.PER_PASS; pass sums below 256)."""
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
    per_pass = _fitted_pass(per_pass, groups)
    return LookupPlan(g, groups, 1 << (g * dac_bits), per_pass, -(-groups // per_pass))


@jit
def _fitted_pass(per_pass, groups):
    """The smallest of per_pass, per_pass / 2, ... (down to PER_PASS[0]) that still covers
    ``groups`` in as few passes: no pass mostly padding (a shorter pass is always byte-safe)."""
    while per_pass > PER_PASS[0] and per_pass // 2 >= groups:
        per_pass //= 2
    return per_pass


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
    B, gp = -(-K // rows), plan.passes * plan.per_pass
    # an odd number of rows per pattern in the table: a group's patterns then spread over all
    # L1 cache sets (with gp = 16 rows, 1 KiB apart, they would share 4 of the 64 sets)
    pitch = gp + 1 - gp % 2
    index_type = np.uint16 if plan.patterns * pitch * ROW_WORDS <= 1 << 16 else np.uint32
    slab = max(_CHUNK, _OFFSETS_BYTES // (B * reads * gp * np.dtype(index_type).itemsize))
    # tile groups own whole outputs (output o has columns o*g .. o*g+g-1, columns.py): a group
    # spans a multiple of g / gcd(TILE, g) tiles, so work items never add into the same y
    g = C // n_out
    step = g // math.gcd(TILE, g)
    threads = numba.get_num_threads()
    fast = dac_bits == 1 and plan.group_rows == 8
    columns = (cols.out, cols.sign << cols.shift)
    y = np.zeros((N, n_out), np.int64)
    for n0 in range(0, N, slab):
        xs = x[n0 : n0 + slab]
        xb = byte_planes(xs, rows, plan, -(-input_bits // 8)) if fast else _NO_PLANES
        index = np.empty((B, xs.shape[0] * reads, gp), index_type)
        pattern_rows(xs, xb, plan, rows, dac_bits, pitch, index)
        # 2 work items per thread, split by tiles first: a vector chunk more builds every
        # table once more, a tile group more costs nothing
        tile_groups = min(-(-n_tiles // step), 2 * threads)
        chunk = min(_CHUNK, max(16, -(-xs.shape[0] // -(-2 * threads // tile_groups))))
        per_group = step * -(-n_tiles // (step * tile_groups))
        _lookup_kernel(index, levels, plan, (rows, dac_bits, pitch), gain, lsb, columns,
                       (chunk, per_group), y[n0 : n0 + slab])  # fmt: skip
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


@jit_parallel
def pattern_rows(x, xb, plan, rows, dac_bits, pitch, out):
    """out[b, n * reads + r, k] = where the table row that read r of vector n adds for group k
    of row block b starts, in words (``build_table``'s pattern-major rows, ``pitch`` per
    pattern: (pattern * pitch + k) * ROW_WORDS), from the byte planes ``xb`` for 1-bit DACs
    and 8-row groups, else from ``x``."""
    B, gp = out.shape[0], out.shape[2]
    N, K = x.shape
    reads = out.shape[1] // max(N, 1)
    for block in prange(-(-N // 64)):
        words = np.empty(gp, np.uint64)
        for n in range(64 * block, min(N, 64 * block + 64)):
            for b in range(B):
                dst = out[b, n * reads : (n + 1) * reads]
                if xb.shape[0] > 0:
                    offsets_fast(xb[n, b], pitch, dst, words)
                else:
                    k0, k1 = b * rows, min(K, (b + 1) * rows)
                    offsets_generic(x[n], k0, k1, plan, dac_bits, pitch, dst)


@jit
def offsets_fast(xb_nb, pitch, out, words):
    """Table row word offsets [reads, groups] of one vector and block for 1-bit DACs and 8-row
    groups: transposing the 8x8 bit matrix of a group's byte plane turns byte r into the
    pattern of read 8c + r (bit j = row j). ``words``: uint64 scratch of at least ``groups``
    (passed in: an allocation per call would cost more than the work)."""
    gp = out.shape[1]
    m1, m2 = np.uint64(0x00AA00AA00AA00AA), np.uint64(0x0000CCCC0000CCCC)
    m3, mask = np.uint64(0x00000000F0F0F0F0), np.uint64(255)
    s7, s14, s28 = np.uint64(7), np.uint64(14), np.uint64(28)
    reads, dtype = out.shape[0], out.dtype.type
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
            for k in range(gp):  # arithmetic in the output type: one vector loop over groups
                pattern = dtype((words[k] >> shift) & mask)
                dst[k] = (dtype(k) + pattern * dtype(pitch)) * dtype(ROW_WORDS)


@jit
def offsets_generic(x_n, k0, k1, plan, dac_bits, pitch, out):
    """Table row word offsets [reads, groups] of one vector and block, any DAC width: pattern of
    read r, group k = sum_j digit_r(row j of the group) << (j * dac_bits)."""
    reads, gp = out.shape
    mask = (1 << dac_bits) - 1
    for k in range(gp):
        for r in range(reads):
            p = 0
            for j in range(plan.group_rows):
                i = k0 + k * plan.group_rows + j
                if k < plan.groups and i < k1:
                    p |= ((np.int64(x_n[i]) >> (r * dac_bits)) & mask) << (j * dac_bits)
            out[r, k] = (p * pitch + k) * ROW_WORDS


@jit
def build_table(levels, k0, k1, c0, plan, dac_bits, table):
    """``table`` [patterns, groups, 64 bytes] of one block and tile: table[p, k] = the digits of
    pattern p times the levels of group k's rows, columns c0.. of ``levels`` (C-contiguous, of
    the table's dtype). Pattern-major, so the groups of a common pattern (zero, say) share
    cache lines instead of cache sets. Built digit position by position: patterns whose
    position-j digit is d are those with digit d - 1 plus row j's levels (``add_row``)."""
    gp, width, g = table.shape[1], levels.shape[1], plan.group_rows
    table[0] = 0  # pattern 0; rows for digits past k1 are never addressed (offsets are 0 there)
    for j in range(g):
        unit = 1 << (j * dac_bits)  # patterns between digit values of position j
        groups = min(gp, plan.groups, -(-(k1 - k0 - j) // g))  # groups that have a row j
        for q in range(unit, unit << dac_bits):  # rows written in memory order
            for k in range(groups):
                start = (k0 + k * g + j) * width + c0
                add_row(table, q * gp + k, (q - unit) * gp + k, levels, start)


@jit_parallel
def _lookup_kernel(index, levels, plan, geometry, gain, lsb, columns, split, y):
    """Work item = (vector chunk, tile group); per tile: per row block, build its table and
    convert every vector's reads into acc (float, exact integers); then shift-and-add acc
    into the chunk's rows of y."""
    B, K = index.shape[0], levels.shape[0]
    N = y.shape[0]
    reads = index.shape[1] // max(N, 1)
    rows, dac_bits, pitch = geometry
    chunk, per_group = split
    n_tiles = levels.shape[1] // TILE
    tile_groups = -(-n_tiles // per_group)
    step = float(1 << dac_bits)
    for item in prange(-(-N // chunk) * tile_groups):
        n0, t0 = (item // tile_groups) * chunk, (item % tile_groups) * per_group
        n1, t1 = min(N, n0 + chunk), min(n_tiles, t0 + per_group)
        table = aligned_empty((plan.patterns, pitch, TILE))
        acc = np.empty((n1 - n0, TILE), gain.dtype)
        for t in range(t0, t1):
            c0 = t * TILE
            acc[:] = 0
            for b in range(B):
                k0, k1 = b * rows, min(K, (b + 1) * rows)
                # a short last block reads only its groups' rows, in shorter passes
                groups = -(-(k1 - k0) // plan.group_rows)
                per_pass = _fitted_pass(plan.per_pass, groups)
                passes = -(-groups // per_pass)
                build_table(levels, k0, k1, c0, plan, dac_bits, table)
                g, s = gain[b, c0 : c0 + TILE], lsb[b, c0 : c0 + TILE]
                rows_of_chunk = index[b, n0 * reads : n1 * reads]
                tile_reads(table, rows_of_chunk, passes, per_pass, g, s, step, acc)
            _combine_tile(acc, c0, columns, y[n0:n1])


@jit
def _combine_tile(acc, c0, columns, y):
    """Shift-and-add of one tile: y[i, out[c]] += sign[c] * 2**shift[c] * acc[i, c - c0] over
    its columns c (acc holds exact integers; an output's columns are adjacent, columns.py)."""
    col_out, col_factor = columns
    width = min(TILE, col_out.shape[0] - c0)
    out, factor = col_out[c0 : c0 + width], col_factor[c0 : c0 + width]
    values = np.empty(width, np.int64)
    for i in range(acc.shape[0]):
        row, dst = acc[i], y[i]
        for c in range(width):  # one vector loop
            values[c] = np.int64(row[c]) * factor[c]
        o, total = out[0], np.int64(0)
        for c in range(width):  # a run of columns per output: one add to y per output
            if out[c] != o:
                dst[o] += total
                o, total = out[c], np.int64(0)
            total += values[c]
        dst[o] += total


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
