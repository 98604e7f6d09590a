"""Basis files from a basis and coefficients trained elsewhere (``export_torch``).

A trainer outside xbarsim ends with a float basis ``[L, B]`` and, per MVM layer, float
coefficients ``[S, out_channels, B]`` in the units of the layer's weights (segment s of output o
is ``sum_b coeff[s, o, b] * basis[:, b]``). They are quantized exactly as ``basis fit`` quantizes
its own (``fit.quantize_basis``, ``fit.quantize_coefficients``) and written in the format of
docs/design.md section 4, so the timing and functional sides read them unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from xbarsim.basis.basis_set import BasisSet, check_workload
from xbarsim.basis.files import save_basis
from xbarsim.basis.fit import quantize_basis, quantize_coefficients
from xbarsim.errors import XbarsimError
from xbarsim.workload import Workload


def quantized_basis_set(workload: Workload, basis: np.ndarray, coeffs: Mapping[str, np.ndarray],
                        basis_bits: int, coeff_bits: int) -> BasisSet:
    """Quantize a float basis and real-unit coefficients into a checked ``BasisSet``.

    The coefficients are fitted to the *quantized* basis by their caller (they multiply it as
    given): only their own rounding to ``coeff_bits`` happens here.
    """
    basis_q = quantize_basis(np.asarray(basis, dtype=np.float64), basis_bits)
    levels, scales = {}, {}
    for layer in workload.mvm_layers:
        if layer.name not in coeffs:
            raise XbarsimError(f"missing (expected coefficients for every conv and linear layer "
                               f"of workload {workload.name})", key=f"coeff/{layer.name}")
        levels[layer.name], scales[layer.name] = quantize_coefficients(
            np.asarray(coeffs[layer.name], dtype=np.float64), coeff_bits)
    basis_set = BasisSet(basis=basis_q, basis_bits=basis_bits, coeff_bits=coeff_bits,
                         coeffs=levels, scales=scales, length=int(basis_q.shape[0]))
    check_workload(basis_set, workload)
    return basis_set


def export_torch(path: str | os.PathLike[str], workload: Workload, basis: Any,
                 coeffs: Mapping[str, Any], *, basis_bits: int = 8,
                 coeff_bits: int = 4) -> BasisSet:
    """Write a basis NPZ from torch tensors (or arrays): ``basis`` ``[L, B]`` and per MVM layer
    ``coeffs[name]`` ``[S, out_channels, B]`` in weight units; returns the quantized set."""
    basis_set = quantized_basis_set(workload, _array(basis),
                                    {name: _array(c) for name, c in coeffs.items()},
                                    basis_bits, coeff_bits)
    save_basis(path, basis_set, workload.name)
    return basis_set


def _array(value: Any) -> np.ndarray:
    """A torch tensor (on any device, with or without grad) or array-like as float64 NumPy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)
