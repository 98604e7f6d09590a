"""Loading what a run needs from files (architecture, workload, weights, basis): the I/O edge
shared by the CLI and sweeps, so the model itself never opens a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbarsim.basis import load_basis
from xbarsim.basis.timing_spec import BasisSpec, basis_spec
from xbarsim.config import Arch, load_arch
from xbarsim.workload import Workload, load_workload
from xbarsim.workload.weights import load_weights


@dataclass(frozen=True)
class RunInputs:
    """Validated inputs of one run."""

    arch: Arch
    workload: Workload
    basis: BasisSpec | None = None
    weights: dict[str, np.ndarray] | None = None


def load_run_inputs(arch_path: str | Path, workload_path: str | Path,
                    overrides: Sequence[str] = (), basis_path: str | Path | None = None,
                    weights_path: str | Path | None = None) -> RunInputs:
    """Architecture, workload, optional weights and, given a basis file, its timing summary.

    Nothing is fitted or cached here: a caller that wants the workload's example basis asks
    for it explicitly (``xbarsim.basis.example_basis``) and passes its path.
    """
    arch = load_arch(arch_path, overrides)
    workload = load_workload(workload_path)
    weights = None if weights_path is None else load_weights(weights_path, workload)
    if basis_path is None:
        return RunInputs(arch, workload, None, weights)
    basis = basis_spec(load_basis(basis_path, workload), workload, arch.basis.combine)
    return RunInputs(arch, workload, basis, weights)
