"""Example basis files for shipped workloads: fitted to deterministic random weights.

Small ones are shipped next to the workload YAML (``workloads/<name>.basis.npz``); others are
generated when a caller asks for one (``example_basis``: the CLI and sweeps do, for the basis
dataflow without ``--basis``) into the cache (``xbarsim.io.cache``) under a name that hashes
the workload graph and the fit parameters, so a stale file is never reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from xbarsim.basis.files import save_basis
from xbarsim.basis.fit import fit_basis
from xbarsim.io.cache import cache_dir, cached_file
from xbarsim.workload import Workload, load_workload
from xbarsim.workload.weights import check_random_size, random_weights

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {"length": 9, "basis_size": 8, "coeff_bits": 4,
                                  "basis_bits": 8, "seed": 0}
"""Fit of an example basis: kernel-slice segments (L = 3x3), random weights seed 0."""

PARAMS: dict[str, dict[str, Any]] = {
    "mlp_digits": {**DEFAULT_PARAMS, "length": 16},
    "lenet5_mnist": {**DEFAULT_PARAMS, "length": 16},
}
"""Per-workload exceptions to ``DEFAULT_PARAMS`` (no 3x3 kernels: 16-long row segments)."""

FORMAT_VERSION = 1
"""Bumped when the fitting method changes, so cached files are regenerated."""


def example_params(name: str) -> dict[str, Any]:
    """Fit parameters of the example basis of workload ``name``."""
    return dict(PARAMS.get(name, DEFAULT_PARAMS))


def write_example_basis(workload: Workload, path: str | os.PathLike[str],
                        progress: bool = False) -> dict[str, float]:
    """Fit the example basis of ``workload``, write it to ``path``; return the layer errors.
    With ``progress``, a bar over the layers on stderr (when it is a terminal)."""
    params = example_params(workload.name)
    seed = params.pop("seed")
    with tqdm(total=len(workload.mvm_layers), desc=f"fitting the example basis of "
              f"{workload.name}", unit=" layers", file=sys.stderr,
              disable=None if progress else True, leave=False) as bar:
        basis_set, errors = fit_basis(workload, random_weights(workload, seed), **params,
                                      on_layer=lambda _: bar.update())
    save_basis(path, basis_set, workload.name)
    return errors


def example_basis(workload_path: str | os.PathLike[str]) -> Path:
    """Path of the example basis for a workload file: shipped beside it, else cached."""
    workload = load_workload(workload_path)
    shipped = Path(workload_path).with_name(f"{workload.name}.basis.npz")
    if shipped.is_file():
        return shipped
    key = repr((FORMAT_VERSION, workload.input_shape, workload.layers,
                sorted(example_params(workload.name).items())))
    name = f"{workload.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.basis.npz"
    cached = cached_file(name)
    if cached is None:
        check_random_size(workload)
        log.warning("fitting the example basis of %s (once; cached in %s)", workload.name,
                    cache_dir())
        cached = cache_dir() / name
        write_example_basis(workload, cached, progress=True)
    return cached


SHIPPED = ("mlp_digits", "lenet5_mnist")
"""Workloads whose example basis is small enough to ship in ``workloads/``."""


def write_shipped(directory: str | os.PathLike[str] = "workloads") -> list[Path]:
    """Regenerate the shipped example files in ``directory`` (tests check they are current)."""
    paths = []
    for name in SHIPPED:
        path = Path(directory) / f"{name}.basis.npz"
        write_example_basis(load_workload(Path(directory) / f"{name}.yaml"), path)
        paths.append(path)
    return paths
