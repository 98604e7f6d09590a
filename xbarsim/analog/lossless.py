"""What the crossbar columns hold and what their ADCs must resolve.

Mapping (DESIGN 5): differential pairs (d = 2, m = weight_bits - 1 magnitude bits) or offset
encoding (d = 1, m = weight_bits, stored w + 2**(weight_bits-1), offset removed digitally);
s = ceil(m / cell_bits) slices, LSB first. Mapped column ``c = (o * s + j) * d + p`` holds
slice j of output o, polarity p (0 positive, 1 negative); row block b holds weight rows
``[b*rows, (b+1)*rows)``.

Lossless ADC bits (the TinyADC bound, from real weights): a column of a row block can produce
at most ``(2**dac_bits - 1) * sum(levels)`` level units; an ADC whose range is calibrated to
that maximum (``adc_range='calibrated'``) reproduces every integer sum exactly once
``2**bits - 1 >= max sum``, i.e. ``bits = ceil(log2(max_sum + 1))``. A ``fixed`` range needs the
bits of the block's worst case instead (``fixed_range_bits``).
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, TypeVar

import numpy as np


class AdcRange(str, Enum):
    """How the ADC full scale of a column is chosen."""

    FIXED = "fixed"
    """Largest possible sum of the block: rows_in_block * (2**dac-1) * (2**cell-1) levels."""
    CALIBRATED = "calibrated"
    """Largest sum of this column's actual levels: (2**dac-1) * sum(levels), per row block."""


class MappedWeights(NamedTuple):
    """Weights mapped to crossbar columns (plain arrays, STYLE 7)."""

    levels: np.ndarray
    """[K, C] int64 target cell levels, C = O * slices * d."""
    out: np.ndarray
    """[C] output index o of each column."""
    shift: np.ndarray
    """[C] slice shift j * cell_bits of each column."""
    sign: np.ndarray
    """[C] +1 for positive columns, -1 for the negative column of a differential pair."""
    offset: int
    """2**(weight_bits-1) for offset encoding (times sum(x) is subtracted), 0 if differential."""


def map_weights(
    w: np.ndarray, *, weight_bits: int, cell_bits: int, differential: bool
) -> MappedWeights:
    """Slice signed integer weights [K, O] into cell levels per mapped column."""
    w = np.asarray(w, dtype=np.int64)
    m = weight_bits - 1 if differential else weight_bits
    s = -(-m // cell_bits)
    if differential:
        parts, offset = [np.maximum(w, 0), np.maximum(-w, 0)], 0
    else:
        offset = 1 << (weight_bits - 1)
        parts = [w + offset]
    K, n_out = w.shape
    d = len(parts)
    levels = np.empty((K, n_out, s, d), np.int64)
    mask = (1 << cell_bits) - 1
    for p, u in enumerate(parts):
        for j in range(s):
            levels[:, :, j, p] = (u >> (j * cell_bits)) & mask
    c = np.arange(n_out * s * d)
    return MappedWeights(
        levels=levels.reshape(K, n_out * s * d),
        out=c // (s * d),
        shift=((c // d) % s) * cell_bits,
        sign=1 - 2 * (c % d),
        offset=offset,
    )


def adc_full_scale(
    levels: np.ndarray, *, rows: int, dac_bits: int, cell_bits: int, adc_range: str | AdcRange
) -> np.ndarray:
    """ADC full scale [row blocks, C] in level units, for the range policy."""
    K, C = levels.shape
    starts = np.arange(0, K, rows)
    dmax = (1 << dac_bits) - 1
    if parse_enum(AdcRange, adc_range, "adc_range") is AdcRange.FIXED:
        rows_in_block = np.minimum(starts + rows, K) - starts
        fs = rows_in_block * dmax * ((1 << cell_bits) - 1)
        return np.repeat(fs[:, None], C, axis=1).astype(np.float64)
    return (dmax * np.add.reduceat(levels, starts, axis=0)).astype(np.float64)


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


E = TypeVar("E", bound=Enum)


def parse_enum(cls: type[E], value: object, name: str) -> E:
    """Member of enum ``cls`` for ``value``; a ValueError lists the valid values."""
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{name} must be one of {valid} (got {value!r})") from None
