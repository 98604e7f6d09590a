"""Reading and writing NPZ tensor files: safe loading with one-line errors, deterministic saving.

``numpy.savez`` stamps each zip member with the current time, so two saves of the same arrays
differ; ``write_npz`` writes the same archive layout with a fixed timestamp and attributes, so the
same arrays give the same bytes, and replaces the target atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from xbarsim.errors import XbarsimError
from xbarsim.io.atomic import atomic_write

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every member (the zip epoch), for byte-identical files."""


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All arrays of an NPZ file, loaded with ``allow_pickle=False``; errors name the file."""
    file = str(path)
    p = Path(path)
    if not p.exists():
        raise XbarsimError("file not found", file=file)
    if not p.is_file() or not zipfile.is_zipfile(p):
        raise XbarsimError("not an NPZ archive (expected a zip file written by numpy.savez)",
                           file=file)
    try:
        with np.load(p, allow_pickle=False) as npz:
            return {key: _member(npz, key, file) for key in npz.files}
    except XbarsimError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise XbarsimError(f"cannot read NPZ archive ({type(exc).__name__}: {exc})",
                           file=file) from None


def _member(npz: np.lib.npyio.NpzFile, key: str, file: str) -> np.ndarray:
    """One member as an array; object (pickled) arrays become a clear error."""
    try:
        value = npz[key]
    except ValueError as exc:
        if "pickle" not in str(exc).lower() and "object" not in str(exc).lower():
            raise
        raise XbarsimError("holds pickled Python objects (an object array), refused for safety "
                           "(allow_pickle=False; expected a numeric array)",
                           file=file, key=key) from None
    if not isinstance(value, np.ndarray):
        raise XbarsimError("is not a .npy array (expected numpy arrays only)", file=file, key=key)
    return value


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
              *, compress: bool = True) -> None:
    """Write ``arrays`` as an NPZ (members in the given order) atomically and reproducibly."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def produce(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", method) as archive:
            for key, value in arrays.items():
                _write_member(archive, key, np.asarray(value), method)
    atomic_write(path, produce)


def _write_member(archive: zipfile.ZipFile, key: str, value: np.ndarray, method: int) -> None:
    """One ``key.npy`` member with fixed metadata."""
    info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE_TIME)
    info.compress_type = method
    info.create_system = 3
    info.external_attr = 0o644 << 16
    with archive.open(info, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, value, allow_pickle=False)
