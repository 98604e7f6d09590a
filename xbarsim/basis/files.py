"""Basis NPZ files (docs/design.md section 4): strict loading against a workload, deterministic
saving.

Keys: ``basis`` float ``[L, B]``; ``basis_bits``, ``coeff_bits``, ``length`` int scalars;
``workload`` the workload name (0-d unicode array); per MVM layer ``coeff/<layer>`` int
``[S, out_channels, B]`` and ``scale/<layer>`` float (scalar or ``[out_channels]``). Every error
names the file and the key at fault.
"""

from __future__ import annotations

import os

import numpy as np

from xbarsim.basis.basis_set import BasisSet, check_workload
from xbarsim.errors import XbarsimError, suggest
from xbarsim.io.npz_file import read_npz, write_npz
from xbarsim.workload import Workload
from xbarsim.workload.weights import check_values, unknown_layer_message

SCALAR_KEYS = ("basis_bits", "coeff_bits", "length")
"""Integer scalar keys."""

HEADER_KEYS = ("basis", *SCALAR_KEYS, "workload")
"""Keys every basis file has, in the order they are written."""

LAYER_PREFIXES = ("coeff/", "scale/")
"""Per-layer key prefixes."""


def load_basis(path: str | os.PathLike[str], workload: Workload) -> BasisSet:
    """Read a basis file and check it against ``workload``; errors name the file and key."""
    file = str(path)
    arrays = read_npz(path)
    try:
        basis_set = _basis_set(arrays, workload)
        check_workload(basis_set, workload)
    except XbarsimError as err:
        raise err.at(file=file) from None
    return basis_set


def _basis_set(arrays: dict[str, np.ndarray], workload: Workload) -> BasisSet:
    """Sort the keys, check the header and build the (self-consistent) basis set."""
    layers: dict[str, dict[str, np.ndarray]] = {prefix: {} for prefix in LAYER_PREFIXES}
    for key, value in arrays.items():
        prefix = next((p for p in LAYER_PREFIXES if key.startswith(p)), None)
        if prefix is not None:
            layers[prefix][key[len(prefix):]] = value
        elif key not in HEADER_KEYS:
            raise XbarsimError(f"unexpected key (expected {', '.join(HEADER_KEYS)}, "
                               f"coeff/<layer>, scale/<layer>){suggest(key, HEADER_KEYS)}",
                               key=key)
    mvm = {layer.name for layer in workload.mvm_layers}
    for prefix, named in layers.items():
        for name in named:
            if name not in mvm:
                raise XbarsimError(unknown_layer_message(name, workload), key=prefix + name)
    for key in HEADER_KEYS:
        if key not in arrays:
            raise XbarsimError("missing (expected in every basis file)", key=key)
    _check_name(arrays["workload"], workload)
    for key in ("basis", *(f"scale/{name}" for name in layers["scale/"])):
        _check_real(arrays[key], key)
    ints = {key: _int_scalar(arrays[key], key) for key in SCALAR_KEYS}
    return BasisSet(basis=arrays["basis"], coeffs=layers["coeff/"], scales=layers["scale/"],
                    **ints)


def _check_real(value: np.ndarray, key: str) -> None:
    """A real array of finite values within ``MAX_MAGNITUDE`` (NaN or inf named by key)."""
    if value.dtype.kind in "iuf":
        check_values(value, key)


def _int_scalar(value: np.ndarray, key: str) -> int:
    if value.shape != () or value.dtype.kind not in "iu":
        raise XbarsimError(f"expected an integer scalar, got {value.dtype} array of shape "
                           f"{list(value.shape)}", key=key)
    return int(value)


def _check_name(value: np.ndarray, workload: Workload) -> None:
    """The file was fitted for this workload (its name is stored as a 0-d string array)."""
    if value.shape != () or value.dtype.kind != "U":
        raise XbarsimError(f"expected the workload name as a string, got {value.dtype} array",
                           key="workload")
    if str(value) != workload.name:
        raise XbarsimError(f"basis was fitted for workload '{value}' (expected "
                           f"'{workload.name}')", key="workload")


def basis_arrays(basis_set: BasisSet, workload_name: str) -> dict[str, np.ndarray]:
    """The NPZ members of a basis set, in file order."""
    arrays: dict[str, np.ndarray] = {
        "basis": np.asarray(basis_set.basis),
        "basis_bits": np.asarray(basis_set.basis_bits, dtype=np.int64),
        "coeff_bits": np.asarray(basis_set.coeff_bits, dtype=np.int64),
        "length": np.asarray(basis_set.length, dtype=np.int64),
        "workload": np.asarray(workload_name, dtype=np.str_),
    }
    for name in basis_set.layers:
        arrays[f"coeff/{name}"] = np.asarray(basis_set.coeffs[name])
        arrays[f"scale/{name}"] = np.asarray(basis_set.scales[name])
    return arrays


def save_basis(path: str | os.PathLike[str], basis_set: BasisSet, workload_name: str) -> None:
    """Write a compressed basis NPZ atomically; the same basis set gives the same bytes."""
    write_npz(path, basis_arrays(basis_set, workload_name), compress=True)
