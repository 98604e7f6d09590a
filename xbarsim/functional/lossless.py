"""What the crossbar columns hold and what their ADCs must resolve.

Lossless ADC bits (the TinyADC bound, from real weights): a column of a row block can produce
at most ``(2**dac_bits - 1) * sum(levels)`` level units; an ADC whose range is calibrated to
that maximum (``adc_range='calibrated'``) reproduces every integer sum exactly once
``2**bits - 1 >= max sum``, i.e. ``bits = ceil(log2(max_sum + 1))``. A ``fixed`` range needs the
bits of the block's worst case instead (``fixed_range_bits``). Columns are sliced by
``xbarsim.mapping.encoding.slice_levels`` (docs/design.md section 5).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from xbarsim.functional.kernel.columns import kernel_encoding
from xbarsim.mapping.encoding import Encoding, slice_levels
from xbarsim.mapping.weights_map import group_matrices, integer_weights
from xbarsim.workload import Workload


def column_sum_bounds(levels: np.ndarray, *, rows: int, dac_bits: int) -> np.ndarray:
    """Largest analog sum [row blocks, C] each mapped column can produce, in level units."""
    starts = np.arange(0, levels.shape[0], rows)
    return ((1 << dac_bits) - 1) * np.add.reduceat(levels.astype(np.int64), starts, axis=0)


def bits_for(max_sum: int) -> int:
    """ceil(log2(max_sum + 1)), exactly (integer arithmetic): bits to code 0..max_sum."""
    return int(max_sum).bit_length()


def lossless_bits_per_block(w: np.ndarray, enc: Encoding) -> np.ndarray:
    """Minimum calibrated-ADC bits per row block [ceil(K / rows)] of integer weights w [K, O]."""
    levels = slice_levels(np.asarray(w), enc)
    worst = column_sum_bounds(levels, rows=enc.rows, dac_bits=enc.dac_bits).max(axis=1)
    return np.array([bits_for(v) for v in worst], dtype=np.int64)


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
    enc = kernel_encoding(weight_bits=weight_bits, cell_bits=cell_bits, dac_bits=dac_bits,
                          rows=rows, differential=differential)
    return lossless_bits_per_block(w, enc)


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


def workload_lossless_bits(
    workload: Workload, weights: Mapping[str, np.ndarray], enc: Encoding
) -> dict[str, int]:
    """Per MVM layer, the minimum calibrated-ADC bits (at least 1) that keep every column sum of
    every group and row block exact, for the float weights quantized by ``integer_weights``."""
    bits = {}
    for layer in workload.mvm_layers:
        w_int = integer_weights(weights[layer.name], enc)
        per_group = [lossless_bits_per_block(m, enc).max() for m in group_matrices(w_int, layer)]
        bits[layer.name] = max(1, int(max(per_group)))
    return bits


def fixed_range_bits(*, rows: int, dac_bits: int, cell_bits: int) -> int:
    """ADC bits that make a ``fixed`` full scale (the worst case of a full block) lossless."""
    return bits_for(rows * ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1))
