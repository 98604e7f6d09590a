"""Global-basis weights (BasisN): fitting a shared basis with quantized per-layer coefficients,
basis NPZ files and example bases for the shipped workloads."""

from xbarsim.basis.basis_set import BasisSet, check_workload, from_segments, to_segments
from xbarsim.basis.examples import example_basis, write_example_basis
from xbarsim.basis.export import export_torch
from xbarsim.basis.files import load_basis, save_basis
from xbarsim.basis.fit import fit_basis

__all__ = [
    "BasisSet",
    "check_workload",
    "example_basis",
    "export_torch",
    "fit_basis",
    "from_segments",
    "load_basis",
    "save_basis",
    "to_segments",
    "write_example_basis",
]
