"""Weights as the kernel sees them: the cell levels of every mapped column plus, per column, the
output it feeds, its slice shift and its sign.

The slicing convention itself lives once, in ``xbarsim.mapping.encoding.slice_levels`` (DESIGN 5):
column ``c = (o * s + j) * d + p`` holds slice j (LSB first) of output o, polarity p (0 positive,
1 negative); offset encoding stores ``w + 2**(weight_bits-1)`` and removes the offset digitally.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from xbarsim.mapping.encoding import Encoding, slice_levels


class KernelColumns(NamedTuple):
    """Weights mapped to crossbar columns (plain arrays, STYLE 7)."""

    levels: np.ndarray
    """[K, C] int64 target cell levels, C = O * s * d."""
    out: np.ndarray
    """[C] output index o of each column."""
    shift: np.ndarray
    """[C] slice shift j * cell_bits of each column."""
    sign: np.ndarray
    """[C] +1 for positive columns, -1 for the negative column of a differential pair."""
    offset: int
    """2**(weight_bits-1) for offset encoding (times sum(x) is subtracted), 0 if differential."""


def kernel_encoding(
    *,
    weight_bits: int,
    cell_bits: int,
    differential: bool,
    input_bits: int = 1,
    dac_bits: int = 1,
    rows: int = 1,
    cols: int = 1,
) -> Encoding:
    """An ``Encoding`` from the kernel's keyword arguments (geometry defaults unused by slicing)."""
    return Encoding(
        weight_bits=weight_bits,
        input_bits=input_bits,
        cell_bits=cell_bits,
        dac_bits=dac_bits,
        differential=differential,
        rows=rows,
        cols=cols,
    )


def levels_for_kernel(w: np.ndarray, enc: Encoding) -> KernelColumns:
    """Slice signed integer weights [K, O] with ``slice_levels`` and label every column."""
    levels = slice_levels(w, enc).astype(np.int64)
    c = np.arange(levels.shape[1])
    s, d = enc.s, enc.d
    return KernelColumns(
        levels=levels,
        out=c // (s * d),
        shift=((c // d) % s) * enc.cell_bits,
        sign=1 - 2 * (c % d),
        offset=0 if enc.differential else 1 << (enc.weight_bits - 1),
    )
