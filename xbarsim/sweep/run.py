"""``sweep(...)``: run the cartesian product of points, log each finished row to a CSV, resume.

The CSV has the summary columns, one column per varied key, then ``status`` and ``error``. Its
header is written atomically; each finished row is appended as one fsynced line, so an interrupted
sweep leaves a valid file (at worst a torn last line, dropped on resume). At the end the rows are
rewritten in point order, so the same sweep gives the same bytes (except ``wall_s``).
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from xbarsim import __version__
from xbarsim.errors import XbarsimError
from xbarsim.io.atomic import atomic_write_text
from xbarsim.io.csv_file import CsvAppender, format_value, frame_from_text, read_text
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
          dask_local: int | None = None, basis: str | Path | None = None) -> pd.DataFrame:
    """Simulate every point and return one row per point (in point order) as a DataFrame.

    ``crossbars`` is a list or a spec like ``"8:1024:x2"``; ``vary`` maps config keys to values
    (or is a list of ``"key=v1,v2"``). ``basis`` is the basis file (one workload only; default:
    each workload's example basis). The DataFrame's ``attrs["resumed"]`` counts skipped points.
    """
    vary_map = parse_vary(vary)
    if isinstance(workloads, (str, Path)):
        workloads = [workloads]
    points = build_points(arch, list(workloads), parse_dataflows(dataflows),
                          parse_crossbars(crossbars), vary_map, batch, seed, basis)
    columns = sweep_columns(list(vary_map))
    done: dict[int, Row] = {}
    if resume:
        if out is None:
            raise XbarsimError("needs an output CSV to resume", key="--resume")
        if Path(out).exists():
            done = read_done(Path(out), columns, points)
    rows = run_points(points, done, columns, out=out, progress=progress,
                      backend_args=(jobs, scheduler, dask_local))
    text = csv_text([rows[i] for i in sorted(rows)], columns)
    if out is not None:
        atomic_write_text(out, text)
    frame = frame_from_text(text)
    frame.attrs["resumed"] = len(done)
    return frame


def sweep_columns(vary_keys: Sequence[str]) -> tuple[str, ...]:
    """Column order of a sweep CSV."""
    return (*SUMMARY_COLUMNS, *vary_keys, *STATUS_COLUMNS)


def run_points(points: Sequence[Point], done: Mapping[int, Row], columns: Sequence[str], *,
               out: str | Path | None, progress: bool,
               backend_args: tuple[int | None, str | None, int | None]) -> dict[int, Row]:
    """Run the points not in ``done`` on the chosen backend; log rows to ``out`` as they finish."""
    todo = [i for i in range(len(points)) if i not in done]
    rows = dict(done)
    vary_keys = columns[len(SUMMARY_COLUMNS):-len(STATUS_COLUMNS)]
    if done:
        log.info("resuming: %d of %d points already done", len(done), len(points))
    with open_backend(*backend_args) as backend:  # connects first: nothing written on failure
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
    """Pass items through, showing done, failed and ETA on stderr (only on a terminal)."""
    bar = tqdm(total=total, desc="sweep", unit="pt", file=sys.stderr,
               disable=None if enabled else True, postfix={"failed": 0})
    failed = 0
    try:
        for item in items:
            failed += bool(item[1].error)
            bar.set_postfix(failed=failed, refresh=False)
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
        values = dict.fromkeys(SUMMARY_COLUMNS)
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
    vary_keys = columns[len(SUMMARY_COLUMNS):-len(STATUS_COLUMNS)]
    index = {p.key: i for i, p in enumerate(points)}
    key_at = [columns.index(c) for c in key_columns(vary_keys)]
    done: dict[int, Row] = {}
    for n, cells in enumerate(body, start=2):
        if len(cells) != len(columns):
            raise _refuse(path, f"line {n} has {len(cells)} fields (expected {len(columns)})")
        key = tuple(cells[k] for k in key_at)
        i = index.get(key)
        if i is None:
            where = ", ".join(f"{c}={v}" for c, v in zip(key_columns(vary_keys), key))
            raise _refuse(path, f"line {n}: point ({where}) is not part of this sweep")
        if cells[columns.index("arch")] != points[i].arch_name:
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
    theirs, ours = header[n:-s], columns[n:-s]
    return (f"it varies {', '.join(theirs) or 'no keys'} but this sweep varies "
            f"{', '.join(ours) or 'no keys'}")


def _refuse(path: Path, reason: str) -> XbarsimError:
    return XbarsimError(f"cannot resume: {reason}", file=str(path))
