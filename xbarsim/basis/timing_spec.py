"""What the timing model needs from a basis file: sizes, segments and nonzero coefficients per
layer and, for analog combination, the conversion steps of the real coefficients."""

from __future__ import annotations

from dataclasses import dataclass, field

from xbarsim.basis.analog_groups import analog_steps
from xbarsim.basis.basis_set import BasisSet
from xbarsim.config.schema import Combine
from xbarsim.workload.graph import Workload


@dataclass(frozen=True)
class BasisSpec:
    """What the timing model needs from a basis file."""

    length: int
    """L."""
    size: int
    """B."""
    coeff_bits: int
    segments: dict[str, int]
    """S per MVM layer."""
    nnz: dict[str, int]
    """Nonzero coefficients per MVM layer, summed over segments and outputs."""
    combine: Combine = Combine.DIGITAL
    analog_steps: dict[str, int] = field(default_factory=dict)
    """Analog combine: conversion steps per input vector (groups x segments x bit-planes)."""
    analog_active: dict[str, int] = field(default_factory=dict)
    """Analog combine: (output, bit-plane) pairs with a nonempty mask, per input vector."""
    basis_bits: int = field(kw_only=True)
    """Bits the basis is stored with on the cells (sets its columns per vector)."""


def basis_spec(bs: BasisSet, workload: Workload, combine: Combine) -> BasisSpec:
    """Summarize a validated basis set for the timing model (analog groups from its coeffs)."""
    layers = workload.mvm_layers
    steps: dict[str, int] = {}
    active: dict[str, int] = {}
    if combine is Combine.ANALOG:
        for layer in layers:
            steps[layer.name], active[layer.name] = analog_steps(
                bs.coeffs[layer.name], bs.coeff_bits, layer.groups)
    return BasisSpec(
        length=bs.length, size=bs.basis_size, coeff_bits=bs.coeff_bits,
        segments={la.name: bs.segments(la.name) for la in layers},
        nnz={la.name: bs.nnz_total(la.name) for la in layers},
        combine=combine, analog_steps=steps, analog_active=active, basis_bits=bs.basis_bits,
    )
