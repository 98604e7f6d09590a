"""Crossbar MVM for any device: effective levels, then analog sums by float32 group-sum tables
(float_lookup.py) or, for DAC digits over 8 bits, by float BLAS per row block and read; then
read noise, ADC (adc.py) and shift-and-add in numba.

Static non-idealities (programming error, stuck cells, drift, IR drop) are folded once per
programmed array into effective levels (``DeviceModel.effective_levels``), kept in a small cache
so the calls of one layer (chunks, signed parts) do not redraw them. Sums use float32: exact for
integer levels below 2**24, and within ~1e-7 relative otherwise, far below any device effect.

Read noise: independent per-cell Gaussians (sd sigma levels) of one column sum to a Gaussian of
sd sigma * sqrt(sum of squared input digits), drawn per read, column and vector from the
counter-based generator of noise.py: normal number c of pair row (n * t + r) * ceil(C / 2) in
the stream of (read seed, row block). Results do not depend on threads or chunking, and
tests/naive_analog.py reproduces them exactly.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from numba import prange

from xbarsim.functional.device import DeviceModel
from xbarsim.functional.kernel.adc import AdcTables, noisy_adc_accumulate
from xbarsim.functional.kernel.columns import KernelColumns
from xbarsim.functional.kernel.float_lookup import float_plan, run_float_lookup
from xbarsim.functional.kernel.noise import fill_normals, stream_key
from xbarsim.mapping.encoding import Encoding
from xbarsim.numba_settings import jit_parallel

_FLOAT_CHUNK_ELEMS = 1 << 22
"""Analog sums (float32) computed per BLAS call (16 MB)."""
_CACHE_SIZE = 4
"""Programmed arrays whose effective levels are kept (least recently used dropped)."""
_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def weights_id(w: np.ndarray, enc: Encoding) -> bytes:
    """The cache key of the cells programmed with integer weights ``w`` under ``enc``: every
    caller that reads the same programmed array must use it (``effective_levels32``)."""
    return hashlib.blake2b(w.tobytes() + repr(enc).encode(), digest_size=16).digest()


def run_float(
    x: np.ndarray,
    mapped: KernelColumns,
    adc: AdcTables,
    quantize: bool,
    geometry: tuple[int, int, int, int],
    n_out: int,
    device: DeviceModel,
    seeds: tuple[int, int],
    cols: int,
    weights_id: bytes,
) -> np.ndarray:
    """y [N, n_out] float64; cells programmed from seeds[0], read noise drawn from seeds[1].
    ``weights_id`` identifies the weights and mapping behind ``mapped`` (the cache key)."""
    input_bits, dac_bits, cell_bits, rows = geometry
    N, K = x.shape
    levels = effective_levels32(mapped.levels, device, (cell_bits, rows, cols, seeds[0]),
                                weights_id)
    max_sum = min(rows, K) * ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1)
    exact32 = device.is_static_ideal and max_sum < (1 << 24)
    levels = levels if exact32 or not device.is_static_ideal else levels.astype(np.float64)
    sigma = device.read_sigma_levels(cell_bits)
    plan = float_plan(min(rows, K), dac_bits)
    if plan is not None and levels.dtype == np.float32:
        return run_float_lookup(x, mapped, levels, adc, quantize, plan, geometry,
                                (sigma, seeds[1]), n_out)  # fmt: skip
    t = -(-input_bits // dac_bits)
    C = levels.shape[1]
    step = max(1, _FLOAT_CHUNK_ELEMS // (t * C))
    y = np.zeros((N, n_out), np.float64)
    for n0 in range(0, N, step):
        xc = x[n0 : n0 + step]
        for b, k0 in enumerate(range(0, K, rows)):
            block = levels[k0 : k0 + rows]
            digits, sumsq = _digit_planes(xc[:, k0 : k0 + rows], t, dac_bits, levels.dtype)
            sums = (digits.reshape(-1, block.shape[0]) @ block).reshape(len(xc), t, C)
            key = np.uint64(stream_key(seeds[1], b))
            _noise_adc_kernel(
                sums, sumsq, sigma, (adc.fs[b], adc.gain[b], adc.lsb[b]), quantize, dac_bits,
                (mapped.out, mapped.shift, mapped.sign), key, n0, y[n0 : n0 + step],
            )  # fmt: skip
    return y


def effective_levels32(
    levels: np.ndarray, device: DeviceModel, array: tuple[int, int, int, int], weights_id: bytes
) -> np.ndarray:
    """float32 level-unit weights the ADC sees for one programmed array, array = (cell_bits,
    rows, cols, seed) with cells drawn from ``seed``; from the cache when the same weights
    (``weights_id``) were programmed the same way recently."""
    cell_bits, rows, cols, seed = array
    key = (weights_id, levels.shape, device, array)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    eff = device.effective_levels(
        levels.astype(np.int64), cell_bits=cell_bits, rows=rows, cols=cols, rng=rng
    )
    eff = np.ascontiguousarray(eff, np.float32)
    with _cache_lock:
        _cache[key] = eff
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return eff


def clear_cache() -> None:
    """Forget every cached programmed array (benchmarks time programming from scratch)."""
    with _cache_lock:
        _cache.clear()


@jit_parallel
def _digit_planes(x, t, dac_bits, dtype):
    """Input digits of x [n, rows] as floats [n, t, rows] (read r: bits r*dac_bits..) and
    their sums of squares [n, t] (the read-noise variance in units of sigma**2)."""
    n, k = x.shape
    digits = np.empty((n, t, k), dtype)
    sumsq = np.zeros((n, t), np.float64)
    mask = (1 << dac_bits) - 1
    for i in prange(n):
        for r in range(t):
            row = digits[i, r]
            total = 0
            for j in range(k):
                d = (x[i, j] >> (r * dac_bits)) & mask
                row[j] = d
                total += d * d
            sumsq[i, r] = total
    return digits, sumsq


@jit_parallel
def _noise_adc_kernel(sums, sumsq, sigma, adc, quantize, dac_bits, columns, key, n_first, y):
    """Read noise, ADC and shift-and-add of one row block for vectors n_first.. (sums [n, t, C]);
    vector n of the call draws pair row (n * t + r) * ceil(C / 2) of the stream ``key``."""
    N, t, C = sums.shape
    col_out, col_shift, col_sign = columns
    pairs = (C + 1) // 2
    for n in prange(N):
        acc = np.zeros(C, np.float64)
        noise = np.zeros(C, np.float64)
        for r in range(t):
            sd = sigma * np.sqrt(sumsq[n, r])
            if sd > 0.0:
                fill_normals(key, np.uint64(((n_first + n) * t + r) * pairs), noise)
            noisy_adc_accumulate(acc, sums[n, r], noise, sd, adc, quantize,
                                 float(1 << (r * dac_bits)))  # fmt: skip
        for c in range(C):
            y[n, col_out[c]] += col_sign[c] * acc[c] * float(1 << col_shift[c])
