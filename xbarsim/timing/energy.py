"""Counts x per-action energy -> the energy breakdown, plus leakage and area (one place).

Per-action energies are read from the config here and nowhere else. Where the config leaves
one unset, ``estimators`` derives it from the component's attributes: the ADC's from power x
conversion time scaled to ``adc.bits``; the array read, write pulse and verify from voltage,
conductance and duration. Buffer energies and area are given at a reference capacity and
scaled to the configured one; the array is charged per driven row.
Leakage is each component's static power times the run's latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from xbarsim.config.schema import Arch
from xbarsim.timing.estimators import (
    adc_area_mm2,
    adc_energy_pj,
    add_scale,
    combiner_area_mm2,
    dac_scale,
    mac_scale,
    memory_area_scale,
    memory_energy_scale,
    pulse_energy_pj,
    verify_energy_pj,
    xbar_row_energy_pj,
)
from xbarsim.timing.hw.write_verify import chip_write_circuits

PJ = 1e-12

ENERGY_COLUMNS = (
    "energy_xbar_j", "energy_dac_j", "energy_adc_j", "energy_write_j", "energy_buffer_j",
    "energy_noc_j", "energy_dram_j", "energy_digital_j",
)
"""Dynamic energy categories (docs/design.md section 7); with ``energy_static_j`` they sum to the
total."""


@dataclass(frozen=True)
class ActionEnergies:
    """Energy of one action of each counted kind, in pJ."""

    xbar_row: float
    """Array energy of a read per driven row (counted as DAC conversions)."""
    dac_conversion: float
    adc_conversion: float
    write_pulse: float
    verify_read: float
    shift_add_op: float
    digital_mac: float
    tile_buffer_read_byte: float
    tile_buffer_write_byte: float
    global_buffer_byte: float
    coeff_buffer_byte: float
    noc_byte_hop: float
    dram_byte: float
    ima_input_per_dac: float
    """Bus and input register, per DAC conversion (``dac.bits`` bits driven into a row)."""
    output_per_adc: float
    """Output registers, activation and pool units, per ADC conversion."""
    core_logic_per_adc: float
    """Programmable-core logic, per ADC conversion."""

    @classmethod
    def from_arch(cls, arch: Arch, mac_bits: tuple[int, int] | None = None) -> ActionEnergies:
        """Derive every per-action energy from a config; ``mac_bits`` are the operand widths of
        the run's digital MACs (basis: coefficient x projection; digital: weight x input)."""
        xb, tile, chip, wv = arch.crossbar, arch.tile, arch.chip, arch.write_verify
        per, gb = tile.periphery, chip.global_buffer
        buffer = memory_energy_scale(tile.buffer.kib, tile.buffer.reference_kib)
        return cls(
            xbar_row=xbar_row_energy_pj(xb),
            dac_conversion=xb.dac.energy_pj_per_row * dac_scale(xb.dac),
            adc_conversion=adc_energy_pj(xb.adc),
            write_pulse=pulse_energy_pj(wv, xb),
            verify_read=verify_energy_pj(wv, xb),
            shift_add_op=tile.shift_add.energy_pj_per_op * add_scale(
                arch.precision.psum_bits, tile.shift_add.reference_bits),
            digital_mac=tile.combiner.energy_pj_per_mac * (
                1.0 if mac_bits is None else mac_scale(*mac_bits, tile.combiner.reference_bits)),
            tile_buffer_read_byte=tile.buffer.read_energy_pj_per_byte * buffer,
            tile_buffer_write_byte=tile.buffer.write_energy_pj_per_byte * buffer,
            global_buffer_byte=0.0 if gb is None else gb.energy_pj_per_byte,
            coeff_buffer_byte=tile.combiner.coeff_read_energy_pj_per_byte * memory_energy_scale(
                tile.combiner.coeff_buffer_kib, tile.combiner.coeff_buffer_reference_kib),
            noc_byte_hop=chip.noc.energy_pj_per_byte,
            dram_byte=8 * (chip.dram.energy_pj_per_bit + chip.dram.io_energy_pj_per_bit),
            ima_input_per_dac=per.input_energy_pj_per_bit * xb.dac.bits,
            output_per_adc=per.output_energy_pj_per_conversion,
            core_logic_per_adc=per.core_logic_energy_pj_per_conversion,
        )


def dynamic_energy(counts: dict[str, int], e: ActionEnergies) -> dict[str, float]:
    """Dynamic energy per category in joules from action counts."""
    pj = {
        "energy_xbar_j": counts["dac_conversions"] * e.xbar_row,
        "energy_dac_j": counts["dac_conversions"] * e.dac_conversion,
        "energy_adc_j": counts["adc_conversions"] * e.adc_conversion,
        "energy_write_j": counts["write_pulses"] * e.write_pulse
        + counts["verify_reads"] * e.verify_read,
        "energy_buffer_j": counts["tile_buffer_read_bytes"] * e.tile_buffer_read_byte
        + counts["tile_buffer_write_bytes"] * e.tile_buffer_write_byte
        + counts["global_buffer_bytes"] * e.global_buffer_byte
        + counts["coeff_buffer_bytes"] * e.coeff_buffer_byte
        + counts["dac_conversions"] * e.ima_input_per_dac
        + counts["adc_conversions"] * e.output_per_adc,
        "energy_noc_j": counts["noc_byte_hops"] * e.noc_byte_hop,
        "energy_dram_j": counts["dram_bytes"] * e.dram_byte,
        "energy_digital_j": counts["shift_add_ops"] * e.shift_add_op
        + counts["digital_macs"] * e.digital_mac
        + counts["adc_conversions"] * e.core_logic_per_adc,
    }
    return {k: v * PJ for k, v in pj.items()}


def static_power_w(arch: Arch) -> float:
    """Leakage power of the whole configured chip, in watts."""
    xb, tile = arch.crossbar, arch.tile
    per_crossbar = xb.static_mw + xb.adc.count * xb.adc.static_mw
    per_tile = (tile.buffer.static_mw + tile.shift_add.static_mw + tile.combiner.static_mw
                + arch.chip.noc.static_mw_per_router)
    gb = arch.chip.global_buffer
    mw = (arch.chip.crossbars * per_crossbar + arch.chip.tiles * per_tile
          + (0.0 if gb is None else gb.static_mw))
    return mw * 1e-3


def area_breakdown_mm2(arch: Arch) -> dict[str, float]:
    """Silicon area of the configured chip by component: crossbars with their DACs and ADCs,
    tiles (buffer, shift-and-add, combiner, router share, bus, registers, activation units),
    the global buffer and the off-chip link interfaces."""
    xb, tile, per, chip = arch.crossbar, arch.tile, arch.tile.periphery, arch.chip
    n, tiles = chip.crossbars, chip.tiles
    return {
        "crossbar_arrays": n * xb.area_mm2,
        "dacs": n * xb.dac.area_mm2_per_crossbar * dac_scale(xb.dac),
        "adcs": n * xb.adc.count * adc_area_mm2(xb.adc),
        "tile_buffers": tiles * tile.buffer.area_mm2 * memory_area_scale(
            tile.buffer.kib, tile.buffer.reference_kib),
        "shift_add": tiles * tile.shift_add.area_mm2,
        "combiners": tiles * combiner_area_mm2(arch),
        "routers": tiles * chip.noc.area_mm2_per_router,
        "tile_bus": tiles * per.bus_area_mm2,
        "registers": tiles * (per.ima_registers_area_mm2 + per.output_register_area_mm2),
        "activation_units": tiles * per.activation_area_mm2,
        "core_logic": tiles * per.core_logic_area_mm2,
        "write_controllers": chip_write_circuits(arch) * per.write_controller_area_mm2,
        "global_buffer": 0.0 if chip.global_buffer is None else chip.global_buffer.area_mm2,
        "offchip_io": chip.dram.io_area_mm2,
    }


def area_mm2(arch: Arch) -> float:
    """Silicon area of the configured chip: the sum of ``area_breakdown_mm2``."""
    return sum(area_breakdown_mm2(arch).values())
