"""Column ADCs: full-scale policies and the conversion formula shared by every kernel path.

ADC (per row block, read and column): the analog sum v (level units, see device.py) is clipped
to [0, full_scale] and coded as ``code = floor(v * gain + 0.5)`` with
``gain = (2**adc_bits - 1) / full_scale`` and ``lsb = full_scale / (2**adc_bits - 1)`` (both 1
for a zero full scale; a multiply, not a divide, keeps the loop fast). The digital back end
keeps integers: it adds ``floor(code * lsb + 0.5)``, the code's value rounded to the nearest
level count. Hence lsb <= 1 reproduces every integer sum exactly. ``adc_bits = 0`` is an
ideal ADC (no clipping, no rounding).
"""

from __future__ import annotations

import functools
import math
from enum import Enum
from typing import NamedTuple, TypeVar

import numpy as np

from xbarsim.config.schema import AdcRange
from xbarsim.numba_settings import jit_inline


class AdcTables(NamedTuple):
    """Per row block and column [B, C]: full scale, gain and lsb (level units)."""

    fs: np.ndarray
    gain: np.ndarray
    lsb: np.ndarray


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
    return (dmax * np.add.reduceat(levels, starts, axis=0, dtype=np.int64)).astype(np.float64)


def adc_tables(fs: np.ndarray, adc_bits: int) -> AdcTables:
    """Gain and lsb for full scales ``fs``; an ideal ADC (``adc_bits = 0``) gets lsb 1."""
    top = float((1 << adc_bits) - 1)
    positive = fs > 0
    gain = np.where(positive, top / np.where(positive, fs, 1.0), 1.0)
    lsb = np.where(positive, fs / top, 1.0) if adc_bits > 0 else np.ones_like(fs)
    return AdcTables(fs, gain, lsb)


def float32_adc_exact(adc: AdcTables, max_check: int = 1 << 16) -> bool:
    """True when the lookup kernel's float32 ADC, ``floor(fma(floor(fma(v, gain, 0.5)), lsb,
    0.5))`` with gain and lsb rounded to float32, gives ``adc_code_value``'s float64 result for
    every integer sum 0..fs of every column: then it may convert 16 lanes per vector op instead
    of 8. Checked exhaustively per distinct full scale; full scales above ``max_check`` are not
    checked (False). A fused multiply-add rounds a * b + 0.5 once; here that exact value (a
    float32 product of at most 41 significant bits plus 0.5) is computed in float64 and
    rounded to float32 once, which is the fused result."""
    _, first = np.unique(adc.fs, return_index=True)  # gain and lsb are functions of fs
    distinct = zip(*(a.ravel()[first].tolist() for a in adc), strict=True)
    return all(_float32_exact(fs, gain, lsb, max_check) for fs, gain, lsb in distinct)


@functools.lru_cache(maxsize=4096)
def _float32_exact(fs: float, gain: float, lsb: float, max_check: int) -> bool:
    """``float32_adc_exact`` for one full scale (cached: layers repeat a few full scales)."""
    if fs != math.floor(fs) or fs > max_check:
        return False
    v = np.arange(int(fs) + 1, dtype=np.float64)
    ref = np.floor(np.floor(v * gain + 0.5) * lsb + 0.5)
    g32, l32 = float(np.float32(gain)), float(np.float32(lsb))
    code = np.floor((v * g32 + 0.5).astype(np.float32)).astype(np.float64)
    got = np.floor((code * l32 + 0.5).astype(np.float32))
    return bool(np.array_equal(ref, got))


@jit_inline
def adc_code_value(v, fs, gain, lsb):
    """Clip v to [0, fs], code = round(v * gain), return the integer value of code * lsb."""
    v = min(max(v, 0.0), fs)
    return np.floor(np.floor(v * gain + 0.5) * lsb + 0.5)


E = TypeVar("E", bound=Enum)


def parse_enum(cls: type[E], value: object, name: str) -> E:
    """Member of enum ``cls`` for ``value``; a ValueError lists the valid values."""
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{name} must be one of {valid} (got {value!r})") from None


@jit_inline
def noisy_adc_accumulate(acc, sums, noise, sd, adc, quantize, scale):
    """acc[c] += ADC(sums[c] + noise[c] * sd) * scale for one read of a row of columns: the
    float kernels' conversion (noise: standard normals; adc: (fs, gain, lsb) of the columns;
    without ``quantize`` an ideal ADC passes the analog value)."""
    fs, gain, lsb = adc
    for c in range(acc.shape[0]):
        v = float(sums[c]) + noise[c] * sd
        if quantize:
            v = adc_code_value(v, fs[c], gain[c], lsb[c])
        acc[c] += v * scale
