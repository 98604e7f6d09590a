"""Crossbar MVM as the hardware computes it: bit-serial inputs, bit-sliced weights, per-column ADC.

Weights map to columns and row blocks as lossless.py describes (DESIGN 5). Inputs are applied
``dac_bits`` at a time: t = ceil(input_bits / dac_bits) reads, digit r = bits r*dac_bits.. .

ADC (per row block, read and column): the analog sum v (level units, see device.py) is clipped
to [0, full_scale] and coded as ``code = floor(v * gain + 0.5)`` with
``gain = (2**adc_bits - 1) / full_scale`` and ``lsb = full_scale / (2**adc_bits - 1)`` (both 1
for a zero full scale; a multiply, not a divide, keeps the loop fast). The digital back end
keeps integers: it adds ``floor(code * lsb + 0.5)``, the code's value rounded to the nearest
level count. Hence lsb <= 1 reproduces every integer sum exactly. ``adc_bits = 0`` is an
ideal ADC (no clipping, no rounding). Shift-and-add: read r weighs 2**(r*dac_bits), slice j
weighs 2**(j*cell_bits), and the negative column of a pair is subtracted.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

from xbarsim.analog.device import IDEAL, DeviceModel
from xbarsim.analog.lossless import AdcRange, adc_full_scale, map_weights, parse_enum
from xbarsim.analog.numba_settings import jit, jit_inline, jit_parallel

_MAX_EXACT_BITS = 50
"""input_bits + weight_bits + ceil(log2 K) limit: every sum stays exact in float64 and int64."""
_COL_TILE = 512
"""Columns per tile in the bit-plane kernel: a tile's planes, ADC scales and sums stay in L1."""
_VECTOR_CHUNK = 16
"""Input vectors per parallel work item of the bit-plane kernel (scratch allocated once)."""
_NOISE_CHUNK = 16
"""Vectors per seeded read-noise stream: results do not depend on the thread count."""
_FLOAT_CHUNK_ELEMS = 1 << 22
"""Analog sums (float64) computed per BLAS call in the float path (32 MB)."""


class Method(str, Enum):
    """Implementation; all give the same result where they apply."""

    AUTO = "auto"
    """EXACT when ideal and lossless, else BITPLANE when the device is ideal, else FLOAT."""
    EXACT = "exact"
    """Ideal device and lossless ADC: x @ w in float64 BLAS (exact below 2**53)."""
    BITPLANE = "bitplane"
    """Ideal device: inputs and level bits packed in 64-bit words, popcounts, integer ADC."""
    FLOAT = "float"
    """Any device: BLAS analog sums per block and read (float32 where exact, else float64),
    then read noise, ADC and shift-and-add in numba."""


def crossbar_mvm(
    x: np.ndarray,
    w: np.ndarray,
    *,
    input_bits: int,
    weight_bits: int,
    cell_bits: int,
    dac_bits: int,
    adc_bits: int,
    rows: int,
    differential: bool,
    adc_range: str | AdcRange = AdcRange.FIXED,
    device: DeviceModel | None = None,
    seed: int = 0,
    cols: int | None = None,
    method: str | Method = Method.AUTO,
) -> np.ndarray:
    """Compute y [N, O] = what crossbars holding w [K, O] return for inputs x [N, K].

    ``adc_bits = 0`` means an ideal ADC. ``cols`` (default: all mapped columns on one array)
    only sets the column positions seen by IR drop. Returns int64 when the result is integer
    (quantizing ADC or ideal device), float64 otherwise; deterministic for a given ``seed``.
    """
    device = IDEAL if device is None else device
    x, w = _validate(
        x, w, input_bits, weight_bits, cell_bits, dac_bits, adc_bits, rows, cols, differential
    )
    _check_int("seed", seed, 0, None)
    adc_range = parse_enum(AdcRange, adc_range, "adc_range")
    method = parse_enum(Method, method, "method")
    N, n_out = x.shape[0], w.shape[1]
    if N == 0 or n_out == 0:
        return np.zeros((N, n_out), np.int64)
    if device.is_ideal and adc_bits == 0 and method in (Method.AUTO, Method.EXACT):
        return _exact(x, w)
    mapped = map_weights(w, weight_bits=weight_bits, cell_bits=cell_bits, differential=differential)
    fs = adc_full_scale(
        mapped.levels, rows=rows, dac_bits=dac_bits, cell_bits=cell_bits, adc_range=adc_range
    )
    quantize = adc_bits > 0
    top = float((1 << adc_bits) - 1)
    lsb = np.where(fs > 0, fs / top, 1.0) if quantize else np.ones_like(fs)
    adc = (fs, np.where(fs > 0, top / np.where(fs > 0, fs, 1.0), 1.0), lsb)
    method = _choose_method(method, device, quantize, lsb)
    if method is Method.EXACT:
        return _exact(x, w)
    geometry = (input_bits, dac_bits, cell_bits, rows)
    if method is Method.BITPLANE:
        y = _run_bitplane(x, mapped, adc, quantize, geometry, n_out)
    else:
        ncols = mapped.levels.shape[1] if cols is None else cols
        y = _run_float(x, mapped, adc, quantize, geometry, n_out, device, seed, ncols)
        if quantize or device.is_ideal:
            y = np.rint(y).astype(np.int64)
    if mapped.offset:
        y -= mapped.offset * x.sum(axis=1, keepdims=True)
    return y


def _exact(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Integer products and all partial sums stay below 2**53 (checked), so float64 BLAS is exact
    # in any summation order.
    return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)


def _choose_method(method: Method, device: DeviceModel, quantize: bool, lsb: np.ndarray) -> Method:
    """Resolve AUTO and refuse a method that does not apply."""
    exact_ok = device.is_ideal and (not quantize or float(lsb.max()) <= 1.0)
    if method is Method.AUTO:
        return Method.EXACT if exact_ok else Method.BITPLANE if device.is_ideal else Method.FLOAT
    if method is Method.EXACT and not exact_ok:
        raise ValueError("method='exact' needs an ideal device and a lossless ADC (lsb <= 1)")
    if method is Method.BITPLANE and not device.is_ideal:
        raise ValueError("method='bitplane' needs an ideal device; use 'float' or 'auto'")
    return method


def _run_bitplane(x, mapped, adc, quantize, geometry, n_out) -> np.ndarray:
    input_bits, dac_bits, cell_bits, rows = geometry
    n_blocks, words = -(-x.shape[1] // rows), -(-min(rows, x.shape[1]) // 64)
    xp = _pack_bits(x, rows, n_blocks, input_bits, words)
    lp = _pack_levels(mapped.levels, rows, n_blocks, cell_bits, words)
    y = np.zeros((x.shape[0], n_out), np.int64)
    _bitplane_kernel(xp, lp, adc, quantize, dac_bits, mapped.out, mapped.shift, mapped.sign, y)
    return y


def _run_float(x, mapped, adc, quantize, geometry, n_out, device, seed, cols) -> np.ndarray:
    """Analog sums by BLAS per row block and read, then noise, ADC and shift-add in numba."""
    input_bits, dac_bits, cell_bits, rows = geometry
    N, K = x.shape
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    levels = device.effective_levels(
        mapped.levels, cell_bits=cell_bits, rows=rows, cols=cols, rng=rng
    )
    # Integer levels and sums below 2**24 are exact in float32 (twice the BLAS rate).
    max_sum = min(rows, K) * ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1)
    dtype = np.float32 if device.is_static_ideal and max_sum < (1 << 24) else np.float64
    levels = levels.astype(dtype)
    sigma = device.read_sigma_levels(cell_bits)
    t = -(-input_bits // dac_bits)
    shifts = (np.arange(t) * dac_bits)[None, :, None]
    C = levels.shape[1]
    step = max(_NOISE_CHUNK, _FLOAT_CHUNK_ELEMS // (t * C) // _NOISE_CHUNK * _NOISE_CHUNK)
    y = np.zeros((N, n_out), np.float64)
    for n0 in range(0, N, step):
        xc = x[n0 : n0 + step]
        n_chunks = -(-xc.shape[0] // _NOISE_CHUNK)
        for b, k0 in enumerate(range(0, K, rows)):
            digits = ((xc[:, None, k0 : k0 + rows] >> shifts) & ((1 << dac_bits) - 1)).astype(dtype)
            sums = digits.reshape(-1, digits.shape[2]) @ levels[k0 : k0 + rows]
            noise_sd = np.zeros(digits.shape[:2])  # [n, t]
            if sigma > 0:
                noise_sd = sigma * np.sqrt(np.einsum("ntk,ntk->nt", digits, digits, dtype=float))
            seeds = np.random.SeedSequence([seed, 1, b, n0]).generate_state(n_chunks)
            _float_adc_kernel(
                sums.reshape(xc.shape[0], t, C), noise_sd, (adc[0][b], adc[1][b], adc[2][b]),
                quantize, dac_bits, mapped.out, mapped.shift, mapped.sign, seeds,
                y[n0 : n0 + step],
            )  # fmt: skip
    return y


@intrinsic
def _ctpop(typingctx, word):
    """Population count of a uint64 (LLVM ctpop; vectorizes to vpopcntq with AVX-512)."""
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return sig, codegen


def _ctpop_python(word: int) -> np.int64:
    """Population count for pure-Python runs (NUMBA_DISABLE_JIT=1, e.g. coverage)."""
    return np.int64(int(word).bit_count())


_popcount: Any = _ctpop_python if getattr(numba.config, "DISABLE_JIT", False) else _ctpop


@jit_parallel
def _pack_bits(a, rows, n_blocks, bits, words):
    """Bit planes of a [M, K] non-negative int matrix: out[m, b, q, w] holds bit q of rows
    64*w .. 64*w+63 of row block b (row i of a block -> bit i % 64 of word i // 64)."""
    M, K = a.shape
    out = np.zeros((M, n_blocks, bits, words), np.uint64)
    for m in prange(M):
        for b in range(n_blocks):
            for w in range(words):
                k0 = b * rows + 64 * w
                k1 = min(K, b * rows + min(rows, 64 * w + 64))
                if k0 < k1:
                    seg = a[m, k0:k1]
                    for q in range(bits):
                        word = np.uint64(0)
                        for i in range(seg.shape[0]):
                            word |= np.uint64((seg[i] >> q) & 1) << np.uint64(i)
                        out[m, b, q, w] = word
    return out


@jit_inline
def _adc_code_value(v, fs, gain, lsb):
    # ADC (module docstring): clip to [0, fs], code = round(v * gain), integer value of code*lsb.
    v = min(max(v, 0.0), fs)
    return np.floor(np.floor(v * gain + 0.5) * lsb + 0.5)


@jit_parallel
def _pack_levels(levels, rows, n_blocks, bits, words):
    """Level bit planes of levels [K, C]: out[b, q * words + w, c] holds bit q of the levels of
    rows 64*w .. 64*w+63 of row block b in column c (one contiguous row per plane)."""
    K, C = levels.shape
    out = np.zeros((n_blocks, bits * words, C), np.uint64)
    for b in prange(n_blocks):
        for k in range(b * rows, min(K, (b + 1) * rows)):
            i = k - b * rows
            w, one = i >> 6, np.uint64(i & 63)
            for q in range(bits):
                plane = out[b, q * words + w]
                row = levels[k]
                for c in range(C):
                    plane[c] |= np.uint64((row[c] >> q) & 1) << one
    return out


# Passes over a column tile for 4 (input word w_k, level plane p_k) products, paired by shift:
# v[c] = (pop(w0 & p0[c]) + pop(w1 & p1[c])) << h01 + (pop(w2 & p2[c]) + pop(w3 & p3[c])) << h23.
# Reads with more than 4 products keep v in `tile` between passes; the last pass adds prior[c]
# (tile, or zeros) and converts into acc. Indices come only from range() (never negative), so
# LLVM drops numba's wraparound check and vectorizes (vpopcntq); branches stay outside loops.
@jit_inline
def _pop4(products, c):
    p0, p1, p2, p3, w0, w1, w2, w3, h01, h23 = products
    return ((_popcount(w0 & p0[c]) + _popcount(w1 & p1[c])) << h01) + (
        (_popcount(w2 & p2[c]) + _popcount(w3 & p3[c])) << h23
    )


@jit_inline
def _pass_set(tile, products):
    for c in range(tile.shape[0]):
        tile[c] = _pop4(products, c)


@jit_inline
def _pass_add(tile, products):
    # in place: a separate `prior` aliasing `tile` would defeat LLVM's runtime alias check
    for c in range(tile.shape[0]):
        tile[c] += _pop4(products, c)


@jit_inline
def _pass_adc(acc, prior, products, fs, gain, lsb, shift):
    for c in range(acc.shape[0]):
        v = prior[c] + _pop4(products, c)
        acc[c] += np.int64(_adc_code_value(float(v), fs[c], gain[c], lsb[c])) << shift


@jit_inline
def _pass_sum(acc, prior, products, shift):
    for c in range(acc.shape[0]):
        acc[c] += (prior[c] + _pop4(products, c)) << shift


@jit_inline
def _read_terms(xp_nb, r, dac_bits, n_level_bits, words, term_word, term_plane, term_shift):
    """List the nonzero (input word, level plane, shift) products of read r, grouped by shift in
    pairs and padded with zero words to a multiple of 4; return the padded count."""
    IB = xp_nb.shape[0]
    k = 0
    for h in range(dac_bits + n_level_bits - 1):  # h = input bit in the read + level bit
        for a in range(r * dac_bits, min(IB, (r + 1) * dac_bits)):
            q = h - (a - r * dac_bits)
            if 0 <= q < n_level_bits:
                for w in range(words):
                    if xp_nb[a, w] != 0:
                        term_word[k] = xp_nb[a, w]
                        term_plane[k] = q * words + w
                        term_shift[k] = h
                        k += 1
        if k % 2:  # complete the pair with a zero product of the same shift
            term_word[k] = 0
            term_plane[k] = 0
            term_shift[k] = h
            k += 1
    while k % 4:
        term_word[k] = 0
        term_plane[k] = 0
        term_shift[k] = 0
        k += 1
    return k


@jit_parallel
def _bitplane_kernel(xp, lp, adc, quantize, dac_bits, col_out, col_shift, col_sign, y):
    """Ideal-device crossbar MVM on packed bit planes; each thread owns whole rows of y.

    Analog sum of read r, block b, column c = sum over input bits a of the read and level
    bits q of 2**(a % dac_bits + q) * popcount(input plane a & level plane q), 64 rows per word.
    """
    N, B, IB, W = xp.shape
    C = lp.shape[2]
    CB = lp.shape[1] // W
    t = (IB + dac_bits - 1) // dac_bits
    n_max = dac_bits * CB * W + dac_bits + CB + 3
    for chunk in prange((N + _VECTOR_CHUNK - 1) // _VECTOR_CHUNK):
        n0, n1 = chunk * _VECTOR_CHUNK, min(N, (chunk + 1) * _VECTOR_CHUNK)
        acc = np.zeros((n1 - n0, C), np.int64)
        tile, zeros = np.empty(_COL_TILE, np.int64), np.zeros(_COL_TILE, np.int64)
        terms = (
            np.empty((n1 - n0, t, n_max), np.uint64), np.empty((n1 - n0, t, n_max), np.int64),
            np.empty((n1 - n0, t, n_max), np.int64), np.empty((n1 - n0, t), np.int64),
        )  # fmt: skip
        for b in range(B):
            t_word, t_plane, t_shift, t_count = terms
            for i in range(n1 - n0):
                for r in range(t):
                    t_count[i, r] = _read_terms(
                        xp[n0 + i, b], r, dac_bits, CB, W, t_word[i, r], t_plane[i, r],
                        t_shift[i, r],
                    )  # fmt: skip
            for c0 in range(0, C, _COL_TILE):
                _bitplane_tile(lp[b], adc, b, c0, quantize, dac_bits, acc, tile, zeros, terms)
        for n in range(n0, n1):
            for c in range(C):
                y[n, col_out[c]] += col_sign[c] * (acc[n - n0, c] << col_shift[c])


@jit
def _bitplane_tile(lp_b, adc, b, c0, quantize, dac_bits, acc, tile, zeros, terms):
    """Add row block b's converted reads of columns c0.. (one tile) to acc [vectors, C].

    The tile's level planes and ADC scales stay in L1 while the chunk's vectors stream by.
    """
    t_word, t_plane, t_shift, t_count = terms
    c1 = min(lp_b.shape[1], c0 + _COL_TILE)
    t_cur, zero = tile[: c1 - c0], zeros[: c1 - c0]
    fs, gain, lsb = adc[0][b, c0:c1], adc[1][b, c0:c1], adc[2][b, c0:c1]
    for i in range(acc.shape[0]):
        ac = acc[i, c0:c1]
        for r in range(t_count.shape[1]):
            tw, tp, th, count = t_word[i, r], t_plane[i, r], t_shift[i, r], t_count[i, r]
            for k in range(0, count, 4):
                args = (
                    lp_b[tp[k], c0:c1], lp_b[tp[k + 1], c0:c1],
                    lp_b[tp[k + 2], c0:c1], lp_b[tp[k + 3], c0:c1],
                    tw[k], tw[k + 1], tw[k + 2], tw[k + 3], th[k], th[k + 2],
                )  # fmt: skip
                prior = zero if k == 0 else t_cur
                if k + 4 < count:
                    if k == 0:
                        _pass_set(t_cur, args)
                    else:
                        _pass_add(t_cur, args)
                elif quantize:
                    _pass_adc(ac, prior, args, fs, gain, lsb, r * dac_bits)
                else:
                    _pass_sum(ac, prior, args, r * dac_bits)


@jit_inline
def _fill_normal(buf):
    # Standard normals by Marsaglia's polar method on numba's seeded Mersenne Twister; about
    # twice as fast here as one np.random.standard_normal() call per sample.
    i = 0
    while i < buf.shape[0]:
        u = 2.0 * np.random.random() - 1.0
        v = 2.0 * np.random.random() - 1.0
        s = u * u + v * v
        if 0.0 < s < 1.0:
            m = math.sqrt(-2.0 * math.log(s) / s)
            buf[i] = u * m
            if i + 1 < buf.shape[0]:
                buf[i + 1] = v * m
            i += 2


@jit_inline
def _adc_float(acc, sums, noise, adc, quantize, scale):
    # noise[c]: the column's read-noise deviation in level units (zeros when noiseless).
    fs, gain, lsb = adc
    if quantize:
        for c in range(acc.shape[0]):
            v = float(sums[c]) + noise[c]
            acc[c] += _adc_code_value(v, fs[c], gain[c], lsb[c]) * scale
    else:
        for c in range(acc.shape[0]):
            acc[c] += (float(sums[c]) + noise[c]) * scale


@jit_parallel
def _float_adc_kernel(
    sums, noise_sd, adc, quantize, dac_bits, col_out, col_shift, col_sign, seeds, y
):
    """Read noise, ADC and shift-and-add for one row block; chunk ch of vectors draws its noise
    from numba's generator seeded with seeds[ch], so threads do not change the result.

    Read noise: independent per-cell Gaussians (sd sigma levels) of one column sum to a
    Gaussian of sd sigma * sqrt(sum of squared input digits) = noise_sd[n, r], drawn per read.
    """
    N, t, C = sums.shape
    for ch in prange(seeds.shape[0]):
        np.random.seed(seeds[ch])
        acc = np.empty(C, np.float64)
        noise = np.zeros(C, np.float64)
        for n in range(ch * _NOISE_CHUNK, min(N, (ch + 1) * _NOISE_CHUNK)):
            acc[:] = 0.0
            for r in range(t):
                if noise_sd[n, r] > 0.0:
                    _fill_normal(noise)
                    noise *= noise_sd[n, r]
                else:
                    noise[:] = 0.0
                _adc_float(acc, sums[n, r], noise, adc, quantize, float(1 << (r * dac_bits)))
            for c in range(C):
                y[n, col_out[c]] += col_sign[c] * acc[c] * float(1 << col_shift[c])


def _validate(
    x, w, input_bits, weight_bits, cell_bits, dac_bits, adc_bits, rows, cols, differential
):
    """Check bits, shapes and value ranges; return int64 C-contiguous x and w."""
    _check_int("input_bits", input_bits, 1, 32)
    _check_int("weight_bits", weight_bits, 1, 32)
    _check_int("cell_bits", cell_bits, 1, 16)
    _check_int("dac_bits", dac_bits, 1, input_bits)
    _check_int("adc_bits", adc_bits, 0, 48)
    _check_int("rows", rows, 1, None)
    if cols is not None:
        _check_int("cols", cols, 1, None)
    x, w = _int_matrix("x", x), _int_matrix("w", w)  # original dtypes: range checks see values
    K = x.shape[1]
    if w.shape[0] != K or K == 0:
        raise ValueError(f"x [N, K] and w [K, O] need the same K >= 1 (got {x.shape}, {w.shape})")
    if input_bits + weight_bits + math.ceil(math.log2(K)) > _MAX_EXACT_BITS:
        raise ValueError(
            f"input_bits + weight_bits + ceil(log2 K) must be <= {_MAX_EXACT_BITS} so sums stay "
            f"exact (got {input_bits} + {weight_bits} + {math.ceil(math.log2(K))})"
        )
    _check_range("x", x, 0, (1 << input_bits) - 1)
    half = 1 << (weight_bits - 1)
    if differential:
        if weight_bits < 2:
            raise ValueError(f"differential weights need weight_bits >= 2 (got {weight_bits})")
        _check_range("w", w, 1 - half, half - 1)
    else:
        _check_range("w", w, -half, half - 1)
    return np.ascontiguousarray(x, dtype=np.int64), np.ascontiguousarray(w, dtype=np.int64)


def _check_int(name: str, value: object, lo: int, hi: int | None) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int (got {value!r})")
    if value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound} (got {value})")


def _int_matrix(name: str, a: object) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a 2-D integer array (got {arr.ndim}-D {arr.dtype})")
    return arr


def _check_range(name: str, a: np.ndarray, lo: int, hi: int) -> None:
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(
            f"{name} values must be in [{lo}, {hi}] (got min {a.min()}, max {a.max()})"
        )
