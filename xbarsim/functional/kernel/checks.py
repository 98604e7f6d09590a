"""Argument checks of the public kernel wrapper: bits, shapes and value ranges."""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from xbarsim.config.schema import ADC_BITS_MAX
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.numba_settings import jit_parallel

MAX_EXACT_BITS = 50
"""input_bits + weight_bits + ceil(log2 K) limit: every sum stays exact in float64 and int64."""


def validate(x: object, w: object, xbar: AnalogCrossbar) -> tuple[np.ndarray, np.ndarray]:
    """Check bits, shapes and value ranges; return C-contiguous x (its integer dtype: each
    kernel path converts it once, to what it reads) and w (int64)."""
    enc = xbar.enc
    input_bits, weight_bits, differential = enc.input_bits, enc.weight_bits, enc.differential
    check_int("input_bits", input_bits, 1, 32)
    check_int("weight_bits", weight_bits, 1, 32)
    check_int("cell_bits", enc.cell_bits, 1, 16)
    check_int("dac_bits", enc.dac_bits, 1, input_bits)
    check_int("adc_bits", xbar.adc_bits, 0, ADC_BITS_MAX)  # 0: an ideal converter
    check_int("rows", enc.rows, 1, None)
    check_int("cols", enc.cols, 1, None)
    x, w = _int_matrix("x", x), _int_matrix("w", w)  # original dtypes: range checks see values
    K = x.shape[1]
    if w.shape[0] != K or K == 0:
        raise ValueError(f"x [N, K] and w [K, O] need the same K >= 1 (got {x.shape}, {w.shape})")
    if input_bits + weight_bits + math.ceil(math.log2(K)) > MAX_EXACT_BITS:
        raise ValueError(
            f"input_bits + weight_bits + ceil(log2 K) must be <= {MAX_EXACT_BITS} so sums stay "
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
    return np.ascontiguousarray(x), np.ascontiguousarray(w, dtype=np.int64)


def input_dtype(input_bits: int) -> type:
    """The smallest unsigned type holding ``input_bits``-bit inputs: the lookup kernel reads x
    once per row block, so 8-bit inputs as uint8 move 8x less memory than int64."""
    return np.uint8 if input_bits <= 8 else np.uint16 if input_bits <= 16 else np.uint32


def check_int(name: str, value: object, lo: int, hi: int | None) -> None:
    """``value`` is an int (not a bool) in [lo, hi] (no upper bound when hi is None)."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
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


@jit_parallel
def row_sums(x):
    """sum(x, axis=1) of a 2-D integer array as int64, rows split over threads (the offset
    encoding's correction, after the kernel)."""
    out = np.zeros(x.shape[0], np.int64)
    for i in prange(x.shape[0]):
        total = np.int64(0)
        for v in x[i]:
            total += np.int64(v)
        out[i] = total
    return out
