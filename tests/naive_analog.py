"""Slow, obviously correct reference for xbarsim.analog.kernel (STUMPY keeps tests/naive.py).

It shares no code with the kernel: one loop per weight part (positive/negative or offset),
slice, row block and read; each analog column sum is an exact integer matrix product, and the
ADC follows the documented formula operation for operation, so results must match exactly.
"""

from __future__ import annotations

import numpy as np


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
) -> np.ndarray:
    """What an ideal-device crossbar returns for x [N, K] (unsigned) times w [K, O] (signed)."""
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
    y = np.zeros((N, w.shape[1]), dtype=np.int64)
    for stored, sign in parts:
        for j in range(slices):
            levels = (stored // 2 ** (j * cell_bits)) % 2**cell_bits
            for k0 in range(0, K, rows):
                block = levels[k0 : k0 + rows]
                if adc_range == "fixed":
                    full_scale = block.shape[0] * digit_max * level_max
                else:
                    full_scale = digit_max * block.sum(axis=0)
                for r in range(reads):
                    digits = (x[:, k0 : k0 + rows] // 2 ** (r * dac_bits)) % 2**dac_bits
                    analog = digits @ block
                    digital = naive_adc(analog, full_scale, adc_bits)
                    y += sign * 2 ** (r * dac_bits + j * cell_bits) * digital
    if not differential:
        y -= half * x.sum(axis=1, keepdims=True)
    return y
