"""Functional side: what the crossbars compute (numba kernel, device non-idealities, ADC bits)."""

from xbarsim.analog.device import IDEAL, DeviceModel, ProgramError
from xbarsim.analog.kernel import (
    AdcRange,
    MappedWeights,
    Method,
    adc_full_scale,
    crossbar_mvm,
    map_weights,
)
from xbarsim.analog.lossless import (
    column_sum_bounds,
    fixed_range_bits,
    lossless_adc_bits,
    lossless_adc_bits_per_block,
)

__all__ = [
    "IDEAL",
    "AdcRange",
    "DeviceModel",
    "MappedWeights",
    "Method",
    "ProgramError",
    "adc_full_scale",
    "column_sum_bounds",
    "crossbar_mvm",
    "fixed_range_bits",
    "lossless_adc_bits",
    "lossless_adc_bits_per_block",
    "map_weights",
]
