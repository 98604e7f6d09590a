"""Hostile and careless files: NPZ headers and values, CSV cells, output paths, output sets.

Each test reaches the user-facing error (one line ``error: FILE: key: message``, exit 2) or the
library behaviour behind it; none of these inputs may produce a traceback, a huge allocation, a
formula in a spreadsheet, an overwritten input or a half-replaced set of outputs.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xbarsim.basis.files import basis_arrays, load_basis
from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.io import csv_file
from xbarsim.io.csv_file import format_value, frame_from_text, read_csv_frame, unescape_text
from xbarsim.io.npz_file import read_npz
from xbarsim.sweep.plot import load_sweep
from xbarsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
ISAAC = str(ROOT / "arch_configs" / "isaac_like.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
WEIGHTS = str(ROOT / "workloads" / "mlp_digits.weights.npz")
BASIS = str(ROOT / "workloads" / "mlp_digits.basis.npz")
DIGITS = str(ROOT / "workloads" / "digits_test.npz")
TIB = 2**40


def outcome(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the CLI; it must exit 0, or 2 with exactly one ``error: `` line; return both."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code in (0, 2), err[-2000:]
    if code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err[-2000:]
    assert "Traceback" not in err
    return code, err.strip()


def error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI, check it failed as a user error with one line, return the line."""
    code, line = outcome(capsys, *argv)
    assert code == 2, line
    return line


def header_only_npz(path: Path, key: str, shape: tuple[int, ...], dtype: str = "<f8") -> Path:
    """An NPZ whose member ``key`` has a valid ``.npy`` header for ``shape`` but no data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{key}.npy", header.getvalue())
    return path


def mlp_weights(value: float) -> dict[str, np.ndarray]:
    """The digits MLP's weight shapes, every entry ``value`` (float64)."""
    with np.load(WEIGHTS) as npz:
        return {key: np.full(npz[key].shape, value) for key in npz.files}


def savez(path: Path, arrays: dict[str, np.ndarray]) -> str:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return str(path)


# --- 1. NPZ safety -----------------------------------------------------------------------------

def test_a_header_claiming_7_tib_is_refused_before_any_allocation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = header_only_npz(tmp_path / "huge.npz", "weights/fc1", (7 * TIB // 8,))
    start = time.perf_counter()
    line = error_line(capsys, "run", "--arch", TINY, "--workload", MLP, "--dataflow",
                      "reprogram", "--crossbars", "8", "--weights", str(path))
    assert time.perf_counter() - start < 5
    assert line.startswith(f"error: {path}: weights/fc1: declares a float64 array of shape ")
    assert "(7 TiB; expected at most 2 GiB per array)" in line


@pytest.mark.parametrize("verb", ["functional", "basis"])
def test_huge_headers_are_refused_for_inputs_and_bases(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verb: str
) -> None:
    if verb == "functional":
        path = header_only_npz(tmp_path / "x.npz", "x", (TIB, 64))
        argv = ["--weights", WEIGHTS, "--inputs", str(path)]
    else:
        path = header_only_npz(tmp_path / "b.npz", "basis", (2**20, 2**20))
        argv = ["--basis", str(path), "--inputs", DIGITS]
    line = error_line(capsys, "functional", "--arch", TINY, "--workload", MLP, *argv)
    assert line.startswith(f"error: {path}: {'x' if verb == 'functional' else 'basis'}: declares")


def test_the_file_total_is_bounded_too(tmp_path: Path) -> None:
    path = tmp_path / "two.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key in ("a", "b", "c"):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": (2**28 - 8,)})
            archive.writestr(f"{key}.npy", header.getvalue())
    with pytest.raises(XbarsimError) as info:
        read_npz(path)
    assert (info.value.file, info.value.key) == (str(path), "c")
    assert "in all (expected at most 4 GiB per file)" in info.value.message


@pytest.mark.parametrize("array", [
    np.zeros(3, dtype=[("a", "<f8"), ("b", "<i4")]),
    np.array([b"abc"]),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
    np.zeros((2, 2), dtype=[("m", "<f4", (3,))]),
], ids=["structured", "bytes", "datetime", "subarray"])
def test_only_plain_dtypes_are_loaded(tmp_path: Path, array: np.ndarray) -> None:
    path = savez(tmp_path / "odd.npz", {"weights/fc1": array})
    with pytest.raises(XbarsimError) as info:
        read_npz(path)
    assert (info.value.file, info.value.key) == (path, "weights/fc1")
    assert "expected a plain numeric or bool array" in info.value.message


def test_a_member_that_is_not_npy_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", np.arange(3).tobytes())
        archive.writestr("blob", b"\0" * 2**20)
    with pytest.raises(XbarsimError, match=r"is not a \.npy array") as info:
        read_npz(path)
    assert info.value.key == "x"


def test_valid_files_load_as_numpy_loads_them() -> None:
    for path in (WEIGHTS, BASIS, DIGITS):
        ours = read_npz(path)
        with np.load(path) as npz:
            assert list(ours) == npz.files
            for key in npz.files:
                assert ours[key].dtype == npz[key].dtype
                np.testing.assert_array_equal(ours[key], npz[key])


def test_big_endian_arrays_load_in_native_order(tmp_path: Path) -> None:
    path = savez(tmp_path / "be.npz", {"x": np.arange(4, dtype=">f8")})
    loaded = read_npz(path)["x"]
    assert loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, np.arange(4.0))


@pytest.mark.parametrize(("value", "fragment"), [
    (np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
    (1e307, "magnitude 1e+307 (expected at most 1e+30)"),
    (1e-310, "largest magnitude is 1e-310"),
])
def test_weights_must_be_finite_and_sane(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         value: float, fragment: str) -> None:
    path = savez(tmp_path / "w.npz", mlp_weights(value))
    for argv in (["run", "--arch", TINY, "--workload", MLP, "--dataflow", "reprogram",
                  "--crossbars", "8", "--weights", path],
                 ["functional", "--arch", ISAAC, "--workload", MLP, "--weights", path,
                  "--inputs", DIGITS, "--limit", "5"]):
        line = error_line(capsys, *argv)
        assert line.startswith(f"error: {path}: weights/fc1: ") and fragment in line


def test_subnormal_values_beside_normal_ones_run(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    with np.load(WEIGHTS) as npz:
        weights = {key: npz[key].astype(np.float64) for key in npz.files}
    for w in weights.values():
        w.flat[::3] = 1e-310
    path = savez(tmp_path / "w.npz", weights)
    x = np.load(DIGITS)["x"][:5].reshape(5, 64).astype(np.float64)
    x[:, ::2] = 5e-324
    inputs = savez(tmp_path / "x.npz", {"x": x})
    assert outcome(capsys, "run", "--arch", TINY, "--workload", MLP, "--dataflow", "reprogram",
                   "--crossbars", "8", "--weights", path)[0] == 0
    assert outcome(capsys, "functional", "--arch", ISAAC, "--workload", MLP, "--weights", path,
                   "--inputs", inputs)[0] == 0


def test_largest_accepted_values_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = savez(tmp_path / "w.npz", mlp_weights(1e30))
    inputs = savez(tmp_path / "x.npz", {"x": np.full((3, 64), 1e30)})
    assert outcome(capsys, "functional", "--arch", ISAAC, "--workload", MLP, "--weights", path,
                   "--inputs", inputs)[0] == 0


@pytest.mark.parametrize(("value", "fragment"), [(np.nan, "NaN"), (-1e31, "magnitude 1e+31"),
                                                 (1e-40, "largest magnitude is 1e-40")])
def test_inputs_must_be_finite_and_sane(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        value: float, fragment: str) -> None:
    inputs = savez(tmp_path / "x.npz", {"x": np.full((3, 64), value)})
    line = error_line(capsys, "functional", "--arch", TINY, "--workload", MLP, "--weights",
                      WEIGHTS, "--inputs", inputs)
    assert line.startswith(f"error: {inputs}: x: ") and fragment in line


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("scale/fc1", 1e300, "magnitude 1e+300"), ("scale/fc2", 1e-200, "largest magnitude"),
    ("basis", 1e31, "magnitude 1e+31"), ("basis", np.inf, "NaN or infinite"),
])
def test_basis_values_must_be_finite_and_sane(tmp_path: Path, key: str, value: float,
                                              fragment: str) -> None:
    workload = load_workload(MLP)
    arrays = basis_arrays(load_basis(BASIS, workload), workload.name)
    arrays[key] = np.full_like(arrays[key], value, dtype=np.float64)
    path = savez(tmp_path / "b.npz", arrays)
    with pytest.raises(XbarsimError) as info:
        load_basis(path, workload)
    assert (info.value.file, info.value.key) == (path, key)
    assert fragment in info.value.message


# --- 2. CSV cells ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "cell"), [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-net", "'-net"), ("@SUM(A1)", "'@SUM(A1)"),
    ("'=x", "''=x"), ("net", "net"), ("'quoted", "'quoted"), ("NA", "NA"),
    ("-1.5", "-1.5"), ("-inf", "-inf"), ("+2e-3", "+2e-3"),
    (-3, "-3"), (-1.5, "-1.5"), (float("-inf"), "-inf"), (None, ""),
])
def test_formula_text_is_quoted_and_numbers_are_not(value: object, cell: str) -> None:
    assert format_value(value) == cell
    if isinstance(value, str):
        assert unescape_text(cell) == value


def named_copy(tmp_path: Path, source: str, name: str) -> str:
    """A copy of a YAML file whose top-level ``name`` is ``name``."""
    lines = Path(source).read_text(encoding="utf-8").splitlines()
    lines = [f"name: '{name}'" if line.startswith("name:") else line for line in lines]
    path = tmp_path / f"{Path(source).stem}-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("workload_name", "arch_name"),
                         [("NA", "nan"), ("null", "NaN"), ("-net", "-chip")])
def test_names_survive_the_sweep_csv_and_the_plot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, workload_name: str, arch_name: str
) -> None:
    workload = named_copy(tmp_path, MLP, workload_name)
    arch = named_copy(tmp_path, TINY, arch_name)
    out = tmp_path / "sweep.csv"
    assert outcome(capsys, "sweep", "--arch", arch, "--workload", workload, "--dataflow",
                   "reprogram", "--crossbars", "8,16", "--jobs", "1", "--quiet",
                   "--out", str(out))[0] == 0
    frame = load_sweep(out)
    assert list(frame["workload"]) == [workload_name] * 2
    assert list(frame["arch"]) == [arch_name] * 2
    assert frame["error"].isna().all() and list(frame["status"]) == ["ok", "ok"]
    assert frame["crossbars"].dtype.kind == "i" and frame["cycles"].dtype.kind in "if"
    assert outcome(capsys, "plot", str(out), "--out", str(tmp_path / "fig.png"))[0] == 0
    raw = out.read_text(encoding="utf-8").splitlines()[1]
    expected = "'-net,'-chip," if workload_name == "-net" else f"{workload_name},{arch_name},"
    assert raw.startswith(expected)


def test_text_columns_keep_na_strings_and_numbers_keep_nan() -> None:
    text = "workload,arch,status,error,x,v\nNA,nan,ok,,nan,-inf\nnull,N/A,error,'-x,1.5,\n"
    frame = frame_from_text(text)
    assert list(frame["workload"]) == ["NA", "null"] and list(frame["arch"]) == ["nan", "N/A"]
    assert pd.isna(frame["error"][0]) and frame["error"][1] == "-x"
    assert frame["x"].dtype == np.float64 and np.isnan(frame["x"][0])
    assert frame["v"][0] == -np.inf and np.isnan(frame["v"][1])


def test_read_csv_frame_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(XbarsimError, match="file not found"):
        read_csv_frame(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe,a\n")
    with pytest.raises(XbarsimError, match="not a CSV"):
        read_csv_frame(tmp_path / "bad.csv")


# --- 3. output paths ---------------------------------------------------------------------------

def test_sweep_refuses_to_write_over_its_arch(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    arch = tmp_path / "arch.yaml"
    shutil.copy(TINY, arch)
    before = arch.read_bytes()
    line = error_line(capsys, "sweep", "--arch", str(arch), "--workload", MLP, "--dataflow",
                      "reprogram", "--crossbars", "8", "--jobs", "1", "--out", str(arch))
    assert line == (f"error: --out: {arch} is the --arch input (expected an output path that "
                    "is none of the command's inputs)")
    assert arch.read_bytes() == before


def test_plot_refuses_to_write_over_its_csv(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    csv_path = tmp_path / "sweep.png"  # plot --out sweep.png writes sweep.png
    assert outcome(capsys, "sweep", "--arch", TINY, "--workload", MLP, "--dataflow",
                   "reprogram", "--crossbars", "8", "--jobs", "1", "--quiet",
                   "--out", str(csv_path))[0] == 0
    before = csv_path.read_bytes()
    line = error_line(capsys, "plot", str(csv_path), "--out", str(csv_path))
    assert line.startswith(f"error: --out: {csv_path} is the CSV input")
    assert csv_path.read_bytes() == before


def test_run_refuses_an_out_dir_holding_its_inputs(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    weights = out / "summary.csv"  # an NPZ under the name run would write
    shutil.copy(WEIGHTS, weights)
    os.link(weights, out / "w.npz")  # the same file through a hard link
    before = weights.read_bytes()
    for given in (weights, out / "w.npz"):
        line = error_line(capsys, "run", "--arch", TINY, "--workload", MLP, "--dataflow",
                          "reprogram", "--crossbars", "8", "--weights", str(given),
                          "--out", str(out))
        assert line.startswith(f"error: --out: {weights} is the --weights input")
    assert weights.read_bytes() == before


def test_run_refuses_an_out_dir_that_is_an_input(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(MLP)
    line = error_line(capsys, "run", "--arch", TINY, "--workload", MLP, "--dataflow",
                      "reprogram", "--crossbars", "8", "--out", str(link))
    assert line.startswith(f"error: --out: {link} is the --workload input")


def test_functional_refuses_an_out_dir_holding_its_inputs(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    inputs = out / "functional_summary.csv"
    shutil.copy(DIGITS, inputs)
    line = error_line(capsys, "functional", "--arch", TINY, "--workload", MLP, "--weights",
                      WEIGHTS, "--inputs", str(inputs), "--out", str(out))
    assert line.startswith(f"error: --out: {inputs} is the --inputs input")
    assert inputs.read_bytes() == Path(DIGITS).read_bytes()


# --- 4. run writes its CSVs as a set -----------------------------------------------------------

RUN = ["run", "--arch", TINY, "--workload", MLP, "--dataflow", "reprogram", "--crossbars", "8"]


def full_disk_on_call(monkeypatch: pytest.MonkeyPatch, failing: int) -> None:
    """Make the ``failing``-th CSV write raise ENOSPC, with no file name (as a full disk does)."""
    real = csv_file.atomic_write_text
    calls = []

    def write(path: str | os.PathLike[str], text: str) -> Path:
        calls.append(path)
        if len(calls) == failing:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, text)
    monkeypatch.setattr(csv_file, "atomic_write_text", write)


def test_a_failed_third_write_leaves_the_old_set(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert outcome(capsys, *RUN, "--batch", "1", "--out", str(out))[0] == 0
    (out / "notes.txt").write_text("mine")
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    full_disk_on_call(monkeypatch, 3)
    line = error_line(capsys, *RUN, "--batch", "2", "--out", str(out))
    assert line == f"error: {out}: No space left on device"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_write_into_a_new_directory_leaves_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    full_disk_on_call(monkeypatch, 2)
    out = tmp_path / "new"
    assert error_line(capsys, *RUN, "--out", str(out)) == f"error: {out}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_move_puts_the_old_files_back(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    tables = {name: ([{"a": name}], ["a"]) for name in ("x.csv", "y.csv", "z.csv")}
    csv_file.write_csv_set(out, tables)
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    real, moves = os.replace, []

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        moves.append(dst)
        if Path(dst) == out / "z.csv" and Path(src).parent.name != ".old":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)
    monkeypatch.setattr(csv_file.os, "replace", replace)
    with pytest.raises(OSError):
        csv_file.write_csv_set(out, {name: ([{"a": "new"}], ["a"]) for name in tables})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old
    assert len(moves) > 3


def test_run_outputs_are_unchanged_in_content_and_permissions(tmp_path: Path) -> None:
    fresh, again = tmp_path / "a", tmp_path / "b"
    assert main([*RUN, "--out", str(fresh)]) == 0
    again.mkdir()
    (again / "summary.csv").write_text("old\n")
    assert main([*RUN, "--out", str(again)]) == 0
    for name in ("layers.csv", "utilization.csv"):
        assert (fresh / name).read_bytes() == (again / name).read_bytes()
    assert (fresh.stat().st_mode & 0o777) == (0o777 & ~_umask())
    assert sorted(p.name for p in again.iterdir()) == [
        "area.csv", "layers.csv", "summary.csv", "utilization.csv"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_os_errors_always_name_a_file(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr("xbarsim.sweep.sweep", full)
    line = error_line(capsys, "sweep", "--arch", TINY, "--workload", MLP, "--dataflow",
                      "reprogram", "--crossbars", "8", "--out", str(out))
    assert line == f"error: {out}: No space left on device"
    monkeypatch.setattr("xbarsim.cli.main.cmd_validate", full)
    line = error_line(capsys, "validate", TINY)
    assert line == "error: xbarsim validate: No space left on device"


def test_basis_fit_and_onnx_import_refuse_to_overwrite_an_input(tmp_path: Path, capsys) -> None:
    weights = tmp_path / "w.npz"
    shutil.copy("workloads/mlp_digits.weights.npz", weights)
    before = weights.read_bytes()
    assert main(["basis", "fit", "--workload", "workloads/mlp_digits.yaml", "--weights",
                 str(weights), "--length", "16", "--out", str(weights)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out: {weights} is the --weights input")
    assert weights.read_bytes() == before
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not really a model")
    assert main(["workload", "from-onnx", str(model), "-o", str(model)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out: {model} is the model input")
    assert model.read_bytes() == b"not really a model"
