"""Accuracy in sweeps (``sweep --accuracy``): each point's functional result beside its cost.

A point's accuracy is what its dataflow's hardware computes on the sweep's inputs
(``run_functional``): ``static`` and ``reprogram`` the weights on the cells, ``basis`` the
basis on the cells with the coefficients applied, ``digital`` the exact integer product (no
crossbar). A worker keeps each result by ``functional_key`` (what the functional model reads
from the config), so points that differ only in keys the timing model reads, such as the
crossbar count, reuse one functional run, and hash the weights and inputs files only then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from xbarsim.basis import load_basis
from xbarsim.config import Arch
from xbarsim.errors import XbarsimError
from xbarsim.functional.datasets import DATASET_NAMES, Dataset, resolve_dataset
from xbarsim.functional.device_config import functional_key
from xbarsim.functional.network import run_functional
from xbarsim.io.csv_file import check_unchanged, file_sha256
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.workload import Workload, load_workload
from xbarsim.workload.weights import load_biases, load_weights

ACCURACY_COLUMNS = ("accuracy_float", "accuracy_exact", "accuracy_analog", "snr_db_mean")
"""Columns ``--accuracy`` adds to a sweep CSV, before ``status``: top-1 accuracy of the float
network, of exact integers at the configured precision and of what the point's hardware
computes, and the mean over MVM layers of the output SNR in dB (inf when exact)."""


@dataclass(frozen=True)
class AccuracySpec:
    """What the accuracy of every point is measured on."""

    weights: str
    """Absolute path of the weights NPZ (one workload)."""
    inputs: str
    """Absolute path of an inputs NPZ, or a dataset name (its test split)."""
    limit: int | None = None
    """Only the first ``limit`` images."""
    weights_sha256: str = ""
    inputs_sha256: str = ""
    """Empty for a named dataset (its files belong to the system, not to the sweep)."""


def accuracy_spec(weights: str | Path, inputs: str, limit: int | None,
                  workloads: list[str]) -> AccuracySpec:
    """Check the weights and inputs against the sweep's one workload and hash them."""
    if len(workloads) != 1:
        raise XbarsimError("one weights file fits one workload (give a single --workload)",
                           key="--accuracy")
    if limit is not None and limit < 1:
        raise XbarsimError(f"expected a positive integer, got {limit}", key="--limit")
    workload = load_workload(workloads[0])
    load_weights(weights, workload)
    data = resolve_dataset(inputs, "test", workload)
    if data.y is None:
        raise XbarsimError("has no labels y (expected labels to measure accuracy)", file=inputs)
    named = inputs in DATASET_NAMES
    path = inputs if named else str(Path(inputs).resolve())
    return AccuracySpec(str(Path(weights).resolve()), path, limit, file_sha256(weights),
                        "" if named else file_sha256(inputs))


def point_accuracy(arch: Arch, workload_path: str, flow: Dataflow, basis_path: str | None,
                   spec: AccuracySpec, seed: int) -> dict[str, float]:
    """The accuracy columns of one point (``digital`` reads the static run's exact path)."""
    basis = basis_path if flow is Dataflow.BASIS else None
    key = (functional_key(arch, basis is not None), workload_path, basis, spec, seed)
    if key not in _RESULTS:
        if len(_RESULTS) >= MAX_RESULTS:
            _RESULTS.clear()
        _RESULTS[key] = _functional(arch, workload_path, basis, spec, seed)
    result = _RESULTS[key]
    if flow is Dataflow.DIGITAL:
        return {**result, "accuracy_analog": result["accuracy_exact"], "snr_db_mean": math.inf}
    return dict(result)


MAX_RESULTS = 64
"""Functional results a worker keeps (a few numbers each)."""

_RESULTS: dict[Any, dict[str, float]] = {}
"""This process's functional results by (functional key, files, seed)."""


def _functional(arch: Arch, workload_path: str, basis_path: str | None, spec: AccuracySpec,
                seed: int) -> dict[str, float]:
    """Run the functional model once and reduce it to the accuracy columns; the weights and
    inputs files must still hold the bytes the sweep was set up with (checked around their
    loading, as ``backends.checked_inputs`` does for the others)."""
    files = [(spec.weights, spec.weights_sha256), (spec.inputs, spec.inputs_sha256)]
    check_unchanged(files)
    workload, data = _data(workload_path, spec)
    weights = load_weights(spec.weights, workload)
    biases = load_biases(spec.weights, workload)
    check_unchanged(files)
    result = run_functional(arch, workload, weights if basis_path is None else {}, data.x,
                            data.y, biases=biases, seed=seed,
                            basis=None if basis_path is None else load_basis(basis_path, workload))
    mvm = {layer.name for layer in workload.mvm_layers}
    snr = [row["snr_db"] for row in result.layers if row["layer"] in mvm]
    acc = result.accuracy
    return {"accuracy_float": _fraction(acc["float"]), "accuracy_exact": _fraction(acc["exact"]),
            "accuracy_analog": _fraction(acc["analog"]), "snr_db_mean": sum(snr) / len(snr)}


@lru_cache(maxsize=4)
def _data(workload_path: str, spec: AccuracySpec) -> tuple[Workload, Dataset]:
    """The workload and the (first ``limit``) images, loaded once per worker."""
    workload = load_workload(workload_path)
    data = resolve_dataset(spec.inputs, "test", workload)
    n = len(data.x) if spec.limit is None else min(spec.limit, len(data.x))
    return workload, Dataset(data.x[:n], None if data.y is None else data.y[:n])


def _fraction(value: float | None) -> float:
    """An accuracy as a float (the inputs were checked to have labels)."""
    assert value is not None
    return float(value)
