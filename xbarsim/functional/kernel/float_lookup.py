"""Any-device crossbar MVM by float32 group-sum tables: lookup.py's method on effective levels.

With non-ideal devices the levels the ADC sees are fractional (programming error, stuck cells,
drift, IR drop, folded once per programmed array by float_path.py), so the tables hold float32
sums of 8-row groups and a read's 16-column sums are 16 table rows added in a fixed order
(llvm_ir.float_sums): exact for integer levels, deterministic otherwise. This replaces building
the digit planes and one float32 BLAS product per read and block, which cost 128 multiply-adds
per column and read instead of 16 adds. Read noise and the ADC follow as in float_path.py (same
noise counters, so both paths give the same values up to float32 summation order).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from xbarsim.functional.kernel.adc import AdcTables, noisy_adc_accumulate
from xbarsim.functional.kernel.columns import KernelColumns
from xbarsim.functional.kernel.llvm_ir import FLOAT_TILE, float_sums
from xbarsim.functional.kernel.lookup import (
    LookupPlan,
    build_table,
    byte_planes,
    offsets_fast,
    offsets_generic,
)
from xbarsim.functional.kernel.noise import fill_normals, stream_key
from xbarsim.numba_settings import jit_parallel

_CHUNK = 512
"""Most vectors per work item (their offsets and one table stay in L2)."""


def float_plan(block_rows: int, dac_bits: int) -> LookupPlan | None:
    """8-row groups (8 // dac_bits rows for wider DACs), one pass; None past 8-bit DACs."""
    if dac_bits > 8:
        return None
    g = 8 // dac_bits
    groups = -(-block_rows // g)
    return LookupPlan(g, groups, 1 << (g * dac_bits), 4 * -(-groups // 4), 1)


def run_float_lookup(
    x: np.ndarray,
    mapped: KernelColumns,
    levels: np.ndarray,
    adc: AdcTables,
    quantize: bool,
    plan: LookupPlan,
    geometry: tuple[int, int, int, int],
    noise: tuple[float, int],
    n_out: int,
) -> np.ndarray:
    """y [N, n_out] float64 for x [N, K] and float32 effective levels [K, C];
    noise = (read sigma in levels, read seed)."""
    input_bits, dac_bits, _, rows = geometry
    (N, K), C = x.shape, levels.shape[1]
    n_tiles = -(-C // FLOAT_TILE)
    padded = np.zeros((K, n_tiles * FLOAT_TILE), np.float32)
    padded[:, :C] = levels
    fs, gain, lsb = (np.ones((adc.fs.shape[0], n_tiles * FLOAT_TILE)) for _ in range(3))
    fs[:, :C], gain[:, :C], lsb[:, :C] = adc.fs, adc.gain, adc.lsb
    reads = -(-input_bits // dac_bits)
    B = -(-K // rows)
    keys = np.array([stream_key(noise[1], b) for b in range(B)], np.uint64)
    sumsq = _sums_of_squares(x, rows, reads, dac_bits)
    fast = dac_bits == 1 and plan.group_rows == 8
    empty = np.zeros((N, 0, 1, 1), np.uint64)
    xb = byte_planes(x, rows, plan, -(-input_bits // 8)) if fast else empty
    acc = np.zeros((n_tiles, N, FLOAT_TILE))
    threads = numba.get_num_threads()
    chunk = min(_CHUNK, max(16, -(-N // threads)))
    tile_groups = min(n_tiles, -(-2 * threads // -(-N // chunk)))
    _float_lookup_kernel(
        x, xb, padded, plan, (rows, dac_bits, reads, C), (fs, gain, lsb), quantize,
        (noise[0], keys, sumsq), (chunk, tile_groups), acc,
    )  # fmt: skip
    y = np.zeros((N, n_out))
    _combine(acc, C, mapped.out, mapped.shift, mapped.sign, y)
    return y


@jit_parallel
def _sums_of_squares(x, rows, reads, dac_bits):
    """[N, blocks, reads] sums of squared input digits: the read noise variance / sigma**2."""
    N, K = x.shape
    B = -(-K // rows)
    out = np.zeros((N, B, reads))
    mask = (1 << dac_bits) - 1
    for n in prange(N):
        for b in range(B):
            seg = x[n, b * rows : min(K, (b + 1) * rows)]
            for r in range(reads):
                total = 0
                for i in range(seg.shape[0]):
                    d = (seg[i] >> (r * dac_bits)) & mask
                    total += d * d
                out[n, b, r] = total
    return out


@jit_parallel
def _float_lookup_kernel(x, xb, levels, plan, shape, adc, quantize, noise, split, acc):
    """Work item = (vector chunk, tile group); per row block: the chunk's table offsets, then per
    16-column tile: its float table, then every vector's reads: sums, read noise, ADC."""
    rows, dac_bits, reads, C = shape
    sigma, keys, sumsq = noise
    N, K = x.shape
    chunk, tile_groups = split
    n_tiles = acc.shape[0]
    per_group = -(-n_tiles // tile_groups)
    pairs = (C + 1) // 2
    for item in prange(-(-N // chunk) * tile_groups):
        n0, t0 = (item // tile_groups) * chunk, (item % tile_groups) * per_group
        n1, t1 = min(N, n0 + chunk), min(n_tiles, t0 + per_group)
        offs = np.empty((n1 - n0, reads, plan.per_pass), np.uint32)
        words = np.empty(plan.per_pass, np.uint64)
        table = np.empty((plan.patterns, plan.per_pass, FLOAT_TILE), np.float32)
        sums = np.empty((reads, FLOAT_TILE), np.float32)
        normals = np.zeros(FLOAT_TILE)
        for b in range(-(-K // rows)):
            k0, k1 = b * rows, min(K, (b + 1) * rows)
            for i in range(n1 - n0):
                if xb.shape[1] > 0:
                    offsets_fast(xb[n0 + i, b], plan.per_pass, offs[i], words)
                else:
                    offsets_generic(x[n0 + i], k0, k1, plan, dac_bits, plan.per_pass, offs[i])
            for t in range(t0, t1):
                c0 = t * FLOAT_TILE
                build_table(levels, k0, k1, c0, plan, dac_bits, table)
                tile_adc = (adc[0][b, c0 : c0 + FLOAT_TILE], adc[1][b, c0 : c0 + FLOAT_TILE],
                            adc[2][b, c0 : c0 + FLOAT_TILE])  # fmt: skip
                for i in range(n1 - n0):
                    n = n0 + i
                    float_sums(table, offs[i], sums)
                    for r in range(reads):
                        sd = sigma * np.sqrt(sumsq[n, b, r])
                        if sd > 0.0:
                            first = np.uint64((n * reads + r) * pairs + c0 // 2)
                            fill_normals(keys[b], first, normals)
                        noisy_adc_accumulate(acc[t, n], sums[r], normals, sd, tile_adc, quantize,
                                   float(1 << (r * dac_bits)))  # fmt: skip


@jit_parallel
def _combine(acc, C, col_out, col_shift, col_sign, y):
    """Shift-and-add: y[n, out[c]] += sign[c] * acc[tile, n, lane] * 2**shift[c]."""
    for n in prange(acc.shape[1]):
        for c in range(C):
            value = acc[c // FLOAT_TILE, n, c % FLOAT_TILE]
            y[n, col_out[c]] += col_sign[c] * value * float(1 << col_shift[c])
