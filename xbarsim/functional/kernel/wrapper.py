"""Crossbar MVM as the hardware computes it: bit-serial inputs, bit-sliced weights, per-column ADC.

The crossbars are one ``AnalogCrossbar`` (formats, device, ADC). Weights map to columns and row
blocks as columns.py describes (docs/design.md section 5). Inputs are
applied ``dac_bits`` at a time: t = ceil(input_bits / dac_bits) reads, digit r = bits r*dac_bits.. .
Every (row block, read, column) analog sum goes through the ADC of adc.py; shift-and-add then weighs
read r by 2**(r*dac_bits) and slice j by 2**(j*cell_bits) and subtracts the negative column of a
pair. This module is the validating wrapper; the numba kernels live in lookup.py and bitplane.py
(ideal device) and float_path.py (any device).
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from xbarsim.config.schema import AdcRange
from xbarsim.functional.device import DeviceModel
from xbarsim.functional.kernel.adc import adc_full_scale, adc_tables, parse_enum
from xbarsim.functional.kernel.bitplane import run_bitplane
from xbarsim.functional.kernel.checks import check_int, input_dtype, row_sums, validate
from xbarsim.functional.kernel.columns import levels_for_kernel
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.functional.kernel.float_path import run_float, weights_id
from xbarsim.functional.kernel.lookup import lookup_plan, run_lookup


class Method(str, Enum):
    """Implementation; all give the same result where they apply."""

    AUTO = "auto"
    """EXACT when ideal and lossless, else LOOKUP when the device is ideal, else FLOAT."""
    EXACT = "exact"
    """Ideal device and lossless ADC: x @ w in float64 BLAS (exact below 2**53)."""
    LOOKUP = "lookup"
    """Ideal device: group-sum lookup tables, byte-vector adds (lookup.py); BITPLANE where
    its plan does not apply (DAC digits or cell levels too large for byte sums)."""
    BITPLANE = "bitplane"
    """Ideal device: inputs and level bits packed in 64-bit words, popcounts, integer ADC."""
    FLOAT = "float"
    """Any device: effective levels folded once per programmed array, float32 group-sum
    tables (float_lookup.py; float BLAS for DAC digits over 8 bits), then counter-based read
    noise (noise.py), ADC and shift-and-add in numba."""


def crossbar_mvm(
    x: np.ndarray,
    w: np.ndarray,
    xbar: AnalogCrossbar,
    *,
    seed: int = 0,
    read_seed: int | None = None,
    method: str | Method = Method.AUTO,
) -> np.ndarray:
    """Compute y [N, O] = what crossbars ``xbar`` holding w [K, O] return for inputs x [N, K].

    ``seed`` draws the programmed cells, ``read_seed`` (default ``seed``) the read noise: calls
    with the same ``seed`` read the same programmed array. Returns int64 when the result is
    integer (quantizing ADC or ideal device), float64 otherwise; deterministic for given seeds.
    """
    enc, device = xbar.enc, xbar.device
    x, w = validate(x, w, xbar)
    check_int("seed", seed, 0, None)
    read_seed = seed if read_seed is None else read_seed
    check_int("read_seed", read_seed, 0, None)
    adc_range = parse_enum(AdcRange, xbar.adc_range, "adc_range")
    method = parse_enum(Method, method, "method")
    N, n_out = x.shape[0], w.shape[1]
    if N == 0 or n_out == 0:
        return np.zeros((N, n_out), np.int64)
    if device.is_ideal and xbar.adc_bits == 0 and method in (Method.AUTO, Method.EXACT):
        return exact_mvm(x, w)
    mapped = levels_for_kernel(w, enc)
    fs = adc_full_scale(mapped.levels, rows=enc.rows, dac_bits=enc.dac_bits,
                        cell_bits=enc.cell_bits, adc_range=adc_range)
    adc = adc_tables(fs, xbar.adc_bits)
    quantize = xbar.adc_bits > 0
    method = _choose_method(method, device, quantize, adc.lsb)
    if method is Method.EXACT:
        return exact_mvm(x, w)
    geometry = (enc.input_bits, enc.dac_bits, enc.cell_bits, enc.rows)
    plan = lookup_plan(min(enc.rows, x.shape[1]), enc.dac_bits, enc.cell_bits)
    if method is Method.LOOKUP and plan is not None:
        narrow: np.ndarray = x.astype(input_dtype(enc.input_bits), copy=False)
        y = run_lookup(narrow, mapped, adc, quantize, plan, geometry, n_out)
    elif method in (Method.LOOKUP, Method.BITPLANE):
        y = run_bitplane(x.astype(np.int64, copy=False), mapped, adc, quantize, geometry, n_out)
    else:
        wide = x.astype(np.int64, copy=False)
        y = run_float(wide, mapped, adc, quantize, geometry, n_out, device, (seed, read_seed),
                      enc.cols, weights_id(w, enc))  # fmt: skip
        if quantize or device.is_ideal:
            y = np.rint(y).astype(np.int64)
    if mapped.offset:
        y -= mapped.offset * row_sums(x)[:, None]
    return y


def exact_mvm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w of integer matrices as int64, by float64 BLAS.

    Exact when integer products and all partial sums stay below 2**53 (the wrapper checks
    input_bits + weight_bits + ceil(log2 K) <= 50), in any summation order.
    """
    return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)


def _choose_method(method: Method, device: DeviceModel, quantize: bool, lsb: np.ndarray) -> Method:
    """Resolve AUTO and refuse a method that does not apply."""
    exact_ok = device.is_ideal and (not quantize or float(lsb.max()) <= 1.0)
    if method is Method.AUTO:
        return Method.EXACT if exact_ok else Method.LOOKUP if device.is_ideal else Method.FLOAT
    if method is Method.EXACT and not exact_ok:
        raise ValueError("method='exact' needs an ideal device and a lossless ADC (lsb <= 1)")
    if method in (Method.LOOKUP, Method.BITPLANE) and not device.is_ideal:
        raise ValueError(f"method={method.value!r} needs an ideal device; use 'float' or 'auto'")
    return method
