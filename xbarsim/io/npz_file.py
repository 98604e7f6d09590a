"""Reading and writing NPZ tensor files: safe loading with one-line errors, deterministic saving.

Loading reads each member's ``.npy`` header first and refuses, before anything is allocated, a
member that is not ``.npy``, has an object, structured, bytes or datetime dtype, or declares more
than ``MEMBER_MAX_BYTES`` (or a file more than ``FILE_MAX_BYTES`` in all); nothing is unpickled.

``numpy.savez`` stamps each zip member with the current time, so two saves of the same arrays
differ; ``write_npz`` writes the same archive layout with a fixed timestamp and attributes, so the
same arrays give the same bytes, and replaces the target atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from xbarsim.errors import XbarsimError, clip, show
from xbarsim.io.atomic import atomic_write

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every member (the zip epoch), for byte-identical files."""


MEMBER_MAX_BYTES = 2 * 2**30
"""Largest array one NPZ member may declare (2 GiB), checked in its header before loading."""

FILE_MAX_BYTES = 4 * 2**30
"""Largest total the arrays of one NPZ file may declare (4 GiB)."""

DTYPE_KINDS = "biufcU"
"""Array kinds read: bool, integers, floats, complex and fixed-width unicode (the basis file's
workload name); object, structured, bytes and datetime arrays are refused before loading."""

KEY_SHOWN = 200
"""Characters of a member name shown in an error (``weights/`` + a 128-character layer name)."""

NPY_VERSIONS = ((1, 0), (2, 0))
"""``.npy`` header versions read (numpy writes 3.0 only for structured dtypes, refused anyway)."""


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All arrays of an NPZ file, loaded with ``allow_pickle=False`` after each member's header is
    checked (plain dtype, declared size within bounds); errors name the file and key."""
    file = str(path)
    p = Path(path)
    if not p.exists():
        raise XbarsimError("file not found", file=file)
    if not p.is_file() or not zipfile.is_zipfile(p):
        raise XbarsimError("not an NPZ archive (expected a zip file written by numpy.savez)",
                           file=file)
    try:
        with zipfile.ZipFile(p) as archive:
            return _members(archive, file)
    except XbarsimError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError, zlib.error) as exc:
        raise XbarsimError(f"cannot read NPZ archive ({type(exc).__name__}: {clip(str(exc))})",
                           file=file) from None


def _members(archive: zipfile.ZipFile, file: str) -> dict[str, np.ndarray]:
    """Check every member's header first (nothing allocated), then load them in file order."""
    names: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key in names:
            raise _error("appears twice in the archive (expected unique keys)", file, key)
        names[key] = info
        total += _declared_bytes(archive, info, file, key)
        if total > FILE_MAX_BYTES:
            raise _error(f"arrays declare {_size(total)} in all (expected at most "
                         f"{_size(FILE_MAX_BYTES)} per file)", file, key)
    return {key: _load(archive, info, file, key) for key, info in names.items()}


def _declared_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str, key: str) -> int:
    """Bytes the member's ``.npy`` header declares, after checking its dtype and size."""
    shape, dtype = _header(archive, info, file, key)
    if dtype.kind == "O":
        raise _error("holds pickled Python objects (an object array), refused for safety "
                     "(allow_pickle=False; expected a numeric array)", file, key)
    if dtype.kind not in DTYPE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _error(f"has dtype {clip(str(dtype))} (expected a plain numeric or bool array)",
                     file, key)
    if any(n < 0 for n in shape):
        raise _error(f"declares a negative size in shape {show(list(shape))}", file, key)
    size = math.prod(shape) * dtype.itemsize
    if size > MEMBER_MAX_BYTES:
        raise _error(f"declares a {dtype} array of shape {show(list(shape))} ({_size(size)}; "
                     f"expected at most {_size(MEMBER_MAX_BYTES)} per array)", file, key)
    return size


def _header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str,
            key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a member's ``.npy`` header (only the header is read)."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
        except ValueError:
            raise _error("is not a .npy array (expected numpy arrays only)", file, key) from None
        if version not in NPY_VERSIONS:
            raise _error(f".npy format version {version[0]}.{version[1]} (expected 1.0 or 2.0)",
                         file, key)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        try:
            shape, _, dtype = read(member)
        except ValueError as exc:
            raise _error(f"unreadable .npy header ({clip(str(exc))})", file, key) from None
    return shape, dtype


def _load(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str, key: str) -> np.ndarray:
    """One checked member as an array in native byte order."""
    with archive.open(info) as member:
        try:
            value = np.lib.format.read_array(member, allow_pickle=False)
        except ValueError as exc:
            raise _error(f"cannot read the array ({clip(str(exc))})", file, key) from None
    if not value.dtype.isnative:
        value = value.astype(value.dtype.newbyteorder("="))
    return value


def _error(message: str, file: str, key: str) -> XbarsimError:
    """A user error about member ``key`` of NPZ ``file``."""
    return XbarsimError(message, file=file, key=clip(key, KEY_SHOWN))


def _size(nbytes: int) -> str:
    """Bytes in binary units, e.g. ``7 TiB``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"


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
