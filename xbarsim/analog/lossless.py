"""Minimum lossless ADC bits of a mapped layer (the TinyADC bound, computed from real weights).

A column of a row block can produce at most ``(2**dac_bits - 1) * sum(levels)`` level units;
an ADC whose range is calibrated to that maximum (``adc_range='calibrated'``) reproduces every
integer sum exactly once ``2**bits - 1 >= max sum``, i.e. ``bits = ceil(log2(max_sum + 1))``.
A ``fixed`` range needs the bits of the block's worst case instead (``fixed_range_bits``).
"""

from __future__ import annotations

import numpy as np

from xbarsim.analog.kernel import map_weights


def column_sum_bounds(levels: np.ndarray, *, rows: int, dac_bits: int) -> np.ndarray:
    """Largest analog sum [row blocks, C] each mapped column can produce, in level units."""
    starts = np.arange(0, levels.shape[0], rows)
    return ((1 << dac_bits) - 1) * np.add.reduceat(levels.astype(np.int64), starts, axis=0)


def bits_for(max_sum: int) -> int:
    """ceil(log2(max_sum + 1)), exactly (integer arithmetic): bits to code 0..max_sum."""
    return int(max_sum).bit_length()


def lossless_adc_bits_per_block(
    w: np.ndarray,
    *,
    weight_bits: int,
    cell_bits: int,
    dac_bits: int,
    rows: int,
    differential: bool,
) -> np.ndarray:
    """Minimum ADC bits per row block [ceil(K / rows)] for a calibrated, lossless conversion.

    A block whose columns are all zero needs 0 bits.
    """
    mapped = map_weights(
        np.asarray(w), weight_bits=weight_bits, cell_bits=cell_bits, differential=differential
    )
    worst = column_sum_bounds(mapped.levels, rows=rows, dac_bits=dac_bits).max(axis=1)
    return np.array([bits_for(v) for v in worst], dtype=np.int64)


def lossless_adc_bits(
    w: np.ndarray,
    *,
    weight_bits: int,
    cell_bits: int,
    dac_bits: int,
    rows: int,
    differential: bool,
) -> int:
    """Minimum ADC bits (at least 1) that keep the whole layer exact with a calibrated range."""
    per_block = lossless_adc_bits_per_block(
        w,
        weight_bits=weight_bits,
        cell_bits=cell_bits,
        dac_bits=dac_bits,
        rows=rows,
        differential=differential,
    )
    return max(1, int(per_block.max()))


def fixed_range_bits(*, rows: int, dac_bits: int, cell_bits: int) -> int:
    """ADC bits that make a ``fixed`` full scale (the worst case of a full block) lossless."""
    return bits_for(rows * ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1))
