"""Sweeps against hostile and careless input: one writer per CSV, the identity ``--resume``
checks, points that are duplicates after normalization, workers that die, SIGTERM and SIGHUP,
and Dask schedulers that do not answer.

Some tests run a sweep in a child process whose points sleep (``slow_main``): the points are
found by pickled reference, so this module must be importable there (``tests/`` on the path).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import xbarsim.sweep.backends as backends
from tests.test_sweep import interrupted, run_cli, without_wall
from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.sweep.run import sweep

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
MLP_BASIS = str(ROOT / "workloads" / "mlp_digits.basis.npz")
SMALL: dict[str, Any] = {"arch": TINY, "workloads": MLP, "dataflows": "static,reprogram",
                         "crossbars": "16:256:x2"}
"""10 points; static fails (does not fit) at 16, 32 and 64 crossbars."""

REAL_RUN_POINT = backends.run_point
SLOW_S = 2.0
"""How long each point of ``slow_main`` sleeps: the child is still busy long after its first row."""
LONG_S = 60
"""Generous bound for anything a child process must do (never reached when things work)."""


def kill_at_32(point: backends.Point) -> backends.Outcome:
    """``run_point`` whose worker dies by SIGKILL on the (reprogram, 32 crossbars) point."""
    if point.crossbars == 32 and point.options.dataflow.value == "reprogram":
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_RUN_POINT(point)


def slow_point(point: backends.Point) -> backends.Outcome:
    """``run_point`` that sleeps first."""
    time.sleep(SLOW_S)
    return REAL_RUN_POINT(point)


def slow_main(argv: list[str]) -> int:
    """The CLI with slow points (the child process of the signal and lock tests)."""
    backends.run_point = slow_point
    return main(argv)


def sweep_args(out: Path, *extra: str) -> list[str]:
    return ["sweep", "--arch", TINY, "--workload", MLP, "--dataflow", "static,reprogram",
            "--crossbars", "16:256:x2", "--quiet", "--out", str(out), *extra]


def data_rows(path: Path) -> list[list[str]]:
    """The CSV's rows after the header; every line must be complete and have every column."""
    text = path.read_text()
    assert text.endswith("\n")
    header, *rows = csv.reader(io.StringIO(text))
    assert all(len(r) == len(header) for r in rows)
    return rows


# --- child processes -----------------------------------------------------------------------


def process_table() -> dict[int, tuple[int, str, bool]]:
    """pid -> (parent pid, start time, zombie) of every process: psutil if installed, else /proc."""
    try:
        import psutil
    except ImportError:
        return _proc_table()
    table = {}
    for p in psutil.process_iter(["ppid", "create_time", "status"]):
        table[p.pid] = (p.info["ppid"], str(p.info["create_time"]),
                        p.info["status"] == psutil.STATUS_ZOMBIE)
    return table


def _proc_table() -> dict[int, tuple[int, str, bool]]:
    table = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            fields = stat[stat.rindex(")") + 2:].split()
            table[int(entry.name)] = (int(fields[1]), fields[19], fields[0] == "Z")
    return table


def descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every process below ``pid``."""
    table = process_table()
    found: set[tuple[int, str]] = set()
    parents = {pid}
    while parents:
        parents = {p for p, (ppid, start, _) in table.items()
                   if ppid in parents and (p, start) not in found}
        found |= {(p, table[p][1]) for p in parents}
    return found


def survivors(members: set[tuple[int, str]], timeout: float = LONG_S) -> set[tuple[int, str]]:
    """The members still running (same pid and start time, not a zombie) after up to
    ``timeout`` seconds of waiting for them to go."""
    deadline = time.monotonic() + timeout
    while True:
        table = process_table()
        alive = {(p, s) for p, s in members if p in table and table[p][1] == s
                 and not table[p][2]}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@contextmanager
def slow_sweep(out: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """A sweep with slow points (``--jobs 2``) running in a child process; yields once its first
    row is in ``out``. Anything still running at the end is killed (by pid)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TESTS), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    code = "import sys, test_sweep_hardening as t; sys.exit(t.slow_main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *sweep_args(out, "--jobs", "2", *extra)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    family: set[tuple[int, str]] = set()
    try:
        deadline = time.monotonic() + LONG_S
        while not (out.exists() and out.read_text().count("\n") >= 2):
            assert proc.poll() is None, f"the sweep ended early: {proc.communicate()}"
            assert time.monotonic() < deadline, "no row within the time limit"
            time.sleep(0.05)
        family = descendants(proc.pid)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=LONG_S)
        for pid, _ in survivors(family, timeout=0):  # only if the test failed
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=LONG_S)


# --- 1. one writer per CSV ----------------------------------------------------------------


def test_a_second_sweep_on_the_same_csv_is_refused(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    with slow_sweep(out) as first:
        for extra in (["--force"], ["--resume"]):
            code, _, err = run_cli(capsys, *sweep_args(out, "--jobs", "1", *extra))
            assert code == 2
            assert err == f"error: {out}: is being written by another sweep (pid {first.pid})\n"
        # without either, the existing CSV alone is reason enough
        code, _, err = run_cli(capsys, *sweep_args(out, "--jobs", "1"))
        assert code == 2 and err.endswith("exists (use --resume to continue it or --force to "
                                          "overwrite it)\n")
        assert first.poll() is None and len(data_rows(out)) < 10  # untouched, still running


def test_the_lock_file_goes_away_and_a_stale_one_is_harmless(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    (tmp_path / ".s.csv.lock").write_text("12345\n")  # left by a sweep that was killed
    sweep(**SMALL, jobs=1, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


FAKE_MSVCRT = """
import errno, fcntl, os
LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2
calls = []
def locking(fd, mode, nbytes):
    # Windows' byte-range lock from the current position, as a POSIX record lock
    start = os.lseek(fd, 0, os.SEEK_CUR)
    calls.append((mode, start, nbytes))
    if mode == LK_UNLCK:
        fcntl.lockf(fd, fcntl.LOCK_UN, nbytes, start, 0)
        return
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, nbytes, start, 0)
    except OSError:
        raise PermissionError(errno.EACCES, "Permission denied") from None
"""
"""``msvcrt.locking`` on POSIX record locks: the Windows branch of ``exclusive`` runs here."""

HOLD_LOCK = """
import sys, types
import xbarsim.io.csv_file as f
fake = types.ModuleType("msvcrt")
exec(sys.argv[2], fake.__dict__)
sys.modules["msvcrt"] = fake  # after the imports: subprocess takes msvcrt to mean Windows
f.WINDOWS = True
with f.exclusive(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""
"""A child that holds the Windows lock of ``argv[1]`` until a line arrives on stdin."""


@pytest.mark.skipif(sys.platform == "win32", reason="emulates Windows on POSIX")
def test_the_windows_lock_refuses_a_second_writer(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import xbarsim.io.csv_file as csv_file

    fake = types.ModuleType("msvcrt")
    exec(FAKE_MSVCRT, fake.__dict__)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(csv_file, "WINDOWS", True)
    out = tmp_path / "s.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out), FAKE_MSVCRT], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(XbarsimError) as info, csv_file.exclusive(out):
            pass
        assert str(info.value) == f"{out}: is being written by another sweep (pid {holder.pid})"
    finally:
        holder.communicate("\n", timeout=LONG_S)
    assert holder.returncode == 0
    with csv_file.exclusive(out):  # released by the holder: ours now, with our pid in it
        assert (tmp_path / ".s.csv.lock").read_bytes()[1:] == f"{os.getpid()}\n".encode()
    assert not (tmp_path / ".s.csv.lock").exists()
    # refused once, then locked and unlocked, always byte 0
    assert fake.calls == [(2, 0, 1), (2, 0, 1), (0, 0, 1)]


# --- 2. what --resume checks --------------------------------------------------------------


def _stored_copy(src: str, dst: Path) -> None:
    """The same archive members, stored uncompressed: other bytes, same content."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename))


@pytest.mark.parametrize(("change", "reason"), [
    ("arch", "the arch file {arch} changed since the sweep started (sha256 "),
    ("workload", "the workload file {workload} changed since the sweep started (sha256 "),
    ("basis", "the basis file {basis} changed since the sweep started (sha256 "),
    ("crossbars", "the sweep's crossbars changed since it started (16,32,64,128, was 16,32,64)"),
    ("nothing", ""),
])
def test_resume_refuses_changed_inputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       change: str, reason: str) -> None:
    files = {"arch": tmp_path / "a.yaml", "workload": tmp_path / "w.yaml",
             "basis": tmp_path / "b.npz"}
    shutil.copy(TINY, files["arch"])
    shutil.copy(MLP, files["workload"])
    shutil.copy(MLP_BASIS, files["basis"])
    out = tmp_path / "s.csv"
    kwargs: dict[str, Any] = {"arch": files["arch"], "workloads": files["workload"],
                              "dataflows": "reprogram,basis", "crossbars": "16:64:x2",
                              "basis": files["basis"], "jobs": 1, "out": out}
    interrupted(monkeypatch, 2, **kwargs)
    record = json.loads((tmp_path / "s.csv.inputs.json").read_text())
    assert record["arch"]["file"] == str(files["arch"].resolve())
    if change in ("arch", "workload"):
        files[change].write_text(files[change].read_text() + "\n# edited\n")
    elif change == "basis":
        _stored_copy(MLP_BASIS, files["basis"])
    elif change == "crossbars":
        kwargs["crossbars"] = "16:128:x2"
    before = out.read_bytes()
    if not reason:
        assert len(sweep(**kwargs, resume=True)) == 6
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.npz", "s.csv", "w.yaml"]
        return
    with pytest.raises(XbarsimError, match="cannot resume") as err:
        sweep(**kwargs, resume=True)
    message = str(err.value)
    assert message.startswith(f"{out}: cannot resume: ") and "\n" not in message
    assert reason.format(**{k: v.resolve() for k, v in files.items()}) in message
    assert out.read_bytes() == before


def test_resume_without_an_inputs_record_warns(monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture,
                                               tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    interrupted(monkeypatch, 2, **SMALL, jobs=1, out=out)
    (tmp_path / "s.csv.inputs.json").unlink()  # as an older xbarsim left it
    assert len(sweep(**SMALL, jobs=1, out=out, resume=True)) == 10
    assert "no record of the inputs the sweep started with" in caplog.text


def test_a_file_edited_while_the_sweep_runs_fails_the_points_that_read_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The arch file is edited once the first point has finished (one process): the points of
    the first ``--vary`` value reuse what was loaded before the edit and succeed, with the
    clean run's numbers; the other value's points load the edited file and fail naming it."""
    arch = tmp_path / "a.yaml"
    shutil.copy(TINY, arch)
    kwargs: dict[str, Any] = {"arch": arch, "workloads": MLP, "dataflows": "reprogram",
                              "crossbars": "16:64:x2", "vary": ["crossbar.adc.bits=6,8"],
                              "jobs": 1}
    clean = sweep(**kwargs)
    calls = []

    def point_then_edit(point: Any) -> Any:
        outcome = REAL_RUN_POINT(point)
        calls.append(point)
        if len(calls) == 1:
            arch.write_text(arch.read_text() + "\n# edited\n")
        return outcome

    monkeypatch.setattr(backends, "run_point", point_then_edit)
    backends.checked_inputs.cache_clear()
    frame = sweep(**kwargs, out=tmp_path / "s.csv")
    assert frame.status.tolist() == ["ok"] * 3 + ["error"] * 3
    assert frame.cycles[:3].tolist() == clean.cycles[:3].tolist()
    assert all(e.startswith(f"{arch.resolve()}: changed while the sweep ran (sha256 ")
               and e.endswith("restore it, or start the sweep again") for e in frame.error[3:])


def test_workers_check_the_files_they_load(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """Worker processes load the files themselves: edited after the points were set up, the
    workload fails every point, whichever worker runs it."""
    from xbarsim.sweep import run as sweep_run

    workload = tmp_path / "w.yaml"
    shutil.copy(MLP, workload)
    real_build = sweep_run.build_points

    def build_then_edit(*args: Any) -> Any:
        points = real_build(*args)
        workload.write_text(workload.read_text() + "\n# edited\n")
        return points

    monkeypatch.setattr(sweep_run, "build_points", build_then_edit)
    frame = sweep(arch=TINY, workloads=workload, dataflows="reprogram", crossbars="16,32",
                  jobs=2, out=tmp_path / "s.csv")
    assert frame.status.tolist() == ["error", "error"]
    assert all(e.startswith(f"{workload.resolve()}: changed while the sweep ran")
               for e in frame.error)


# --- 3. duplicate points after normalization ----------------------------------------------


@pytest.mark.parametrize(("flag", "value", "needle"), [
    ("--vary", "crossbar.adc.bits=6,06",
     "--vary: crossbar.adc.bits: values 6 and 06 are both 6 (each point must be unique)"),
    ("--vary", "crossbar.read_ns=10,10.0", "values 10 and 10.0 are both 10.0"),
    ("--set", "crossbar.read_ns=1e1", ""),  # one value: nothing to collide with
    ("--crossbars", "016,16", "--crossbars: crossbar count 16 given twice"),
])
def test_duplicate_points_after_normalization(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, flag: str, value: str,
                                              needle: str) -> None:
    out = tmp_path / "s.csv"
    args = sweep_args(out, "--jobs", "1")
    if flag == "--crossbars":
        args[args.index("16:256:x2")] = value
    else:
        args += [flag, value]
    code, _, err = run_cli(capsys, *args)
    if not needle:
        assert code == 0
        return
    assert code == 2 and err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert not out.exists()


# --- 4. a point that kills its worker -----------------------------------------------------


def test_a_dead_worker_is_its_points_error_row(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    reference, out = tmp_path / "ref.csv", tmp_path / "s.csv"
    sweep(**SMALL, jobs=1, out=reference)
    monkeypatch.setattr(backends, "run_point", kill_at_32)
    frame = sweep(**SMALL, jobs=2, out=out)
    failed = frame[frame.error.str.startswith("worker", na=False)]
    assert list(zip(failed.dataflow, failed.crossbars)) == [("reprogram", 32)]
    assert failed.error.iloc[0] == "worker process died (signal 9, SIGKILL)"
    rows, expected = without_wall(out), without_wall(reference)
    flow, count = rows[0].index("dataflow"), rows[0].index("crossbars")
    at = next(i for i, r in enumerate(rows) if (r[flow], r[count]) == ("reprogram", "32"))
    assert rows[:at] + rows[at + 1:] == expected[:at] + expected[at + 1:]  # the others all ran
    ran: list[object] = []
    monkeypatch.setattr(backends, "run_point", ran.append)
    again = sweep(**SMALL, jobs=1, out=out, resume=True)  # the error row counts as done
    assert ran == [] and again.attrs["resumed"] == 10


# --- 5. SIGTERM, SIGHUP and a parent killed outright ---------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_sweep_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    out, reference = tmp_path / "s.csv", tmp_path / "ref.csv"
    with slow_sweep(out) as proc:
        family = descendants(proc.pid)
        assert len(family) >= 2  # the workers (and the forkserver)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=LONG_S)
        assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert f"stopped by {name}: finished rows are in {out} (rerun with --resume)" in err
    assert "Traceback" not in err
    assert 1 <= len(data_rows(out)) < 10
    assert survivors(family) == set()
    assert not (tmp_path / ".s.csv.lock").exists()
    sweep(**SMALL, jobs=1, out=reference)
    assert len(sweep(**SMALL, jobs=1, out=out, resume=True)) == 10
    assert without_wall(out) == without_wall(reference)


def test_workers_exit_when_the_sweep_is_killed(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    with slow_sweep(out) as proc:
        family = descendants(proc.pid)
        proc.kill()
        proc.communicate(timeout=LONG_S)
    assert survivors(family) == set()
    assert len(sweep(**SMALL, jobs=1, out=out, resume=True)) == 10  # the stale lock is harmless


# --- 6. Dask schedulers that do not answer ------------------------------------------------


@contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:  # timeout: check the stop flag again
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=LONG_S)
        for conn in held:
            conn.close()
        server.close()


def test_a_silent_scheduler_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    out = tmp_path / "s.csv"
    with silent_listener() as port:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "xbarsim", *sweep_args(
            out, "--scheduler", f"tcp://127.0.0.1:{port}")], capture_output=True, text=True,
            timeout=LONG_S, cwd=ROOT)
        took = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"error: --scheduler: cannot reach the Dask scheduler at "
                           f"tcp://127.0.0.1:{port} (no Dask handshake within "
                           f"{backends.HANDSHAKE_TIMEOUT_S} s: is a Dask scheduler listening "
                           "there?)\n")
    assert took < LONG_S / 2
    assert not out.exists()


@pytest.mark.parametrize("address", ["tls://127.0.0.1:8786", "ucx://127.0.0.1:8786",
                                     "http://127.0.0.1:8787", "inproc://127.0.0.1/1/2"])
def test_unsupported_scheduler_schemes(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       address: str) -> None:
    pytest.importorskip("dask.distributed")
    out = tmp_path / "s.csv"
    code, _, err = run_cli(capsys, *sweep_args(out, "--scheduler", address))
    scheme = address.split("://")[0]
    assert code == 2
    assert err == (f"error: --scheduler: '{address}': the {scheme}:// scheme is not supported "
                   "(expected tcp://HOST:PORT)\n")
    assert not out.exists()


def test_resume_finds_points_whose_names_were_escaped(tmp_path: Path) -> None:
    # a workload named "-net" is written as "'-net" (no spreadsheet formula); resume reads it back
    work = tmp_path / "net.yaml"
    work.write_text(Path("workloads/mlp_digits.yaml").read_text().replace(
        "name: mlp_digits", "name: -net", 1))
    out = tmp_path / "s.csv"
    first = sweep("arch_configs/tiny.yaml", [work], "reprogram", "8,16", jobs=1, out=out,
                  progress=False)
    assert "'-net" in out.read_text() and list(first.status) == ["ok", "ok"]
    again = sweep("arch_configs/tiny.yaml", [work], "reprogram", "8,16", jobs=1, out=out,
                  progress=False, resume=True)
    assert again.attrs["resumed"] == 2
