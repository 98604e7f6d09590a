"""Weights as the kernel sees them: the cell levels of every mapped column plus, per column, the
output it feeds, its slice shift and its sign.

The slicing convention itself lives once, in ``xbarsim.mapping.encoding.slice_levels``
(docs/design.md section 5):
column ``c = (o * s + j) * d + p`` holds slice j (LSB first) of output o, polarity p (0 positive,
1 negative); offset encoding stores ``w + 2**(weight_bits-1)`` and removes the offset digitally.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import prange

from xbarsim.mapping.encoding import Encoding
from xbarsim.numba_settings import jit_parallel


class KernelColumns(NamedTuple):
    """Weights mapped to crossbar columns (plain arrays)."""

    levels: np.ndarray
    """[K, C] target cell levels, C = O * s * d: uint8 for cell_bits <= 8, else uint16 (as
    ``slice_levels``; widen before arithmetic that could leave that range)."""
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
    """Slice signed integer weights [K, O] as ``slice_levels`` does (tests compare the two) and
    label every column. Weights must lie in the encoding's range (the wrapper checks them)."""
    w = np.ascontiguousarray(w, dtype=np.int64)
    dtype = np.uint8 if enc.cell_bits <= 8 else np.uint16
    levels = np.empty((w.shape[0], w.shape[1] * enc.s * enc.d), dtype)
    bias = 0 if enc.differential else 1 << (enc.weight_bits - 1)
    _slice(w, bias, enc.cell_bits, enc.s, enc.d, levels)
    c = np.arange(levels.shape[1])
    s, d = enc.s, enc.d
    return KernelColumns(
        levels=levels,
        out=c // (s * d),
        shift=((c // d) % s) * enc.cell_bits,
        sign=1 - 2 * (c % d),
        offset=0 if enc.differential else 1 << (enc.weight_bits - 1),
    )


@jit_parallel
def _slice(w, bias, cell_bits, s, d, out):
    """out[k, (o * s + j) * d + p] = slice j of part p of w[k, o] + bias: part 0 the positive
    magnitude (or the biased weight when d = 1), part 1 the negative magnitude."""
    mask = (1 << cell_bits) - 1
    for k in prange(w.shape[0]):
        row, dst = w[k], out[k]
        for o in range(w.shape[1]):
            v = row[o] + bias
            pos, neg = max(v, 0), max(-v, 0)
            for j in range(s):
                c = (o * s + j) * d
                dst[c] = (pos >> (j * cell_bits)) & mask
                if d == 2:
                    dst[c + 1] = (neg >> (j * cell_bits)) & mask
