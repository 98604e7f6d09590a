"""Inputs of a functional run: images ``x`` and optional labels ``y`` (NPZ, allow_pickle=False),
checked against the workload's input shape."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from xbarsim.errors import XbarsimError, suggest
from xbarsim.io.npz_file import read_npz
from xbarsim.workload import Workload
from xbarsim.workload.weights import check_values

KEYS = ("x", "y")
"""Keys an inputs file may hold: ``x`` (required) and ``y`` (optional labels)."""


class Dataset(NamedTuple):
    """Checked inputs: images [N, C, H, W] float64 and labels [N] int64 (or None)."""

    x: np.ndarray
    y: np.ndarray | None


def load_dataset(path: str | os.PathLike[str], workload: Workload) -> Dataset:
    """Read and check an inputs NPZ; every error names the file and the key."""
    file = str(path)
    arrays = read_npz(path)
    for key in arrays:
        if key not in KEYS:
            raise XbarsimError(f"unexpected key (expected x and optionally y){suggest(key, KEYS)}",
                               file=file, key=key)
    if "x" not in arrays:
        raise XbarsimError("missing (expected images [N, C, H, W] or [N, C*H*W])",
                           file=file, key="x")
    try:
        return check_dataset(arrays["x"], arrays.get("y"), workload)
    except XbarsimError as err:
        raise err.at(file=file) from None


def check_dataset(x: np.ndarray, y: np.ndarray | None, workload: Workload) -> Dataset:
    """Images as [N, C, H, W] float64 (a flat [N, C*H*W] is reshaped) and int64 labels."""
    shape = workload.input_shape
    flat = shape[0] * shape[1] * shape[2]
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf":
        raise XbarsimError("expected a real numeric array", key="x")
    if x.ndim == 2 and x.shape[1] == flat:
        x = x.reshape(len(x), *shape)
    if x.ndim != 4 or x.shape[1:] != shape or len(x) == 0:
        raise XbarsimError(f"shape {list(x.shape)} (expected [N, {', '.join(map(str, shape))}] "
                           f"or [N, {flat}] with N >= 1 for workload {workload.name})", key="x")
    check_values(x, "x")
    if y is None:
        return Dataset(x.astype(np.float64), None)
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.shape != (len(x),):
        what = f"{y.dtype} array of shape {list(y.shape)}" if isinstance(y, np.ndarray) else y
        raise XbarsimError(f"{what} (expected {len(x)} integer labels, one per image)", key="y")
    return Dataset(x.astype(np.float64), y.astype(np.int64))
