"""Component costs from their attributes: the estimates a config's numbers are scaled by when a
designer turns a knob the anchor was not measured at.

Each estimate is anchored to a measured point given in the config (ISAAC's ADC: 8 bits,
1.28 GS/s, 2 mW) and scaled by a cited model; a number given in the config for the configured
point (``adc.energy_pj``) overrides the estimate.
"""

from __future__ import annotations

import math

from xbarsim.config.schema import Adc, Arch, Crossbar, Dac, WriteVerify

ADC_PJ_BY_BITS = {4: 0.79, 5: 0.99, 6: 1.20, 7: 1.42, 8: 1.67, 9: 1.97, 10: 2.38}
"""Energy per conversion of ISAAC's SAR ADC scaled to other resolutions (32 nm, 1.28 GS/s), pJ:
Accelergy hwcomponents-library, ``isaac.py`` [S]. Only the ratios are used (the anchor is the
config's own power x conversion time)."""

BELOW_TABLE_PER_BIT = ADC_PJ_BY_BITS[4] / ADC_PJ_BY_BITS[5]
"""Below 4 bits: the table's lowest step per bit (x0.80) [A] (comparator and logic overheads
keep a few-bit SAR from halving per bit)."""
ABOVE_TABLE_PER_BIT = 2.0
"""Above 10 bits: Walden's figure of merit, E = FOM x 2^bits, doubles per bit [D] (R. H.
Walden, IEEE JSAC 17(4), 1999); thermal-noise-limited converters grow faster, so this is a
lower bound."""


def adc_scale(bits: int) -> float:
    """Relative energy per conversion of a ``bits``-bit ADC (1.0 at 8 bits), monotone in bits."""
    lo, hi = min(ADC_PJ_BY_BITS), max(ADC_PJ_BY_BITS)
    if bits < lo:
        pj = ADC_PJ_BY_BITS[lo] * BELOW_TABLE_PER_BIT ** (lo - bits)
    elif bits > hi:
        pj = ADC_PJ_BY_BITS[hi] * ABOVE_TABLE_PER_BIT ** (bits - hi)
    else:
        pj = ADC_PJ_BY_BITS[bits]
    return pj / ADC_PJ_BY_BITS[8]


SAR_EXTRA_CYCLES = 2
"""A SAR conversion takes bits + 2 internal cycles (sampling and output besides one decision per
bit): MNSIM ``ADC.py`` latency model (bits + 2) / sample rate [S]."""

ADC_AREA_PER_BIT = math.exp(-0.13437) * 4 ** 0.42366
"""Area growth per bit, 1.573x [D]: the Accelergy ADC plug-in's regression over the Murmann
survey (``adc_data/model.yaml``) has ln(area) = -0.134 bits + 0.424 ln(energy) + terms in
rate and node; at a fixed Schreier figure of merit the energy grows 4x per bit (SNDR + 6.02
dB), so the area grows exp(-0.134) x 4^0.424 per bit at a fixed rate and node."""


def adc_conversion_ns(adc: Adc) -> float:
    """Time of one conversion at ``bits``: the configured time (measured at
    ``reference_bits``) scaled by (bits + 2) / (reference_bits + 2)."""
    return adc.conversion_ns * (adc.bits + SAR_EXTRA_CYCLES) / (
        adc.reference_bits + SAR_EXTRA_CYCLES)


def adc_area_mm2(adc: Adc) -> float:
    """Area of one ADC at ``bits``: the configured area (at ``reference_bits``) x 1.573 per
    bit."""
    return adc.area_mm2 * ADC_AREA_PER_BIT ** (adc.bits - adc.reference_bits)


def adc_energy_pj(adc: Adc) -> float:
    """Energy per conversion: ``energy_pj`` when given, else the anchor's power x conversion
    time (mW x ns = pJ, measured at ``reference_bits``) scaled to ``bits``."""
    if adc.energy_pj is not None:
        return adc.energy_pj
    anchor = adc.power_mw * adc.conversion_ns
    return anchor * adc_scale(adc.bits) / adc_scale(adc.reference_bits)



MEMORY_ENERGY_EXPONENT = 0.5
"""Energy per access grows as capacity^0.5 [D]: Horowitz (ISSCC 2014) gives 10, 20 and 100 pJ
per 64-bit SRAM read at 8 KB, 32 KB and 1 MB (exponents 0.50 and 0.46 between them). Applied
to ISAAC's eDRAM too [A] (both are dominated by their wires as they grow)."""


def memory_energy_scale(kib: int, reference_kib: int) -> float:
    """Energy per byte of a ``kib`` memory relative to one of ``reference_kib``."""
    return float((kib / reference_kib) ** MEMORY_ENERGY_EXPONENT)


def memory_area_scale(kib: int, reference_kib: int) -> float:
    """Area of a ``kib`` memory relative to one of ``reference_kib``: proportional to the
    cells [A] (periphery neglected)."""
    return kib / reference_kib


DAC_SCALE_PER_BIT = 2.0
"""A DAC's power doubles per bit [S]: MNSIM ``DAC.py`` gives 3.9 uW at 1 bit and 31.2 uW at 4
bits (x8 for 3 bits). Its area is scaled the same way [A] (a resistive or current-steering DAC
doubles its unit elements per bit)."""


def dac_scale(dac: Dac) -> float:
    """Energy and area of a ``bits``-bit DAC relative to the configured figures (given at
    ``reference_bits``, or at ``bits`` when that is unset)."""
    ref = dac.bits if dac.reference_bits is None else dac.reference_bits
    return float(DAC_SCALE_PER_BIT ** (dac.bits - ref))


MULTIPLY_SHARE = 2 / 3
"""Share of a MAC's energy in its multiplier [D]: Horowitz (ISSCC 2014, 45 nm) 8-bit multiply
0.2 pJ of an 8-bit-multiply + 32-bit-add MAC of 0.3 pJ. A multiplier's energy grows with the
product of its operand widths (Horowitz: 8-bit 0.2 pJ, 32-bit 3.1 pJ, 15.5x for 16x the
product); the accumulate is kept at its width."""


ADD_EXPONENT = math.log(0.1 / 0.03) / math.log(32 / 8)
"""An adder's energy grows as width^0.87 [D]: Horowitz (ISSCC 2014, 45 nm) 8-bit add 0.03 pJ,
32-bit add 0.1 pJ."""


def add_scale(bits: int, reference_bits: int | None) -> float:
    """Energy of a ``bits``-wide add (or shift-add) relative to one of ``reference_bits``."""
    return 1.0 if reference_bits is None else float((bits / reference_bits) ** ADD_EXPONENT)


def mac_scale(a_bits: int, b_bits: int, reference_bits: int | None) -> float:
    """Energy of an ``a_bits`` x ``b_bits`` MAC relative to one of ``reference_bits`` operands."""
    if reference_bits is None:
        return 1.0
    product = a_bits * b_bits / reference_bits ** 2
    return MULTIPLY_SHARE * product + (1 - MULTIPLY_SHARE)


def combiner_area_mm2(arch: Arch) -> float:
    """A tile's coefficient combiner: the given ``area_mm2``, else its lanes (each a
    ``reference_bits`` x ``reference_bits`` multiplier, scaled from the 32 x 32-bit one as the
    product of the widths, and a ``psum_bits`` accumulator, scaled from the 32-bit adder) plus
    its coefficient buffer."""
    comb = arch.tile.combiner
    if comb.area_mm2 is not None:
        return comb.area_mm2
    assert comb.multiplier_area_um2 is not None and comb.adder_area_um2 is not None
    assert comb.coeff_buffer_area_mm2_per_kib is not None and comb.reference_bits is not None
    lane_um2 = (comb.multiplier_area_um2 * comb.reference_bits ** 2 / 32 ** 2
                + comb.adder_area_um2 * arch.precision.psum_bits / 32)
    return comb.lanes * lane_um2 * 1e-6 + comb.coeff_buffer_kib * comb.coeff_buffer_area_mm2_per_kib


def mid_conductance_s(xb: Crossbar) -> float:
    """A cell's conductance in siemens taken at the middle of the programmable range [A]:
    the energy estimates below do not see the weights' values."""
    return (xb.g_min_us + xb.g_max_us) / 2 * 1e-6


def xbar_row_energy_pj(xb: Crossbar) -> float:
    """Array energy per driven row of a read: ``read_energy_pj / rows`` when given (the
    full-array figure, all rows driven), else V^2 G t summed over the row's ``cols`` cells
    (a cell at ``read_v`` conducts for ``read_ns``; NeuroSim's read model)."""
    if xb.read_energy_pj is not None:
        return xb.read_energy_pj / xb.rows
    return xb.read_v ** 2 * mid_conductance_s(xb) * xb.read_ns * 1e-9 * xb.cols * 1e12


def pulse_energy_pj(wv: WriteVerify, xb: Crossbar) -> float:
    """Energy of one programming pulse on one cell: ``pulse_energy_pj`` when given, else
    V^2 G t at ``write_v`` for ``pulse_ns`` (NeuroSim's write model)."""
    if wv.pulse_energy_pj is not None:
        return wv.pulse_energy_pj
    assert wv.write_v is not None  # the loader requires one of the two
    return wv.write_v ** 2 * mid_conductance_s(xb) * wv.pulse_ns * 1e-9 * 1e12


def verify_energy_pj(wv: WriteVerify, xb: Crossbar) -> float:
    """Energy of verifying one cell: ``verify_energy_pj`` when given, else its share of a
    one-row read (a verify drives the row and senses its columns) and one ADC conversion."""
    if wv.verify_energy_pj is not None:
        return wv.verify_energy_pj
    return xbar_row_energy_pj(xb) / xb.cols + adc_energy_pj(xb.adc)
