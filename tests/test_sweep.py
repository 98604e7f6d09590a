"""Sweeps: axis parsing, the CSV log (append, resume, torn lines), backends, bad input."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest

import xbarsim.sweep.backends as backends
from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.sweep.points import parse_crossbars, parse_dataflows, parse_vary
from xbarsim.sweep.run import STATUS_COLUMNS, sweep, sweep_columns
from xbarsim.timing.simulate import SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
ISAAC = str(ROOT / "arch_configs" / "isaac_like.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
LENET = str(ROOT / "workloads" / "lenet5_mnist.yaml")
SMALL: dict[str, Any] = {"arch": TINY, "workloads": MLP, "dataflows": "static,reprogram",
         "crossbars": "16:256:x2"}
"""mlp_digits needs 74 crossbars on tiny: static fails at 16, 32, 64 and runs at 128, 256."""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def without_wall(path: Path) -> list[list[str]]:
    """The CSV's cells with the ``wall_s`` column removed (the only nondeterministic one)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    at = rows[0].index("wall_s")
    return [r[:at] + r[at + 1:] for r in rows]


def sweep_args(out: Path, *extra: str) -> list[str]:
    return ["sweep", "--arch", TINY, "--workload", MLP, "--dataflow", "static,reprogram",
            "--crossbars", "16:256:x2", "--out", str(out), *extra]


# --- axes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), [
    ("8,16,64", [8, 16, 64]),
    ("8:1024:x2", [8, 16, 32, 64, 128, 256, 512, 1024]),
    ("8:100:x2", [8, 16, 32, 64]),
    ("8:64:+8", [8, 16, 24, 32, 40, 48, 56, 64]),
    ("4,8:32:x4", [4, 8, 32]),
    ("5", [5]),
    ("7:7:x2", [7]),
])
def test_crossbar_specs(spec: str, expected: list[int]) -> None:
    assert parse_crossbars(spec) == expected


def test_crossbars_from_a_list() -> None:
    assert parse_crossbars([16, 32]) == [16, 32]


def test_dataflows_keep_their_order() -> None:
    assert [d.value for d in parse_dataflows(["reprogram,static", "basis"])] == [
        "reprogram", "static", "basis"]


def test_vary_values_are_kept_as_text() -> None:
    assert parse_vary({"crossbar.adc.bits": [6, 8], "analog.programming_error": [True]}) == {
        "crossbar.adc.bits": ["6", "8"], "analog.programming_error": ["true"]}


# --- bad input: one line, exit 2, nothing written ---------------------------------------


@pytest.mark.parametrize(("spec", "needle"), [
    ("8:4:x2", "empty"),
    ("x0", "not a count or a range"),
    ("8:64:x1", "factor x1"),
    ("a,b", "'a' is not a count"),
    ("0", "expected a positive count"),
    ("", "not a count or a range"),
    ("8:64:+0", "step +0"),
    ("8:64", "not a count or a range"),
    ("8,8", "given twice"),
    ("8:32:x2,16", "given twice"),
    ("1:100000000:+1", "more than"),
])
def test_bad_crossbars(capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str,
                       needle: str) -> None:
    out = tmp_path / "s.csv"
    args = sweep_args(out)
    args[args.index("16:256:x2")] = spec
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("error: --crossbars: ") and needle in err
    assert err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("--dataflow", "static,static", "dataflow static given twice"),
    ("--dataflow", "reprogam", "did you mean 'reprogram'"),
    ("--vary", "crossbar.adc.bitz=6,8", "did you mean 'bits'"),
    ("--vary", "crosbar.adc.bits=6", "did you mean 'crossbar'"),
    ("--vary", "crossbar.adc.bits=0", "crossbar.adc.bits: got 0 (expected >= 1)"),
    ("--vary", "crossbar.adc.bits=6,6", "value 6 given twice"),
    ("--vary", "crossbar.adc.bits=", "empty value"),
    ("--vary", "crossbar.adc.bits", "expected key.path=v1,v2"),
    ("--vary", "chip.crossbars=8,16", "use --crossbars"),
    ("--vary", "crossbar.cell_bits=16", "expected cell_bits <= weight_bits"),
    ("--workload", MLP, "workload named mlp_digits given twice"),
    ("--batch", "0", "--batch"),
    ("--seed", "-1", "--seed: got -1"),
    ("--basis", str(ROOT / "workloads" / "lenet5_mnist.basis.npz"), "lenet5_mnist"),
    ("--basis", str(ROOT / "missing.npz"), "missing.npz"),
    ("--jobs", "0", "--jobs: got 0"),
    ("--dask-local", "0", "--dask-local: got 0"),
])
def test_bad_input_fails_before_any_point(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          flag: str, value: str, needle: str) -> None:
    calls: list[object] = []
    monkeypatch.setattr(backends, "run_point", calls.append)
    out = tmp_path / "s.csv"
    args = sweep_args(out, flag, value)
    if flag == "--dataflow":
        args[args.index("static,reprogram")] = value
        args = args[:-2]
    code, _, err = run_cli(capsys, *args)
    assert code == 2, err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert not out.exists() and calls == []


def test_one_basis_file_fits_one_workload(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    basis = str(ROOT / "workloads" / "mlp_digits.basis.npz")
    args = sweep_args(tmp_path / "s.csv", "--workload", LENET, "--basis", basis)
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "one basis file fits one workload" in err


def test_basis_points_use_the_given_basis(tmp_path: Path) -> None:
    basis = str(ROOT / "workloads" / "mlp_digits.basis.npz")
    frame = sweep(TINY, MLP, "basis", [16, 64], jobs=1, basis=basis)
    default = sweep(TINY, MLP, "basis", [16, 64], jobs=1)
    assert (frame.status == "ok").all()
    assert frame.drop(columns="wall_s").equals(default.drop(columns="wall_s"))


def test_unreachable_scheduler(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    out = tmp_path / "s.csv"
    began = time.monotonic()
    code, _, err = run_cli(capsys, *sweep_args(out, "--scheduler", "tcp://127.0.0.1:9"))
    assert time.monotonic() - began < 10
    assert code == 2
    assert err.startswith("error: --scheduler: cannot reach the Dask scheduler at "
                          "tcp://127.0.0.1:9") and err.count("\n") == 1
    assert not out.exists()


def test_malformed_scheduler_address(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    out = tmp_path / "s.csv"
    code, _, err = run_cli(capsys, *sweep_args(out, "--scheduler", "localhost"))
    assert code == 2 and "missing port number" in err and "expected tcp://HOST:PORT" in err
    assert not out.exists()


def test_backend_options_are_exclusive(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(sweep_args(tmp_path / "s.csv", "--jobs", "2", "--dask-local", "2"))
    with pytest.raises(XbarsimError, match="at most one"):
        sweep(**SMALL, jobs=2, dask_local=2)


# --- the CSV -------------------------------------------------------------------------------


def test_rows_columns_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    code, stdout, _ = run_cli(capsys, *sweep_args(out, "--jobs", "1", "--dataflow", "basis"))
    assert code == 0 and "15 points (12 ok, 3 error)" in stdout
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [*SUMMARY_COLUMNS, *STATUS_COLUMNS]
    assert [(r["dataflow"], r["crossbars"]) for r in rows] == [
        (d, str(n)) for d in ("static", "reprogram", "basis") for n in (16, 32, 64, 128, 256)]
    status = {(r["dataflow"], r["crossbars"]): (r["status"], r["error"]) for r in rows}
    assert status["static", "64"][0] == "error"
    assert "static needs 74 crossbars" in status["static", "64"][1]
    assert status["static", "128"] == ("ok", "")
    assert all(status["basis", str(n)] == ("ok", "") for n in (16, 32, 64, 128, 256))
    failed = next(r for r in rows if r["status"] == "error")
    assert failed["workload"] == "mlp_digits" and failed["arch"] == "tiny"
    assert failed["cycles"] == "" and failed["batch"] == "1" and failed["seed"] == "0"


def test_vary_is_a_cartesian_product(tmp_path: Path) -> None:
    frame = sweep(TINY, [MLP, LENET], "reprogram", [16, 32], jobs=2,
                  vary={"crossbar.adc.bits": [6, 8], "write_verify.fixed_pulses": [2, 3]})
    assert list(frame.columns) == list(sweep_columns(
        ["crossbar.adc.bits", "write_verify.fixed_pulses"]))
    keys = list(zip(frame.workload, frame["crossbar.adc.bits"],
                    frame["write_verify.fixed_pulses"], frame.crossbars))
    assert keys == [(w, b, p, n) for w in ("mlp_digits", "lenet5_mnist") for b in (6, 8)
                    for p in (2, 3) for n in (16, 32)]
    assert (frame.status == "ok").all()
    pulses = frame.set_index(["workload", "crossbar.adc.bits", "write_verify.fixed_pulses",
                              "crossbars"])["write_pulses"]
    assert pulses["mlp_digits", 6, 3, 16] == pulses["mlp_digits", 6, 2, 16] * 3 / 2


def test_unexpected_exception_is_recorded(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    real = backends.simulate

    def flaky(arch: Any, workload: Any, options: Any) -> Any:
        if arch.chip.crossbars == 32:
            raise RuntimeError("boom\nsecond line")
        return real(arch, workload, options)

    monkeypatch.setattr(backends, "simulate", flaky)
    frame = sweep(TINY, MLP, "reprogram", "16:64:x2", jobs=1, out=tmp_path / "s.csv")
    assert list(frame.status) == ["ok", "error", "ok"]
    assert frame.error[1] == "RuntimeError: boom second line"


def test_rows_are_appended_as_points_finish(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    seen: list[int] = []
    real = backends.run_point

    def spy(point: backends.Point) -> backends.Outcome:
        text = out.read_text()
        assert text.endswith("\n")
        seen.append(text.count("\n"))
        return real(point)

    monkeypatch.setattr(backends, "run_point", spy)
    sweep(**SMALL, jobs=1, out=out)
    assert seen == list(range(1, 11))  # header, then one more full line per finished point


def test_same_sweep_same_bytes_except_wall_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    sweep(**SMALL, jobs=1, out=a)
    sweep(**SMALL, jobs=1, out=b)
    assert without_wall(a) == without_wall(b)


def test_backends_give_the_same_csv(tmp_path: Path) -> None:
    runs: dict[str, dict[str, Any]] = {"inline": {"jobs": 1}, "pool": {"jobs": 2}}
    try:
        import dask.distributed  # noqa: F401
        runs["dask"] = {"dask_local": 2}
    except ImportError:
        pass
    results = {}
    for name, kwargs in runs.items():
        out = tmp_path / f"{name}.csv"
        sweep(**SMALL, out=out, **kwargs)
        results[name] = without_wall(out)
    assert results["pool"] == results["inline"]
    if "dask" in results:
        assert results["dask"] == results["inline"]
    else:
        pytest.skip("dask.distributed is not installed: Dask backend not compared")


def test_dataframe_matches_the_csv(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    frame = sweep(**SMALL, jobs=1, out=out)
    in_memory = sweep(**SMALL, jobs=1)
    assert frame.drop(columns="wall_s").equals(in_memory.drop(columns="wall_s"))
    on_disk = list(csv.DictReader(out.open()))
    assert len(frame) == len(on_disk) == 10
    assert list(frame.cycles_per_inference.dropna()) == [
        float(r["cycles_per_inference"]) for r in on_disk if r["status"] == "ok"]


# --- resume --------------------------------------------------------------------------------


def test_resume_runs_only_missing_points_and_drops_a_torn_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    full, out = tmp_path / "full.csv", tmp_path / "s.csv"
    sweep(**SMALL, jobs=1, out=full)
    lines = full.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:1] + lines[7:9] + lines[2:4]) + lines[4][:25])  # torn
    ran: list[tuple[str, ...]] = []
    real = backends.run_point

    def counting(point: backends.Point) -> backends.Outcome:
        ran.append(point.key)
        return real(point)

    monkeypatch.setattr(backends, "run_point", counting)
    frame = sweep(**SMALL, jobs=1, out=out, resume=True)
    assert len(ran) == 6 and frame.attrs["resumed"] == 4
    assert without_wall(out) == without_wall(full)


def interrupted(monkeypatch: pytest.MonkeyPatch, after: int, **kwargs: Any) -> None:
    """Run a sweep that Ctrl-C stops once ``after`` points have run (leaving an unfinished
    CSV), then restore the real point runner."""
    real = backends.run_point
    count = iter(range(10**6))

    def interrupt(point: backends.Point) -> backends.Outcome:
        if next(count) == after:
            raise KeyboardInterrupt
        return real(point)

    monkeypatch.setattr(backends, "run_point", interrupt)
    with pytest.raises(KeyboardInterrupt):
        sweep(**kwargs)
    monkeypatch.setattr(backends, "run_point", real)


def test_interrupted_sweep_leaves_a_valid_csv(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    interrupted(monkeypatch, 3, **SMALL, jobs=1, out=out)
    rows = list(csv.reader(out.open()))
    assert len(rows) == 4 and all(len(r) == len(rows[0]) for r in rows)
    assert len(sweep(**SMALL, jobs=1, out=out, resume=True)) == 10


def test_resume_without_a_file_starts_fresh(tmp_path: Path) -> None:
    frame = sweep(**SMALL, jobs=1, out=tmp_path / "new.csv", resume=True)
    assert len(frame) == 10 and frame.attrs["resumed"] == 0


@pytest.mark.parametrize(("first", "second", "reason"), [
    ([], ["--vary", "crossbar.adc.bits=6"],
     "it varies no keys but this sweep varies crossbar.adc.bits"),
    (["--vary", "crossbar.adc.bits=6"], ["--vary", "crossbar.adc.bits=6,8",
                                         "--vary", "crossbar.dac.bits=1"],
     "it varies crossbar.adc.bits but this sweep varies crossbar.adc.bits, crossbar.dac.bits"),
    ([], ["--arch", ISAAC], "line 2: arch 'tiny' (this sweep's arch is 'isaac_like')"),
    ([], ["--crossbars", "16:64:x2"],
     "line 5: point (workload=mlp_digits, dataflow=static, crossbars=128, batch=1, seed=0) "
     "is not part of this sweep"),
    ([], ["--seed", "1"], "is not part of this sweep"),
])
def test_resume_refuses_another_sweep(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      first: list[str], second: list[str], reason: str) -> None:
    out = tmp_path / "s.csv"
    assert run_cli(capsys, *sweep_args(out, "--jobs", "1", *first))[0] == 0
    before = out.read_bytes()
    code, _, err = run_cli(capsys, *sweep_args(out, "--jobs", "1", "--resume", *second))
    assert code == 2
    assert err == f"error: {out}: cannot resume: {reason}\n" or (
        err.startswith(f"error: {out}: cannot resume: ") and reason in err)
    assert out.read_bytes() == before


def test_resume_refuses_a_file_that_is_not_a_sweep(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    out.write_text("a,b\n1,2\n")
    code, _, err = run_cli(capsys, *sweep_args(out, "--resume"))
    assert code == 2 and "not those of an xbarsim sweep CSV" in err


def test_resume_refuses_a_malformed_middle_line(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    sweep(**SMALL, jobs=1, out=out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join([*lines[:2], "mlp_digits,tiny\n", *lines[2:]]))
    code, _, err = run_cli(capsys, *sweep_args(out, "--resume"))
    assert code == 2 and "line 3 has 2 fields" in err


# --- progress ------------------------------------------------------------------------------


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    sweep(**SMALL, jobs=1, progress=True)
    assert capsys.readouterr().err == ""  # captured stderr is not a TTY
    tty = FakeTty()
    monkeypatch.setattr("sys.stderr", tty)
    sweep(**SMALL, jobs=1, progress=True)
    assert "10/10" in tty.getvalue() and "failed=3" in tty.getvalue()
    quiet = FakeTty()
    monkeypatch.setattr("sys.stderr", quiet)
    sweep(**SMALL, jobs=1, progress=False)
    assert quiet.getvalue() == ""


def test_set_fixes_a_value_for_every_point_and_records_it(tmp_path):
    out = tmp_path / "s.csv"
    assert main(["sweep", "--arch", "arch_configs/tiny.yaml", "--workload",
                 "workloads/mlp_digits.yaml", "--dataflow", "reprogram", "--crossbars", "8",
                 "--set", "write_verify.fixed_pulses=6", "--jobs", "1", "--quiet",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["write_verify.fixed_pulses"] for r in rows] == ["6"]
    assert int(rows[0]["write_pulses"]) == 6 * int(rows[0]["cells_written"])


def test_progress_shows_points_elapsed_and_last_point_not_an_eta(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import xbarsim.sweep.run as sweep_run
    from xbarsim.sweep.backends import Outcome

    bar = sweep_run.tqdm
    monkeypatch.setattr(sweep_run, "tqdm", lambda *a, **k: bar(*a, **{**k, "disable": False}))
    items = [(0, Outcome({}, "", 0.5)), (1, Outcome(None, "boom", 2.0))]
    assert [i for i, _ in sweep_run._progress(iter(items), 2, True)] == [0, 1]
    err = capsys.readouterr().err
    assert "2/2 points" in err and "failed=1" in err and "last=2.0s" in err
    assert "it/s" not in err and "<" not in err  # no rate, no remaining-time estimate
