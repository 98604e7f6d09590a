"""Crossbar MVM for any device: analog sums by BLAS per row block and read, then read noise,
ADC (adc.py) and shift-and-add in numba.

Read noise: independent per-cell Gaussians (sd sigma levels) of one column sum to a Gaussian of
sd sigma * sqrt(sum of squared input digits), drawn per read, column and vector from seeded
per-chunk streams, so results do not depend on the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from xbarsim.analog.adc import AdcTables, adc_code_value
from xbarsim.analog.columns import KernelColumns
from xbarsim.analog.device import DeviceModel
from xbarsim.analog.numba_settings import jit_inline, jit_parallel

_NOISE_CHUNK = 16
"""Vectors per seeded read-noise stream: results do not depend on the thread count."""
_FLOAT_CHUNK_ELEMS = 1 << 22
"""Analog sums (float64) computed per BLAS call in the float path (32 MB)."""


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
) -> np.ndarray:
    """y [N, n_out] float64; cells programmed from seeds[0], read noise drawn from seeds[1]."""
    input_bits, dac_bits, cell_bits, rows = geometry
    N, K = x.shape
    program_seed, read_seed = seeds
    rng = np.random.default_rng(np.random.SeedSequence([program_seed, 0]))
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
                noise_sd = sigma * np.sqrt(np.square(digits, dtype=np.float64).sum(axis=2))
            streams = np.random.SeedSequence([read_seed, 1, b, n0]).generate_state(n_chunks)
            _float_adc_kernel(
                sums.reshape(xc.shape[0], t, C), noise_sd, (adc.fs[b], adc.gain[b], adc.lsb[b]),
                quantize, dac_bits, mapped.out, mapped.shift, mapped.sign, streams,
                y[n0 : n0 + step],
            )  # fmt: skip
    return y


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
            acc[c] += adc_code_value(v, fs[c], gain[c], lsb[c]) * scale
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
