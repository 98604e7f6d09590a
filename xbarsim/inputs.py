"""Loading what a run needs from files (architecture, workload, weights, basis): the I/O edge
shared by the CLI and sweeps, so the model itself never opens a file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xbarsim.basis import example_basis, load_basis
from xbarsim.config import Arch, load_arch
from xbarsim.timing.dataflows.basis import BasisSpec, basis_spec
from xbarsim.workload import Workload, load_workload
from xbarsim.workload.weights import load_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInputs:
    """Validated inputs of one run."""

    arch: Arch
    workload: Workload
    basis: BasisSpec | None = None
    weights: dict[str, np.ndarray] | None = None


def load_run_inputs(arch_path: str | Path, workload_path: str | Path,
                    overrides: Sequence[str] = (), basis_path: str | Path | None = None,
                    need_basis: bool = False,
                    weights_path: str | Path | None = None) -> RunInputs:
    """Architecture, workload, optional weights and (when given or needed) the basis summary.

    Without ``basis_path`` the basis dataflow uses the workload's example basis: shipped beside
    the workload, or fitted once from seeded random weights and cached (``xbarsim.basis``).
    """
    arch = load_arch(arch_path, overrides)
    workload = load_workload(workload_path)
    weights = None if weights_path is None else load_weights(weights_path, workload)
    if basis_path is None and not need_basis:
        return RunInputs(arch, workload, None, weights)
    if basis_path is None:
        basis_path = example_basis(workload_path)
        log.info("using the example basis %s", basis_path)
    basis = basis_spec(load_basis(basis_path, workload), workload, arch.basis.combine)
    return RunInputs(arch, workload, basis, weights)
