"""Component costs from attributes: ADC energy by resolution, read timing, chip area."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xbarsim.config import load_arch
from xbarsim.config.schema import ADC_BITS_MAX
from xbarsim.errors import XbarsimError
from xbarsim.timing.energy import ActionEnergies, area_mm2, dynamic_energy
from xbarsim.timing.estimators import (
    ADC_PJ_BY_BITS,
    adc_area_mm2,
    adc_conversion_ns,
    adc_energy_pj,
    adc_scale,
    add_scale,
    memory_energy_scale,
    pulse_energy_pj,
    verify_energy_pj,
    xbar_row_energy_pj,
)
from xbarsim.timing.hw.clock import Clock
from xbarsim.timing.hw.crossbar import CrossbarUnit
from xbarsim.timing.hw.stats import COUNTERS, Counters

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
    # what ISAAC lacks: a coefficient combiner (64 lanes of 432 um2 and 8 KiB at 0.00105 mm2,
    # 0.036048 mm2) and 12 write-verify controllers of 0.0001 mm2 per tile (no global buffer,
    # like ISAAC).
    ima = 0.0096 + 0.00017 + 0.00004 + 0.0002 + 0.00024 + 0.0021 + 0.00077
    tile = 12 * ima + 0.083 + 0.090 + 0.151 / 4 + 0.0006 + 0.00006 + 0.00024 + 0.0032
    isaac = 168 * tile + 22.88
    assert isaac == pytest.approx(85.4, rel=0.001)
    # (the config rounds the DACs' 0.00017 / 8 mm2 per crossbar to 0.0000213: +0.0008 mm2)
    added = 168 * (0.036048 + 12 * 0.0001)
    assert area_mm2(load_arch(ISAAC)) == pytest.approx(isaac + added, abs=0.001)
    assert area_mm2(load_arch(ISAAC)) - added == pytest.approx(85.4, rel=0.05)


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


def test_isaac_periphery_energies_reproduce_its_power_rows_at_peak():
    # At ISAAC's peak every crossbar reads a 1-bit slice on its 128 rows every 100 ns and
    # converts 128 columns in that time: per IMA 8 x 128 bits and 8 x 128 conversions per 100 ns.
    # Charged per action, the periphery then draws ISAAC T6's powers: bus 7 mW per tile (12
    # IMAs) + input register 1.24 mW per IMA; output register 0.23 mW per IMA + tile output
    # register 1.68, sigmoids 0.52, max-pool 0.4, shift-and-add 0.05 mW per tile.
    e = ActionEnergies.from_arch(load_arch(ISAAC))
    per_ima_per_s = 8 * 128 / 100e-9
    assert e.ima_input_per_dac * 1e-12 * per_ima_per_s * 1e3 == pytest.approx(
        7 / 12 + 1.24, rel=1e-4)
    assert e.output_per_adc * 1e-12 * per_ima_per_s * 1e3 == pytest.approx(
        0.23 + (1.68 + 0.52 + 0.4 + 0.05) / 12, rel=1e-4)
    # the 4 HyperTransport links: 10.4 W at 4 x 6.4 GB/s, on top of the DRAM's 20 pJ/bit
    assert (e.dram_byte - 8 * 20.0) * 1e-12 * 25.6e9 == pytest.approx(10.4, rel=1e-3)
    # the DAC side scales with the bits driven per row: a 2-bit DAC moves twice the bits
    two = ActionEnergies.from_arch(load_arch(ISAAC, ["crossbar.dac.bits=2"]))
    assert two.ima_input_per_dac == pytest.approx(2 * e.ima_input_per_dac)


def test_periphery_energies_are_booked_under_the_buffer_and_dram_columns():
    e = ActionEnergies.from_arch(load_arch(ISAAC))
    counts = dict.fromkeys(COUNTERS, 0) | {"dac_conversions": 1000, "adc_conversions": 100,
                                           "dram_bytes": 10}
    energy = dynamic_energy(counts, e)
    assert energy["energy_buffer_j"] == pytest.approx(
        (1000 * e.ima_input_per_dac + 100 * e.output_per_adc) * 1e-12)
    assert energy["energy_dram_j"] == pytest.approx(10 * 8 * (20.0 + 50.78) * 1e-12)


TINY = "arch_configs/tiny.yaml"


def test_one_read_of_a_full_16x16_block_on_tiny_by_hand():
    # tiny.yaml: one read drives 16 rows (DAC 0.1 pJ each), the array costs 2 pJ with every row
    # driven (2 / 16 per row), 16 columns are converted at 1 mW x 1 ns = 1 pJ each, and each
    # conversion feeds one shift-and-add (0.02 pJ): 1.6 + 2 + 16 + 0.32 = 19.92 pJ.
    e = ActionEnergies.from_arch(load_arch(TINY))
    counts = dict.fromkeys(COUNTERS, 0) | {"xbar_reads": 1, "dac_conversions": 16,
                                           "adc_conversions": 16, "shift_add_ops": 16}
    energy = dynamic_energy(counts, e)
    assert energy["energy_dac_j"] == pytest.approx(1.6e-12)
    assert energy["energy_xbar_j"] == pytest.approx(2.0e-12)
    assert energy["energy_adc_j"] == pytest.approx(16e-12)
    assert sum(energy.values()) == pytest.approx(19.92e-12)
    # a read of 4 of the 16 rows (a basis segment) costs the array a quarter as much
    quarter = dynamic_energy(counts | {"dac_conversions": 4}, e)
    assert quarter["energy_xbar_j"] == pytest.approx(0.5e-12)


def test_read_energy_from_voltage_and_conductance_when_not_given():
    # tiny.yaml without read_energy_pj: a driven row puts 0.2 V across 16 cells at the
    # mid-range conductance (1 + 100) / 2 = 50.5 uS for 10 ns: 0.04 x 50.5e-6 x 10e-9 x 16 J
    xb = load_arch(TINY, ["crossbar.read_energy_pj=null"]).crossbar
    assert xbar_row_energy_pj(xb) == pytest.approx(0.04 * 50.5e-6 * 10e-9 * 16 * 1e12)
    doubled = load_arch(TINY, ["crossbar.read_energy_pj=null", "crossbar.read_v=0.4"]).crossbar
    assert xbar_row_energy_pj(doubled) == pytest.approx(4 * xbar_row_energy_pj(xb))
    assert xbar_row_energy_pj(load_arch(TINY).crossbar) == 2.0 / 16  # given: the ISAAC way


def test_isaac_write_and_verify_energies_from_attributes():
    # pulse: write_v^2 G t = 2 V squared x 250.25 uS (2 kOhm - 2 MOhm, mid-range) x 200 ns
    e = ActionEnergies.from_arch(load_arch(ISAAC))
    assert e.write_pulse == pytest.approx(4 * 250.25e-6 * 200e-9 * 1e12)  # 200.2 pJ
    # verify: a one-row read (30 pJ / 128 rows) shared by the row's 128 cells, plus one
    # 2 mW x 0.78125 ns conversion per cell
    assert e.verify_read == pytest.approx(30 / 128 / 128 + 1.5625)
    wv = load_arch(ISAAC, ["write_verify.pulse_ns=100.0"])
    assert ActionEnergies.from_arch(wv).write_pulse == pytest.approx(e.write_pulse / 2)
    given = load_arch(ISAAC, ["write_verify.pulse_energy_pj=0.6"])
    assert pulse_energy_pj(given.write_verify, given.crossbar) == 0.6
    assert verify_energy_pj(load_arch(TINY).write_verify, load_arch(TINY).crossbar) == 0.25


def test_a_pulse_energy_or_a_write_voltage_is_required(tmp_path):
    text = Path(ISAAC).read_text().replace("  write_v: 2.0 ", "  # write_v: 2.0 ")
    path = tmp_path / "no_write_v.yaml"
    path.write_text(text)
    with pytest.raises(XbarsimError, match=r"write_verify\.pulse_energy_pj.*write_v"):
        load_arch(str(path))


def test_adc_time_and_area_follow_its_resolution():
    # MNSIM: a SAR conversion takes bits + 2 cycles, so ISAAC's 0.78125 ns at 8 bits becomes
    # 0.78125 x 6 / 10 at 4 bits; area x 1.573 per bit (Accelergy's survey regression)
    adc = load_arch(ISAAC).crossbar.adc
    assert adc_conversion_ns(adc) == 0.78125 and adc_area_mm2(adc) == 0.0012
    four = load_arch(ISAAC, ["crossbar.adc.bits=4"]).crossbar.adc
    assert adc_conversion_ns(four) == pytest.approx(0.46875)
    assert adc_area_mm2(four) == pytest.approx(0.0012 / 1.5727 ** 4, rel=1e-3)
    # an ADC-bound read on tiny (one ADC for 16 columns, 1 ns at 8 bits): 16 cycles > the
    # 10-cycle read; at 6 bits 16 x 0.8 = 12.8 -> 13 cycles
    for bits, cycles in ((8, 16), (6, 13)):
        xb = load_arch(TINY, ["crossbar.adc.count=1", f"crossbar.adc.bits={bits}"]).crossbar
        unit = CrossbarUnit(None, xb, Clock(1.0), Counters())  # type: ignore[arg-type]
        assert unit.read_time(1, 16, first=False) == cycles


@given(st.integers(1, ADC_BITS_MAX - 1))
def test_adc_time_and_area_are_monotone_in_bits(bits):
    lo, hi = (load_arch(ISAAC, [f"crossbar.adc.bits={b}"]).crossbar.adc for b in (bits, bits + 1))
    assert adc_conversion_ns(lo) < adc_conversion_ns(hi)
    assert adc_area_mm2(lo) < adc_area_mm2(hi)


def test_puma_tile_power_at_peak_from_its_per_action_energies():
    # PUMA's efficiency sweep (isca_results/puma_pe_sweep.py) puts one tile at 398.85 mW at
    # peak: every crossbar reads a 1-bit slice every 100 ns on 128 rows and converts its 128
    # columns, the eDRAM moves 32 B per 1 ns cycle, a router (1 per 4 tiles) 4 B per cycle.
    arch = load_arch("arch_configs/puma_like.yaml")
    e, xb, tile = ActionEnergies.from_arch(arch), arch.crossbar, arch.tile
    rows_per_s, conversions_per_s = 128 / 100e-9, 128 / 100e-9  # per crossbar
    per_crossbar_pj_per_s = (rows_per_s * (e.xbar_row + e.dac_conversion + e.ima_input_per_dac)
                             + conversions_per_s * (e.adc_conversion + e.output_per_adc
                                                    + e.core_logic_per_adc + e.shift_add_op))
    dynamic_mw = (128 * per_crossbar_pj_per_s + 32e9 * e.tile_buffer_read_byte
                  + 4e9 * e.noc_byte_hop / 4) * 1e-9
    leakage_mw = (128 * (xb.static_mw + xb.adc.static_mw) + tile.buffer.static_mw
                  + tile.shift_add.static_mw + arch.chip.noc.static_mw_per_router)
    assert dynamic_mw + leakage_mw == pytest.approx(398.85, rel=0.01)
    tile_mm2 = 0.50305 + 8 * 0.0001  # the sweep's tile + activation units, 8 write controllers
    assert area_mm2(arch) - arch.chip.dram.io_area_mm2 == pytest.approx(168 * tile_mm2, rel=1e-3)


def test_dac_energy_and_area_double_per_bit():
    # MNSIM DAC.py: 3.9 uW at 1 bit, 31.2 uW at 4 bits (x2 per bit); ISAAC's figures are 1-bit
    e1 = ActionEnergies.from_arch(load_arch(ISAAC))
    e4 = ActionEnergies.from_arch(load_arch(ISAAC, ["crossbar.dac.bits=4"]))
    assert e1.dac_conversion == 0.39 and e4.dac_conversion == pytest.approx(8 * 0.39)
    grown = area_mm2(load_arch(ISAAC, ["crossbar.dac.bits=2"])) - area_mm2(load_arch(ISAAC))
    assert grown == pytest.approx(16128 * 0.0000213)
    # a config without reference_bits gives its figures at its own resolution (tiny: 2 bits)
    assert ActionEnergies.from_arch(load_arch(TINY)).dac_conversion == 0.1


def test_mac_energy_follows_the_operand_widths():
    # Horowitz: of the 0.3 pJ 8-bit MAC, 0.2 pJ is the multiply, which grows with the product
    # of the operand widths; a 16 x 16 MAC: 0.2 x 4 + 0.1 = 0.9 pJ; the basis combine's 4-bit
    # coefficient x 32-bit projection: 0.2 x 2 + 0.1 = 0.5 pJ
    arch = load_arch(ISAAC)
    assert ActionEnergies.from_arch(arch).digital_mac == 0.3
    assert ActionEnergies.from_arch(arch, (16, 16)).digital_mac == pytest.approx(0.9)
    assert ActionEnergies.from_arch(arch, (4, 32)).digital_mac == pytest.approx(0.5)
    assert ActionEnergies.from_arch(arch, (8, 8)).digital_mac == pytest.approx(0.3)
    # a config without reference_bits gives its energy for whatever operands it gets
    assert ActionEnergies.from_arch(load_arch(TINY), (16, 16)).digital_mac == 0.3


def test_shift_add_energy_follows_the_partial_sum_width():
    # Horowitz: an 8-bit add 0.03 pJ, a 32-bit add 0.1 pJ -> energy ~ width^0.87; isaac_like's
    # 0.021 pJ is for 32-bit partial sums, so 16-bit ones cost 0.021 x 0.5^0.87
    assert ActionEnergies.from_arch(load_arch(ISAAC)).shift_add_op == 0.021
    half = ActionEnergies.from_arch(load_arch(ISAAC, ["precision.psum_bits=16"]))
    assert half.shift_add_op == pytest.approx(0.021 * 0.5 ** (math.log(0.1 / 0.03) / math.log(4)))
    assert add_scale(32, 8) == pytest.approx(0.1 / 0.03)
