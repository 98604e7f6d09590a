"""Loading what a run needs from files (architecture, workload, basis): the I/O edge shared by
the CLI and sweeps, so the model itself never opens a file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from xbarsim.basis import example_basis, load_basis
from xbarsim.config import Arch, load_arch
from xbarsim.dataflow.basis import BasisSpec, basis_spec
from xbarsim.workload import Workload, load_workload

log = logging.getLogger(__name__)


def load_run_inputs(arch_path: str | Path, workload_path: str | Path,
                    overrides: Sequence[str] = (), basis_path: str | Path | None = None,
                    need_basis: bool = False) -> tuple[Arch, Workload, BasisSpec | None]:
    """Architecture, workload and (when given or needed) the basis summary of one run.

    Without ``basis_path`` the basis dataflow uses the workload's example basis: shipped beside
    the workload, or fitted once from seeded random weights and cached (``xbarsim.basis``).
    """
    arch = load_arch(arch_path, overrides)
    workload = load_workload(workload_path)
    if basis_path is None and not need_basis:
        return arch, workload, None
    if basis_path is None:
        basis_path = example_basis(workload_path)
        log.info("using the example basis %s", basis_path)
    basis = load_basis(basis_path, workload)
    return arch, workload, basis_spec(basis, workload, arch.basis.combine)
