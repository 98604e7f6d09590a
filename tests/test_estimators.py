"""Component costs from attributes: ADC energy by resolution, read timing, chip area."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xbarsim.config import load_arch
from xbarsim.config.schema import ADC_BITS_MAX
from xbarsim.timing.energy import ActionEnergies, area_mm2
from xbarsim.timing.estimators import (
    ADC_PJ_BY_BITS,
    adc_energy_pj,
    adc_scale,
    memory_energy_scale,
)
from xbarsim.timing.hw.clock import Clock
from xbarsim.timing.hw.crossbar import CrossbarUnit
from xbarsim.timing.hw.stats import Counters

ISAAC = "arch_configs/isaac_like.yaml"


def adc_pj(*overrides: str) -> float:
    return ActionEnergies.from_arch(load_arch(ISAAC, list(overrides))).adc_conversion


def test_adc_anchor_is_isaacs_measured_point():
    # ISAAC: 8-bit SAR, 2 mW at 1.28 GS/s (0.78125 ns per conversion) -> 1.5625 pJ
    assert adc_pj() == 2.0 * 0.78125 == 1.5625


def test_adc_energy_follows_the_cited_table_between_4_and_10_bits():
    for bits, pj in ADC_PJ_BY_BITS.items():
        assert math.isclose(adc_pj(f"crossbar.adc.bits={bits}"), 1.5625 * pj / 1.67)
    # 8 -> 4 bits more than halves the energy (0.79 / 1.67 = 0.47)
    assert adc_pj("crossbar.adc.bits=4") < adc_pj() / 2


def test_adc_energy_outside_the_table():
    assert math.isclose(adc_scale(3), adc_scale(4) * 0.79 / 0.99)  # the table's lowest step
    assert math.isclose(adc_scale(12), adc_scale(10) * 4)  # Walden: x2 per bit


@given(st.integers(1, ADC_BITS_MAX - 1))
def test_adc_energy_is_monotone_in_bits(bits):
    assert adc_scale(bits) < adc_scale(bits + 1)


def test_adc_energy_scales_from_the_reference_resolution_and_can_be_overridden():
    # power measured at 4 bits, used at 8: the 4-bit anchor scaled up by 1.67 / 0.79
    assert math.isclose(adc_pj("crossbar.adc.reference_bits=4"), 1.5625 * 1.67 / 0.79)
    assert adc_pj("crossbar.adc.energy_pj=3.0", "crossbar.adc.bits=4") == 3.0
    adc = load_arch(ISAAC).crossbar.adc
    assert adc_energy_pj(adc) == adc_pj()


def test_a_read_rounds_its_conversion_time_once():
    # 128 columns on one ADC at 0.78125 ns = 100 ns = 120 cycles at 1.2 GHz (ISAAC's 100 ns),
    # not 128 conversions x ceil(0.9375) = 128 cycles; the read itself is 100 ns = 120 cycles.
    xb = load_arch(ISAAC).crossbar
    unit = CrossbarUnit(None, xb, Clock(1.2), Counters())  # type: ignore[arg-type]
    assert unit.read_time(1, 128, first=False) == 120
    assert unit.read_time(16, 128, first=True) == 120 + 16 * 120
    assert unit.read_time(1, 9, first=False) == 120  # 9 x 0.78125 = 7.03 ns -> 9 cycles < read


def test_isaac_area_from_its_component_table():
    # ISAAC (ISCA 2016) per IMA: 8 ADCs 0.0096, DACs 0.00017, S&H 0.00004, arrays 0.0002,
    # shift-add 0.00024, registers 0.0021 + 0.00077; per tile: 12 IMAs, eDRAM 0.083, bus 0.090,
    # router 0.151 / 4, sigmoid 0.0006 + shift-add 0.00006 + max-pool 0.00024, output register
    # 0.0032; 168 tiles and 22.88 mm2 of HyperTransport = 85.4 mm2 published. The config adds
    # what ISAAC lacks: a 0.01 mm2 coefficient combiner per tile and a 0.5 mm2 global buffer.
    ima = 0.0096 + 0.00017 + 0.00004 + 0.0002 + 0.00024 + 0.0021 + 0.00077
    tile = 12 * ima + 0.083 + 0.090 + 0.151 / 4 + 0.0006 + 0.00006 + 0.00024 + 0.0032
    isaac = 168 * tile + 22.88
    assert isaac == pytest.approx(85.4, rel=0.001)
    # (the config rounds the DACs' 0.00017 / 8 mm2 per crossbar to 0.0000213: +0.0008 mm2)
    assert area_mm2(load_arch(ISAAC)) == pytest.approx(isaac + 168 * 0.01 + 0.5, abs=0.001)
    assert area_mm2(load_arch(ISAAC)) == pytest.approx(85.4, rel=0.05)


def test_buffer_energy_and_area_scale_with_capacity():
    base = load_arch(ISAAC)
    e = ActionEnergies.from_arch(base)
    assert e.tile_buffer_read_byte == 0.639  # ISAAC's 64 KB eDRAM row, at its own size
    big = ActionEnergies.from_arch(load_arch(ISAAC, ["tile.buffer.kib=256"]))
    assert big.tile_buffer_read_byte == pytest.approx(2 * 0.639)  # 4x the capacity: 2x
    # Horowitz: an 8 KB SRAM read is 10 pJ, a 32 KB one 20 pJ (per 64 bits)
    assert memory_energy_scale(32, 8) == 2.0
    coeff = ActionEnergies.from_arch(load_arch(ISAAC, ["tile.combiner.coeff_buffer_kib=32"]))
    assert coeff.coeff_buffer_byte == pytest.approx(2 * e.coeff_buffer_byte)
    grown = area_mm2(load_arch(ISAAC, ["tile.buffer.kib=128"])) - area_mm2(base)
    assert grown == pytest.approx(168 * 0.083)  # twice the cells: one more 64 KB per tile
