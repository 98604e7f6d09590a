"""``sweep(...)``: run the cartesian product of points, log each finished row to a CSV, resume.

The CSV has the summary columns, one column per varied key, then ``status`` and ``error``. Its
header is written atomically; each finished row is appended as one fsynced line, so an interrupted
sweep leaves a valid file (at worst a torn last line, dropped on resume). At the end the rows are
rewritten in point order, so the same sweep gives the same bytes (except ``wall_s``).

One sweep writes a CSV at a time (an ``flock`` on ``.<name>.lock`` beside it, held throughout).
While the sweep is unfinished, ``<csv>.inputs.json`` beside it records the SHA-256 of its arch,
workload and basis files and its options; ``--resume`` refuses to go on when any of them changed.
SIGTERM and SIGHUP stop a sweep like Ctrl-C does (workers stopped, finished rows kept) and exit
with 128 + the signal.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd
from tqdm import tqdm

from xbarsim import __version__
from xbarsim.errors import XbarsimError, clip
from xbarsim.io.atomic import atomic_write_text
from xbarsim.io.csv_file import (
    CsvAppender,
    exclusive,
    format_value,
    frame_from_text,
    read_text,
    remove_file,
    unescape_text,
)
from xbarsim.sweep.accuracy import ACCURACY_COLUMNS, AccuracySpec
from xbarsim.sweep.backends import Outcome, open_backend
from xbarsim.sweep.points import (
    Point,
    build_points,
    key_columns,
    parse_crossbars,
    parse_dataflows,
    parse_vary,
)
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import SUMMARY_COLUMNS

log = logging.getLogger(__name__)

STATUS_COLUMNS = ("status", "error")
"""Last columns of a sweep CSV: ``ok``/``error`` and the error message."""

Row = list[str]
"""One CSV row as cell texts."""


def sweep(arch: str | Path, workloads: str | Path | Sequence[str | Path],
          dataflows: str | Dataflow | Sequence[str | Dataflow], crossbars: str | Iterable[int],
          vary: Mapping[str, Sequence[Any]] | Sequence[str] | None = None, batch: int = 1,
          seed: int = 0, jobs: int | None = None, scheduler: str | None = None,
          out: str | Path | None = None, resume: bool = False, progress: bool = False,
          dask_local: int | None = None, basis: str | Path | None = None,
          accuracy: AccuracySpec | None = None) -> pd.DataFrame:
    """Simulate every point and return one row per point (in point order) as a DataFrame.

    ``crossbars`` is a list or a spec like ``"8:1024:x2"``; ``vary`` maps config keys to values
    (or is a list of ``"key=v1,v2"``). ``basis`` is the basis file (one workload only; default:
    each workload's example basis). ``accuracy`` adds ``ACCURACY_COLUMNS`` to every point
    (``accuracy_spec``). The DataFrame's ``attrs["resumed"]`` counts skipped points.
    """
    vary_map = parse_vary(vary)
    if isinstance(workloads, (str, Path)):
        workloads = [workloads]
    points = build_points(arch, list(workloads), parse_dataflows(dataflows),
                          parse_crossbars(crossbars), vary_map, batch, seed, basis, accuracy)
    columns = sweep_columns(list(vary_map), accuracy is not None)
    if resume and out is None:
        raise XbarsimError("needs an output CSV to resume", key="--resume")
    inputs = sweep_inputs(points, vary_map) if out is not None else None
    with stopped_by_signals(out), exclusive(out) if out is not None else nullcontext():
        done: dict[int, Row] = {}
        if resume and out is not None and Path(out).exists():
            done = read_done(Path(out), columns, points)
            check_inputs(Path(out), inputs, len(done) < len(points))
        rows = run_points(points, done, columns, out=out, progress=progress,
                          backend_args=(jobs, scheduler, dask_local), inputs=inputs)
        text = csv_text([rows[i] for i in sorted(rows)], columns)
        if out is not None:
            atomic_write_text(out, text)
            remove_file(inputs_path(out))  # a finished sweep needs no record of its inputs
    frame = frame_from_text(text)
    frame.attrs["resumed"] = len(done)
    return frame


def sweep_columns(vary_keys: Sequence[str], accuracy: bool = False) -> tuple[str, ...]:
    """Column order of a sweep CSV: summary, varied keys, accuracy (``--accuracy``), status."""
    return (*SUMMARY_COLUMNS, *vary_keys, *(ACCURACY_COLUMNS if accuracy else ()),
            *STATUS_COLUMNS)


def vary_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The varied keys among a sweep CSV's columns (between the summary and the rest)."""
    inner = columns[len(SUMMARY_COLUMNS):-len(STATUS_COLUMNS)]
    return tuple(c for c in inner if c not in ACCURACY_COLUMNS)


def run_points(points: Sequence[Point], done: Mapping[int, Row], columns: Sequence[str], *,
               out: str | Path | None, progress: bool,
               backend_args: tuple[int | None, str | None, int | None],
               inputs: dict[str, Any] | None = None) -> dict[int, Row]:
    """Run the points not in ``done`` on the chosen backend; log rows to ``out`` as they finish
    (after writing ``inputs``, the sweep's identity, beside it)."""
    todo = [i for i in range(len(points)) if i not in done]
    rows = dict(done)
    vary_keys = vary_columns(columns)
    if done:
        log.info("resuming: %d of %d points already done", len(done), len(points))
    with open_backend(*backend_args) as backend:  # connects first: nothing written on failure
        if out and inputs is not None:
            atomic_write_text(inputs_path(out), json.dumps(inputs, indent=1) + "\n")
        sink = RowLog(Path(out), columns, [rows[i] for i in sorted(rows)]) if out else None
        try:
            finished = backend.run([points[i] for i in todo])
            for j, outcome in _progress(finished, len(todo), progress):
                rows[todo[j]] = row_cells(points[todo[j]], outcome, vary_keys, columns)
                if sink:
                    sink.append(rows[todo[j]])
        finally:
            if sink:
                sink.close()
    return rows


def _progress(items: Iterator[tuple[int, Outcome]], total: int,
              enabled: bool) -> Iterator[tuple[int, Outcome]]:
    """Pass items through, showing points done, time elapsed, failures and the last point's
    own time on stderr (only on a terminal). No rate or ETA: points of one sweep can differ
    in cost a thousandfold (8 or 16,128 crossbars), so an extrapolation would mislead."""
    bar = tqdm(total=total, desc="sweep", file=sys.stderr, disable=None if enabled else True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} points, "
                          "{elapsed} elapsed{postfix}", postfix={"failed": 0})
    failed = 0
    try:
        for item in items:
            failed += bool(item[1].error)
            bar.set_postfix(failed=failed, last=f"{item[1].wall_s:.1f}s", refresh=False)
            bar.update(1)
            yield item
    finally:
        bar.close()


def row_cells(point: Point, outcome: Outcome, vary_keys: Sequence[str],
              columns: Sequence[str]) -> Row:
    """The CSV cells of one finished point."""
    if outcome.summary is not None:
        values: dict[str, Any] = dict(outcome.summary)
    else:
        o = point.options
        values = dict.fromkeys(columns)
        values.update(workload=point.workload_name, arch=point.arch_name,
                      dataflow=o.dataflow.value, crossbars=point.crossbars, batch=o.batch,
                      seed=o.seed, wall_s=outcome.wall_s, version=__version__)
    values.update(zip(vary_keys, point.varied))
    values.update(status="error" if outcome.error else "ok", error=outcome.error)
    return [format_value(_plain(values[c])) for c in columns]


def _plain(value: Any) -> Any:
    """NumPy scalars as Python scalars (so floats print in repr form)."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def csv_text(rows: Iterable[Row], columns: Sequence[str]) -> str:
    """Header plus rows as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _line(row: Row) -> str:
    """One CSV line, newline included."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


class RowLog:
    """The sweep CSV while points run: header (plus resumed rows) first, then one line a point."""

    def __init__(self, path: Path, columns: Sequence[str], rows: Sequence[Row]) -> None:
        self.file = CsvAppender(path, csv_text(rows, columns))

    def append(self, row: Row) -> None:
        """Write one full line and force it to disk."""
        self.file.append(_line(row))

    def close(self) -> None:
        """Close the file (rows already on disk stay valid)."""
        self.file.close()


def read_done(path: Path, columns: Sequence[str], points: Sequence[Point]) -> dict[int, Row]:
    """Rows of an earlier run of this same sweep, by point index; refuse any other CSV."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise _refuse(path, f"cannot read it ({type(exc).__name__})") from None
    lines = text.split("\n")
    if lines.pop():
        log.warning("%s: dropped a torn final line (an interrupted write)", path)
    if not lines:
        raise _refuse(path, "the file is empty (not a sweep CSV)")
    header, *body = csv.reader(lines)
    if tuple(header) != tuple(columns):
        raise _refuse(path, _header_reason(header, columns))
    vary_keys = vary_columns(columns)
    index = {p.key: i for i, p in enumerate(points)}
    key_at = [columns.index(c) for c in key_columns(vary_keys)]
    done: dict[int, Row] = {}
    for n, cells in enumerate(body, start=2):
        if len(cells) != len(columns):
            raise _refuse(path, f"line {n} has {len(cells)} fields (expected {len(columns)})")
        key = tuple(unescape_text(cells[k]) for k in key_at)  # names as given, not as escaped
        i = index.get(key)
        if i is None:
            where = ", ".join(f"{c}={v}" for c, v in zip(key_columns(vary_keys), key))
            raise _refuse(path, f"line {n}: point ({where}) is not part of this sweep")
        if unescape_text(cells[columns.index("arch")]) != points[i].arch_name:
            raise _refuse(path, f"line {n}: arch '{cells[columns.index('arch')]}' "
                                f"(this sweep's arch is '{points[i].arch_name}')")
        if i in done:
            raise _refuse(path, f"line {n} repeats an earlier point")
        done[i] = cells
    return done


def _header_reason(header: Sequence[str], columns: Sequence[str]) -> str:
    """Why a CSV header does not match this sweep's."""
    n, s = len(SUMMARY_COLUMNS), len(STATUS_COLUMNS)
    if tuple(header[:n]) != SUMMARY_COLUMNS or tuple(header[-s:]) != STATUS_COLUMNS:
        return "its columns are not those of an xbarsim sweep CSV"
    has, wants = (any(c in ACCURACY_COLUMNS for c in cols) for cols in (header, columns))
    if has != wants:
        return (f"it has {'' if has else 'no '}accuracy columns but this sweep "
                f"{'measures' if wants else 'does not measure'} accuracy")
    theirs, ours = vary_columns(header), vary_columns(columns)
    return (f"it varies {', '.join(theirs) or 'no keys'} but this sweep varies "
            f"{', '.join(ours) or 'no keys'}")


def _refuse(path: Path, reason: str) -> XbarsimError:
    return XbarsimError(f"cannot resume: {reason}", file=str(path))


# --- the sweep's identity: what a resume must not change --------------------------------------


INPUTS_FORMAT = "xbarsim-sweep-inputs/1"
"""``format`` of the inputs record beside an unfinished sweep CSV."""


def inputs_path(out: str | Path) -> Path:
    """Where the inputs record of the CSV ``out`` is kept while the sweep is unfinished."""
    return Path(f"{out}.inputs.json")


def sweep_inputs(points: Sequence[Point], vary: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Content hashes of the sweep's files (taken when its points were built) and its options:
    what ``--resume`` checks."""
    first_point = points[0]
    first = first_point.options
    options = {"batch": first.batch, "seed": first.seed,
               "vary": {k: list(v) for k, v in vary.items()},
               "dataflows": _unique(p.options.dataflow.value for p in points),
               "crossbars": _unique(p.crossbars for p in points),
               "accuracy": None if first_point.accuracy is None
               else dataclasses.asdict(first_point.accuracy)}
    return {"format": INPUTS_FORMAT,
            "arch": {"file": first_point.arch, "sha256": first_point.sha256[0]},
            "workloads": _hashed({p.workload: p.sha256[1] for p in points}),
            "bases": _hashed({p.basis: p.sha256[2] for p in points if p.basis is not None}),
            "options": options,
            "options_sha256": hashlib.sha256(
                json.dumps(options, sort_keys=True).encode("utf-8")).hexdigest()}


def _unique(items: Iterable[Any]) -> list[Any]:
    """Items in first-seen order, without repeats."""
    return list(dict.fromkeys(items))


def _hashed(files: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Each file's path and the SHA-256 of its bytes, in first-seen order."""
    return [{"file": f, "sha256": sha} for f, sha in files.items()]


def check_inputs(out: Path, inputs: Mapping[str, Any] | None, points_left: bool) -> None:
    """Refuse to resume when a file or an option differs from the started sweep's record; with
    no record (an older xbarsim's CSV, or a finished one), warn if points are left to run."""
    record = inputs_path(out)
    if inputs is None:
        return
    if not record.exists():
        if points_left:
            log.warning("%s: no record of the inputs the sweep started with (%s): resuming "
                        "without checking that they are unchanged", out, record.name)
        return
    try:
        started = json.loads(read_text(record))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _refuse(out, f"{record.name} is unreadable ({type(exc).__name__}; delete it to "
                           "resume without checking the inputs)") from None
    if not isinstance(started, dict) or started.get("format") != INPUTS_FORMAT:
        raise _refuse(out, f"{record.name} is not an xbarsim sweep inputs record (delete it to "
                           "resume without checking the inputs)")
    reason = _changed(started, inputs)
    if reason:
        raise _refuse(out, reason)


FILE_ROLES = (("arch", "arch"), ("workloads", "workload"), ("bases", "basis"))
"""Keys of the inputs record that list files, and what each file is called in messages."""


def _changed(started: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """What differs between the started sweep's inputs and this one's ("" when nothing does)."""
    reason = _changed_option(started.get("options"), now["options"])
    for key, role in FILE_ROLES:
        reason = reason or _changed_file(role, _listed(started.get(key)), _listed(now[key]))
    if not reason and started.get("options_sha256") != now["options_sha256"]:
        reason = "the sweep options changed since it started"
    return reason


def _changed_option(was: Any, now: Mapping[str, Any]) -> str:
    """The first option whose value differs from the record's, as a phrase."""
    was = was if isinstance(was, dict) else {}
    for name, value in now.items():
        if was.get(name) != value:
            return (f"the sweep's {name} changed since it started ({clip(_text(value))}, was "
                    f"{clip(_text(was.get(name)))})")
    return ""


def _changed_file(role: str, was: list[Any], now: list[dict[str, str]]) -> str:
    """The first file whose bytes differ from the record's (or other files), as a phrase."""
    old = [w.get("sha256") if isinstance(w, dict) else None for w in was]
    new = [n["sha256"] for n in now]
    if len(old) != len(new):
        return f"the {role} files changed since the sweep started ({len(new)}, was {len(old)})"
    if old != new and sorted(map(str, old)) == sorted(new):
        return f"the {role} files are in another order than when the sweep started"
    for file, sha, was_sha in zip(now, new, old):
        if sha != was_sha:
            return (f"the {role} file {file['file']} changed since the sweep started "
                    f"(sha256 {sha[:12]}, was {str(was_sha)[:12]})")
    return ""


def _listed(value: Any) -> list[Any]:
    """A record entry as a list (the arch is one file, not a list)."""
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """An option's value for a message: lists comma-separated, mappings as key=values."""
    if isinstance(value, dict):
        return "; ".join(f"{k}={_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


# --- stopping on SIGTERM and SIGHUP like on Ctrl-C ------------------------------------------


class SweepStopped(SystemExit):
    """SIGTERM or SIGHUP during a sweep: workers stopped, finished rows kept; exits 128+signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
"""Signals that stop a sweep cleanly (Ctrl-C, SIGINT, already does as ``KeyboardInterrupt``)."""


@contextmanager
def stopped_by_signals(out: str | Path | None) -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``SweepStopped`` while the block runs (main thread only; a
    signal the process ignores, e.g. SIGHUP under ``nohup``, stays ignored). A second signal
    during the clean-up is ignored: the clean-up is what it asked for."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(signum)
            raise SweepStopped(signum)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, stop)
    try:
        yield
    except SweepStopped as err:
        saved = f"finished rows are in {out} (rerun with --resume)" if out else "no rows kept"
        log.warning("stopped by %s: %s", signal.Signals(err.signum).name, saved)
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
