"""Functional side: what the crossbars compute (numba kernel, device non-idealities, ADC bits)."""

from xbarsim.config.schema import AdcRange
from xbarsim.functional.device import IDEAL, DeviceModel, ProgramError
from xbarsim.functional.kernel.adc import adc_full_scale
from xbarsim.functional.kernel.columns import KernelColumns, kernel_encoding, levels_for_kernel
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.functional.kernel.wrapper import Method, crossbar_mvm, exact_mvm
from xbarsim.functional.lossless import (
    column_sum_bounds,
    fixed_range_bits,
    lossless_adc_bits,
    lossless_adc_bits_per_block,
    workload_lossless_bits,
)

__all__ = [
    "IDEAL",
    "AdcRange",
    "AnalogCrossbar",
    "DeviceModel",
    "KernelColumns",
    "Method",
    "ProgramError",
    "adc_full_scale",
    "column_sum_bounds",
    "crossbar_mvm",
    "exact_mvm",
    "fixed_range_bits",
    "kernel_encoding",
    "levels_for_kernel",
    "lossless_adc_bits",
    "lossless_adc_bits_per_block",
    "workload_lossless_bits",
]
