"""Slow, obviously correct reference for the crossbar kernel (STUMPY keeps tests/naive.py).

It shares no code with the kernel: one loop per weight part (positive/negative or offset),
slice, row block and read; each analog column sum is an exact integer matrix product, and the
ADC follows the documented formula operation for operation, so results must match exactly.
The one shared piece is the read-noise stream (``read_sigma``): the counter-based generator's
NumPy twin (xbarsim.functional.kernel.noise), so a noisy kernel run is reproduced exactly too.
"""

from __future__ import annotations

import numpy as np

from xbarsim.functional.kernel.noise import normal_pairs_numpy, stream_key_numpy


def naive_adc(value: np.ndarray, full_scale: np.ndarray, adc_bits: int) -> np.ndarray:
    """Integer value the digital side adds for an analog column sum (level units)."""
    if adc_bits == 0:
        return value
    top = 2**adc_bits - 1
    fs = np.broadcast_to(np.asarray(full_scale, dtype=np.float64), value.shape)
    gain = np.where(fs > 0, top / np.where(fs > 0, fs, 1.0), 1.0)
    lsb = np.where(fs > 0, fs / top, 1.0)
    clipped = np.minimum(np.maximum(value.astype(np.float64), 0.0), fs)
    code = np.floor(clipped * gain + 0.5)
    return np.floor(code * lsb + 0.5).astype(np.int64)


def naive_crossbar_mvm(
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
    adc_range: str = "fixed",
    read_sigma: float = 0.0,
    read_seed: int = 0,
) -> np.ndarray:
    """What an ideal-device crossbar returns for x [N, K] (unsigned) times w [K, O] (signed).

    ``read_sigma`` (fraction of the conductance range) adds read noise as the kernel defines
    it: per read, column and vector a Gaussian of sd sigma * (2**cell_bits - 1) *
    sqrt(sum of squared digits), standard normal number c of pair row (n * reads + r) *
    ceil(C / 2) of the stream of (read_seed, row block), C = outputs * slices * parts,
    column c = (o * slices + j) * parts + part.
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    N, K = x.shape
    half = 2 ** (weight_bits - 1)
    if differential:
        magnitude_bits = weight_bits - 1
        parts = [(np.maximum(w, 0), +1), (np.maximum(-w, 0), -1)]
    else:
        magnitude_bits = weight_bits
        parts = [(w + half, +1)]
    slices = -(-magnitude_bits // cell_bits)
    reads = -(-input_bits // dac_bits)
    digit_max = 2**dac_bits - 1
    level_max = 2**cell_bits - 1
    O = w.shape[1]
    n_cols = O * slices * len(parts)
    sigma = read_sigma * level_max
    y = np.zeros((N, O), dtype=np.int64)
    for part, (stored, sign) in enumerate(parts):
        for j in range(slices):
            levels = (stored // 2 ** (j * cell_bits)) % 2**cell_bits
            columns = (np.arange(O) * slices + j) * len(parts) + part
            for b, k0 in enumerate(range(0, K, rows)):
                block = levels[k0 : k0 + rows]
                if adc_range == "fixed":
                    full_scale = block.shape[0] * digit_max * level_max
                else:
                    full_scale = digit_max * block.sum(axis=0)
                for r in range(reads):
                    digits = (x[:, k0 : k0 + rows] // 2 ** (r * dac_bits)) % 2**dac_bits
                    analog = digits @ block
                    if sigma > 0:
                        sd = sigma * np.sqrt(np.sum(digits**2, axis=1).astype(np.float64))
                        z = _noise(read_seed, b, N, reads, n_cols)[:, r, columns]
                        analog = analog.astype(np.float64) + z * sd[:, None]
                    digital = naive_adc(analog, full_scale, adc_bits)
                    y += sign * 2 ** (r * dac_bits + j * cell_bits) * digital
    if not differential:
        y -= half * x.sum(axis=1, keepdims=True)
    return y


def _noise(read_seed: int, block: int, n: int, reads: int, n_cols: int) -> np.ndarray:
    """Standard normals [n, reads, n_cols] of one row block's stream."""
    pairs = -(-n_cols // 2)
    counters = np.arange(n * reads * pairs, dtype=np.uint64)
    cos, sin = normal_pairs_numpy(stream_key_numpy(read_seed, block), counters)
    both = np.stack([cos, sin], axis=-1).reshape(n, reads, 2 * pairs)
    return both[:, :, :n_cols]
