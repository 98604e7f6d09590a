"""An architecture (``Arch``) as the analog kernel's parameters: the device model, the number
formats and the ADC, built in one place so every functional run reads the config the same way.

Programming error (docs/design.md section 9): after ``program_verify`` a cell ends inside its
acceptance window, target +/- ``write_verify.tolerance`` of the conductance range; the residual is
taken uniform in the window (sigma = tolerance / sqrt(3)), which matches aihwkit's ReRAM fit for
acceptance ranges of 0.2% and 2% ([S] aihwkit inference/noise/reram.py; docs/parameters.md).
``single_pass`` has no verify loop, so nothing bounds the residual by the tolerance: its window
is ``write_verify.single_pass_window``. Under ``program_verify`` some cells fail (the measured
table's non-converging cells and those needing more than ``write_verify.max_iterations``
pulses, at the per-level rates of ``programming.pulses``, as the timing model counts them in
``failed_cells``): they end outside the window, no better placed than a one-shot write, at a
distance between the tolerance and ``single_pass_window`` [A].
"""

from __future__ import annotations

from collections.abc import Hashable

from xbarsim.config.schema import Arch, WritePolicy
from xbarsim.errors import XbarsimError
from xbarsim.functional.device import DeviceModel, ProgramError
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.mapping.encoding import Encoding
from xbarsim.programming.pulses import pulse_distribution


def program_tolerance(arch: Arch) -> float:
    """Half-width of the programming residual window, fraction of g_max - g_min (0: exact)."""
    if not arch.analog.programming_error:
        return 0.0
    if arch.write_verify.policy is WritePolicy.SINGLE_PASS:
        return arch.write_verify.single_pass_window
    return arch.write_verify.tolerance


def failed_rates(arch: Arch) -> tuple[float, ...]:
    """Per target level, the share of cells write-verify gives up on (none without
    programming error or under ``single_pass``, which has no verify loop)."""
    wv = arch.write_verify
    if not arch.analog.programming_error or wv.policy is WritePolicy.SINGLE_PASS:
        return ()
    return tuple(float(r) for r in pulse_distribution(wv, arch.crossbar.cell_bits).fail)


def device_from_arch(arch: Arch) -> DeviceModel:
    """The kernel's device model for ``arch``: conductance range, programming residual, read
    noise, stuck-at cells, drift and wire resistance."""
    xb, an = arch.crossbar, arch.analog
    try:
        return DeviceModel(
            g_min_us=xb.g_min_us,
            g_max_us=xb.g_max_us,
            program_tolerance=program_tolerance(arch),
            program_error=ProgramError.UNIFORM,
            read_sigma=an.read_noise_sigma,
            stuck_on_rate=an.stuck_on_rate,
            stuck_off_rate=an.stuck_off_rate,
            drift_nu=an.drift_nu,
            drift_t_s=an.drift_t_s,
            drift_t0_s=an.drift_t0_s,
            r_wire_ohm=an.wire_ohm,
            failed_rates=failed_rates(arch),
            failed_window=arch.write_verify.single_pass_window,
        )
    except ValueError as err:  # cross-field rules the schema cannot state (stuck rates sum)
        raise XbarsimError(str(err), key="analog") from None


def analog_crossbar(arch: Arch) -> AnalogCrossbar:
    """The kernel's view of ``arch``'s crossbars: formats, device and ADC."""
    return AnalogCrossbar(enc=Encoding.from_arch(arch), device=device_from_arch(arch),
                          adc_bits=arch.crossbar.adc.bits, adc_range=arch.analog.adc_range)


def functional_key(arch: Arch, basis: bool) -> Hashable:
    """Everything ``run_functional`` reads from ``arch`` (the kernel's view, and for the basis
    path the combination mode): two configs with equal keys compute the same result, so a sweep
    over keys that only the timing model reads runs the functional model once."""
    return (analog_crossbar(arch), arch.basis.combine if basis else None)
