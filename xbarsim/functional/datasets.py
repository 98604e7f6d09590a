"""Named datasets for functional runs and training: ``digits`` and ``fashion-mnist``.

- ``digits``: scikit-learn's 8x8 digits as the repository ships them (``scripts/train_digits.py``,
  a stratified 80/20 split): ``workloads/digits_train.npz`` and ``workloads/digits_test.npz``,
  x = pixel / 16.
- ``fashion-mnist``: the four IDX files (gzipped or raw) of Xiao et al. 2017 from a directory:
  the ``root`` argument, else ``$XBARSIM_FASHION_MNIST``, else ``/usr/share/datasets/
  fashion-mnist`` (Debian's ``dataset-fashion-mnist``); x = pixel / 255, [N, 1, 28, 28], 60,000
  training and 10,000 test images.

Every dataset is x float64 [N, 1, H, W] in [0, 1] (unsigned, as the crossbar DACs take them) and
y int64 [N] class labels.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

from xbarsim.errors import XbarsimError, clip, show, suggest
from xbarsim.functional.dataset import Dataset, check_dataset, load_dataset
from xbarsim.io.npz_file import read_npz
from xbarsim.io.zoo_files import SHIPPED
from xbarsim.workload import Workload

DATASET_NAMES = ("digits", "fashion-mnist")
"""Names ``load_named_dataset`` and ``resolve_dataset`` accept."""
SPLITS = ("train", "test")
"""Splits of every named dataset."""

FASHION_ENV = "XBARSIM_FASHION_MNIST"
"""Environment variable naming the Fashion-MNIST directory."""
FASHION_DEFAULT = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` installs the IDX files."""
FASHION_PREFIX = {"train": "train", "test": "t10k"}
"""IDX file name prefix per split: ``<prefix>-images-idx3-ubyte[.gz]``, ``-labels-idx1-``."""
FASHION_HOW = (f"apt-get install dataset-fashion-mnist (Debian/Ubuntu), or set {FASHION_ENV} "
               "or pass a directory holding the IDX files")
"""How to get Fashion-MNIST, for the error when it is missing."""
IMAGE_SIZE = 28
"""Fashion-MNIST images are 28x28 pixels."""
CLASSES = 10
"""Fashion-MNIST labels are 0..9."""

IDX_UBYTE = 0x08
"""IDX type code of unsigned bytes, the only type the Fashion-MNIST files use."""
IDX_MAX_BYTES = 2**30
"""Largest payload an IDX header may declare (1 GiB; the training images are 47 MB)."""


def load_named_dataset(name: str, split: str = "test",
                       root: str | os.PathLike[str] | None = None) -> Dataset:
    """The ``split`` ("train" or "test") of dataset ``name``; ``root``: Fashion-MNIST's folder."""
    if name not in DATASET_NAMES:
        raise XbarsimError(f"unknown dataset (expected one of {', '.join(DATASET_NAMES)})"
                           f"{suggest(name, DATASET_NAMES)}", key=clip(name))
    if split not in SPLITS:
        raise XbarsimError(f"unknown split {show(split)} (expected train or test)", key=name)
    if name == "digits":
        return _digits(split)
    return load_fashion_mnist(split, root)


def resolve_dataset(spec: str, split: str, workload: Workload) -> Dataset:
    """A dataset name (its ``split``) or an inputs NPZ path, checked against ``workload``."""
    if spec in DATASET_NAMES:
        data = load_named_dataset(spec, split)
        try:
            return check_dataset(data.x, data.y, workload)
        except XbarsimError as err:
            raise err.at(file=spec) from None
    path = Path(spec)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return load_dataset(spec, workload)
    raise XbarsimError(f"no such file and no dataset of that name (expected an inputs NPZ or "
                       f"one of {', '.join(DATASET_NAMES)}){suggest(spec, DATASET_NAMES)}",
                       file=clip(spec))


def load_fashion_mnist(split: str, root: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion-MNIST's ``split`` from the IDX files in ``root`` (default: module doc)."""
    directory = fashion_mnist_dir(root)
    prefix = FASHION_PREFIX[split]
    images_file = _idx_file(directory, f"{prefix}-images-idx3-ubyte")
    labels_file = _idx_file(directory, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_file, 3)
    labels = read_idx(labels_file, 1)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise XbarsimError(f"images of {images.shape[1]}x{images.shape[2]} pixels (expected "
                           f"{IMAGE_SIZE}x{IMAGE_SIZE})", file=str(images_file))
    if len(labels) != len(images):
        raise XbarsimError(f"{len(labels)} labels for {len(images)} images in "
                           f"{images_file.name} (expected one label per image)",
                           file=str(labels_file))
    if len(labels) and labels.max() >= CLASSES:
        raise XbarsimError(f"label {labels.max()} (expected 0..{CLASSES - 1})",
                           file=str(labels_file))
    x = images[:, None].astype(np.float64) / 255.0
    return Dataset(x, labels.astype(np.int64))


def fashion_mnist_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """``root``, else ``$XBARSIM_FASHION_MNIST``, else Debian's install folder."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(FASHION_ENV) or FASHION_DEFAULT)


def _idx_file(directory: Path, stem: str) -> Path:
    """``stem.gz`` or ``stem`` in ``directory``; a one-line error saying how to get it if
    neither exists."""
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    what = "no such directory" if not directory.is_dir() else f"no {stem}[.gz] here"
    raise XbarsimError(f"{what} (expected the Fashion-MNIST IDX files: {FASHION_HOW})",
                       file=str(directory))


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """The unsigned-byte array of an IDX file (``.gz`` or raw) with ``ndim`` dimensions;
    the magic number, dimensions and payload length are checked (errors name the file)."""
    file = str(path)
    opener = gzip.open if file.endswith(".gz") else open
    try:
        with opener(file, "rb") as stream:
            return _read_idx_stream(stream, ndim, file)
    except XbarsimError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise XbarsimError(f"cannot read IDX file ({type(exc).__name__}: {clip(str(exc))})",
                           file=file) from None


def _read_idx_stream(stream: io.BufferedIOBase, ndim: int, file: str) -> np.ndarray:
    """Header (magic 0x0000 0x08 ``ndim``, ``ndim`` big-endian uint32 sizes) then exactly the
    declared bytes, nothing after them."""
    magic = stream.read(4)
    expected = bytes((0, 0, IDX_UBYTE, ndim))
    if magic != expected:
        raise XbarsimError(f"magic number {magic.hex() or 'missing'} (expected {expected.hex()}: "
                           f"an IDX file of unsigned bytes with {ndim} dimensions)", file=file)
    header = stream.read(4 * ndim)
    if len(header) != 4 * ndim:
        raise XbarsimError("truncated header (expected the sizes of "
                           f"{ndim} dimensions)", file=file)
    shape = tuple(int(n) for n in np.frombuffer(header, dtype=">u4"))
    size = math.prod(shape)
    if size > IDX_MAX_BYTES:
        raise XbarsimError(f"declares shape {list(shape)} ({size} bytes; expected at most "
                           f"{IDX_MAX_BYTES})", file=file)
    payload = stream.read(size)
    if len(payload) != size:
        raise XbarsimError(f"truncated: {len(payload)} of {size} data bytes for shape "
                           f"{list(shape)}", file=file)
    if stream.read(1):
        raise XbarsimError(f"data after the {size} bytes of shape {list(shape)} (expected the "
                           "file to end there)", file=file)
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def _digits(split: str) -> Dataset:
    """The shipped digits split (``workloads/digits_<split>.npz``, x [N, 1, 8, 8], y [N])."""
    path = SHIPPED / f"digits_{split}.npz"
    if not path.is_file():
        raise XbarsimError("not found (the digits dataset ships in a source checkout's "
                           "workloads folder; expected to run from a checkout, or pass an "
                           "inputs NPZ path)", file=str(path))
    arrays = read_npz(path)
    x, y = arrays.get("x"), arrays.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[1:] != (1, 8, 8) or y.shape != (len(x),):
        raise XbarsimError("expected x [N, 1, 8, 8] and y [N] (regenerate with "
                           "scripts/train_digits.py)", file=str(path))
    return Dataset(x.astype(np.float64), y.astype(np.int64))
