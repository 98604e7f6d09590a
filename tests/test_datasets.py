"""Named datasets (``functional.datasets``): IDX parsing on small synthetic files, one-line errors
for corrupt or missing files, the shipped digits splits, ``resolve_dataset`` and ``functional
--inputs NAME``."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.functional.datasets import (
    FASHION_DEFAULT,
    FASHION_ENV,
    load_named_dataset,
    read_idx,
    resolve_dataset,
)
from xbarsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent
MLP = load_workload(ROOT / "workloads" / "mlp_digits.yaml")
LENET = ROOT / "workloads" / "lenet5_fashion.yaml"
needs_fashion = pytest.mark.skipif(not FASHION_DEFAULT.is_dir(),
                                   reason="apt-get install dataset-fashion-mnist")


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000 0x08 ndim, big-endian sizes, the data."""
    header = bytes((0, 0, 8, array.ndim)) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, data: bytes, gz: bool) -> Path:
    """``data`` at ``path`` (``path.gz`` gzipped when ``gz``)."""
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def fake_fashion(directory: Path, gz: bool, n: dict[str, int] | None = None) -> dict:
    """Synthetic Fashion-MNIST IDX files (random pixels and labels) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        count = (n or {"train": 5, "test": 3})[split]
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), gz)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_fashion_idx_files_load_as_unit_range_images(tmp_path: Path, gz: bool) -> None:
    arrays = fake_fashion(tmp_path, gz)
    for split in ("train", "test"):
        data = load_named_dataset("fashion-mnist", split, root=tmp_path)
        images, labels = arrays[split]
        assert data.x.shape == (len(images), 1, 28, 28) and data.x.dtype == np.float64
        np.testing.assert_array_equal(data.x[:, 0] * 255, images)
        assert data.y is not None and data.y.dtype == np.int64
        np.testing.assert_array_equal(data.y, labels)


def test_fashion_directory_from_the_environment(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake_fashion(tmp_path, gz=True)
    monkeypatch.setenv(FASHION_ENV, str(tmp_path))
    assert len(load_named_dataset("fashion-mnist", "train").x) == 5


@pytest.mark.parametrize(("data", "message"), [
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x01\x02\x03", "magic number 00000801"),
    (b"\x00\x00\x0d\x03" + bytes(12), "magic number 00000d03"),
    (b"", "magic number missing"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
    (idx_bytes(np.zeros((2, 28, 28)))[:-1], "truncated: 1567 of 1568 data bytes"),
    (idx_bytes(np.zeros((2, 28, 28))) + b"\x00", "data after the 1568 bytes"),
], ids=["labels-magic", "float-type", "empty", "header", "truncated", "trailing"])
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_corrupt_idx_is_a_one_line_error_naming_the_file(tmp_path: Path, data: bytes,
                                                         message: str, gz: bool) -> None:
    path = write_idx(tmp_path / "images-idx3-ubyte", data, gz)
    with pytest.raises(XbarsimError, match=message) as info:
        read_idx(path, 3)
    assert info.value.file == str(path) and "\n" not in str(info.value)


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28))), mtime=0)[:-20])
    with pytest.raises(XbarsimError, match="cannot read IDX file") as info:
        read_idx(path, 3)
    assert info.value.file == str(path)


def test_inconsistent_fashion_files_are_errors(tmp_path: Path) -> None:
    fake_fashion(tmp_path, gz=False)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(4)))
    with pytest.raises(XbarsimError, match="4 labels for 3 images") as info:
        load_named_dataset("fashion-mnist", "test", root=tmp_path)
    assert info.value.file == str(labels)
    labels.write_bytes(idx_bytes(np.array([0, 10, 1])))
    with pytest.raises(XbarsimError, match=r"label 10 \(expected 0..9\)"):
        load_named_dataset("fashion-mnist", "test", root=tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 8, 8))))
    with pytest.raises(XbarsimError, match=r"8x8 pixels \(expected 28x28\)"):
        load_named_dataset("fashion-mnist", "test", root=tmp_path)


def test_missing_fashion_files_say_how_to_get_them(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(XbarsimError, match="no such directory") as info:
        load_named_dataset("fashion-mnist", "test", root=missing)
    assert info.value.file == str(missing)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert FASHION_ENV in str(info.value)
    with pytest.raises(XbarsimError, match=r"no t10k-images-idx3-ubyte\[.gz\] here"):
        load_named_dataset("fashion-mnist", "test", root=tmp_path)


def test_digits_splits_are_the_shipped_files() -> None:
    train = load_named_dataset("digits", "train")
    test = load_named_dataset("digits", "test")
    assert train.x.shape == (1437, 1, 8, 8) and test.x.shape == (360, 1, 8, 8)
    for data in (train, test):
        assert data.x.dtype == np.float64 and data.x.min() >= 0 and data.x.max() <= 1
        assert data.y is not None and set(np.unique(data.y)) == set(range(10))


def test_unknown_names_and_splits() -> None:
    with pytest.raises(XbarsimError, match="did you mean 'digits'"):
        load_named_dataset("digit")
    with pytest.raises(XbarsimError, match="unknown split 'val'"):
        load_named_dataset("digits", "val")


def test_resolve_dataset_by_name_path_or_error(tmp_path: Path) -> None:
    by_name = resolve_dataset("digits", "test", MLP)
    by_path = resolve_dataset(str(ROOT / "workloads" / "digits_test.npz"), "train", MLP)
    np.testing.assert_array_equal(by_name.x, by_path.x)
    assert len(resolve_dataset("digits", "train", MLP).x) == 1437
    with pytest.raises(XbarsimError, match="did you mean 'fashion-mnist'") as info:
        resolve_dataset("fashon-mnist", "test", MLP)
    assert info.value.file == "fashon-mnist"
    with pytest.raises(XbarsimError, match="file not found"):
        resolve_dataset(str(tmp_path / "absent.npz"), "test", MLP)
    with pytest.raises(XbarsimError, match=r"^digits: x: shape \[360, 1, 8, 8\]"):
        resolve_dataset("digits", "test", load_workload(LENET))


def test_functional_inputs_digits_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["functional", "--arch", str(ROOT / "arch_configs" / "ideal.yaml"),
                 "--workload", "mlp_digits", "--weights",
                 str(ROOT / "workloads" / "mlp_digits.weights.npz"), "--inputs", "digits",
                 "--limit", "50"])
    assert code == 0 and "50 images" in capsys.readouterr().out


@needs_fashion
def test_functional_inputs_fashion_mnist(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["functional", "--arch", str(ROOT / "arch_configs" / "ideal.yaml"),
                 "--workload", str(LENET), "--weights",
                 str(ROOT / "workloads" / "lenet5_fashion.weights.npz"),
                 "--inputs", "fashion-mnist", "--limit", "20"])
    out = capsys.readouterr().out
    assert code == 0 and "lenet5_fashion on ideal" in out and "20 images" in out
    assert "accuracy: float" in out


@needs_fashion
def test_real_fashion_mnist_sizes() -> None:
    test = load_named_dataset("fashion-mnist", "test")
    assert test.x.shape == (10_000, 1, 28, 28) and test.y is not None
    assert np.bincount(test.y).tolist() == [1000] * 10


def test_the_package_imports_without_torch() -> None:
    """The CLI and the dataset module never import torch at import time."""
    code = ("import sys; import xbarsim.cli.main, xbarsim.functional.datasets; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
