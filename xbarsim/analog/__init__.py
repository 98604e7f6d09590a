"""Functional side: what the crossbars compute (numba kernel, device non-idealities, ADC bits)."""

from xbarsim.analog.device import IDEAL, DeviceModel, ProgramError
from xbarsim.analog.kernel import Method, crossbar_mvm
from xbarsim.analog.lossless import (
    AdcRange,
    MappedWeights,
    adc_full_scale,
    column_sum_bounds,
    fixed_range_bits,
    lossless_adc_bits,
    lossless_adc_bits_per_block,
    map_weights,
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
