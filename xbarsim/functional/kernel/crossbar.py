"""The one object a kernel call needs: what the crossbars are (formats and geometry), what their
devices do, and how their ADCs convert."""

from __future__ import annotations

from dataclasses import dataclass

from xbarsim.config.schema import AdcRange
from xbarsim.functional.device import IDEAL, DeviceModel
from xbarsim.mapping.encoding import Encoding


@dataclass(frozen=True)
class AnalogCrossbar:
    """Crossbars as the kernel computes them. Built from an ``Arch`` by
    ``xbarsim.functional.device_config.analog_crossbar``, or directly for kernel studies."""

    enc: Encoding
    """Number formats (input, weight, cell and DAC bits; differential or offset) and geometry;
    ``enc.cols`` only sets the column positions seen by IR drop."""
    device: DeviceModel = IDEAL
    """Device non-idealities."""
    adc_bits: int = 0
    """ADC resolution (``crossbar.adc.bits``); 0 is an ideal converter (no quantization)."""
    adc_range: AdcRange = AdcRange.FIXED
    """ADC full-scale policy (``analog.adc_range``)."""
