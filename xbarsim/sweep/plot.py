"""Figures from a sweep CSV: metrics against an axis, and the energy breakdown per inference.

Figures are drawn on an Agg canvas (no display, no pyplot state). Rows whose ``status`` is not
``ok`` are left out. ``save_figure`` writes PNG and SVG atomically.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from xbarsim.errors import XbarsimError, suggest
from xbarsim.io.atomic import atomic_write
from xbarsim.io.csv_file import read_csv_frame
from xbarsim.sweep.compare import top_parameters
from xbarsim.timing.energy import ENERGY_COLUMNS
from xbarsim.timing.simulate import SUMMARY_COLUMNS

log = logging.getLogger(__name__)

BREAKDOWN_COLUMNS = (*ENERGY_COLUMNS, "energy_static_j")
"""Energy components stacked in the breakdown chart (they sum to ``energy_j``)."""

LOG_SPAN = 100.0
"""An axis is logarithmic when its positive values span more than this ratio (2 decades)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
STYLES = ("-", "--", ":", "-.")
"""Each series gets its own marker and line style (and shrinking marker sizes), so series
that coincide still show."""

SIDES = {"x0.5": "tab:blue", "x2": "tab:orange"}
"""Tornado bar colours: the parameter halved, doubled."""

_UNITS = (("_js", "J·s"), ("_j", "J"), ("_s", "s"), ("_mm2", "mm²"), ("_bytes", "bytes"))


def load_sweep(path: str | Path) -> pd.DataFrame:
    """Read a sweep CSV; a missing file or one without a ``status`` column is a user error."""
    frame = read_csv_frame(path)
    if "status" not in frame.columns:
        raise XbarsimError("not a sweep CSV (no 'status' column)", file=str(path))
    return frame


def ok_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows with ``status == ok`` and how many others were skipped."""
    ok = frame[frame["status"] == "ok"]
    skipped = len(frame) - len(ok)
    if skipped:
        log.info("skipping %d rows with status != ok", skipped)
    return ok, skipped


def axis_label(column: str) -> str:
    """Readable axis label with its unit, e.g. ``edp_per_inference_js`` -> ``EDP per ... (J·s)``."""
    if "." in column:  # a varied config key: its unit is in the schema, not the name
        return column
    name, unit = column, "cycles" if "cycles" in column else "count"
    for suffix, symbol in _UNITS:
        if column.endswith(suffix):
            name, unit = column[: -len(suffix)], symbol
            break
    text = name.replace("_", " ").replace("edp", "EDP")
    return f"{text} ({unit})"


def plot_sweep(frame: pd.DataFrame, x: str = "crossbars",
               ys: Sequence[str] = ("cycles_per_inference", "edp_per_inference_js"),
               by: str | Sequence[str] = "dataflow") -> Figure:
    """One subplot per metric (rows) and workload (columns), one line per ``by`` value."""
    ok, _ = ok_rows(frame)
    by = [by] if isinstance(by, str) else list(by)
    ys = [ys] if isinstance(ys, str) else list(ys)
    _need(ok, [x], "--x")
    _need(ok, ys, "--y")
    _need(ok, by, "--by")
    workloads = _workloads(ok)
    fig = _figure(len(ys), len(workloads))
    axes = fig.subplots(len(ys), len(workloads), squeeze=False)
    for (r, y), (c, workload) in _grid(ys, workloads):
        rows = ok[ok["workload"] == workload]
        _check_unique(rows, [x, *by], workload)
        _lines(axes[r][c], rows, x, y, by)
        axes[r][c].set_title(workload)
    names = ", ".join(axis_label(y).split(" (")[0] for y in ys)
    fig.suptitle(f"{names} vs {axis_label(x).split(' (')[0]} on {_archs(ok)}")
    return fig


def _grid(ys: Sequence[str], workloads: Sequence[str]) -> list[tuple[tuple[int, str], ...]]:
    """(row, metric) and (column, workload) of every subplot."""
    return [(ry, cw) for ry in enumerate(ys) for cw in enumerate(workloads)]


def _lines(ax: Axes, rows: pd.DataFrame, x: str, y: str, by: Sequence[str]) -> None:
    """One line per ``by`` group (in CSV order), points sorted by ``x``, each with its own
    marker and line style (so identical series stay visible); log axes when wide."""
    for i, (key, group) in enumerate(rows.groupby(list(by), sort=False)):
        group = group.sort_values(x)
        ax.plot(group[x].to_numpy(float), group[y].to_numpy(float),
                marker=MARKERS[i % len(MARKERS)], linestyle=STYLES[i % len(STYLES)],
                markersize=7 - 1.5 * (i % 3), label=_label(by, key))
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    _scale(ax, rows[x], "x")
    _scale(ax, rows[y], "y")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title=", ".join(by), fontsize="small")


def plot_energy_breakdown(frame: pd.DataFrame, by: str | Sequence[str] = "dataflow",
                          x: str = "crossbars", at: Mapping[str, Any] | None = None) -> Figure:
    """Stacked bars of the energy components per inference, one bar per ``by`` value.

    Rows are those matching ``at`` (column -> value); by default the largest ``x`` value.
    """
    ok, _ = ok_rows(frame)
    by = [by] if isinstance(by, str) else list(by)
    _need(ok, by, "--by")
    _need(ok, [x, *BREAKDOWN_COLUMNS, "batch"], "--x")
    _workloads(ok)  # refuses an empty frame
    at = dict(at) if at else {x: ok[x].max()}
    chosen = _select(ok, at)
    workloads = _workloads(chosen)
    fig = _figure(1, len(workloads))
    where = ", ".join(f"{k}={_text(v)}" for k, v in at.items())
    for ax, workload in zip(fig.subplots(1, len(workloads), squeeze=False)[0], workloads):
        rows = chosen[chosen["workload"] == workload]
        _check_unique(rows, by, workload)
        _stack(ax, rows, by)
        ax.set_title(f"{workload} at {where}")
    handles, labels = fig.axes[-1].get_legend_handles_labels()
    fig.axes[-1].legend(handles[::-1], labels[::-1], title="component", loc="upper left",
                        bbox_to_anchor=(1.02, 1.0), fontsize="small")
    fig.suptitle(f"energy per inference by component on {_archs(chosen)}")
    return fig


def _stack(ax: Axes, rows: pd.DataFrame, by: Sequence[str]) -> None:
    """Stacked bars (one per ``by`` group, CSV order) of each component divided by the batch."""
    labels = [_label(by, tuple(r)) for r in rows[list(by)].itertuples(index=False)]
    bottom = np.zeros(len(rows))
    for column in BREAKDOWN_COLUMNS:
        heights = (rows[column] / rows["batch"]).to_numpy(float)
        ax.bar(labels, heights, bottom=bottom, label=column[len("energy_"):-len("_j")])
        bottom += heights
    ax.set_ylabel(axis_label("energy_per_inference_j"))
    ax.set_xlabel(", ".join(by))
    if sum(len(label) for label in labels) > 40:
        ax.tick_params(axis="x", labelrotation=30)


def _select(frame: pd.DataFrame, at: Mapping[str, Any]) -> pd.DataFrame:
    """Rows where every ``at`` column equals its value (numbers compared as numbers)."""
    _need(frame, list(at), "--at")
    mask = pd.Series(True, index=frame.index)
    for column, value in at.items():
        if pd.api.types.is_numeric_dtype(frame[column]):
            try:
                mask &= frame[column] == float(value)
            except (TypeError, ValueError):
                raise XbarsimError(f"'{value}' is not a number", key=f"--at {column}") from None
        else:
            mask &= frame[column].astype(str) == str(value)
    if not mask.any():
        column = next(iter(at))
        have = ", ".join(_text(v) for v in sorted(frame[column].unique()))
        raise XbarsimError(f"no ok rows with {column}={_text(at[column])} (have: {have})",
                           key="--at")
    return frame[mask]


def _need(frame: pd.DataFrame, columns: Sequence[str], flag: str) -> None:
    """Every column must exist; an unknown one gets the nearest suggestion."""
    for column in columns:
        if column not in frame.columns:
            raise XbarsimError(f"no column '{column}'{suggest(column, frame.columns)}", key=flag)


def _check_unique(rows: pd.DataFrame, columns: Sequence[str], workload: str) -> None:
    """Refuse to draw several rows at one position; name the columns that tell them apart."""
    dup = rows[rows.duplicated(list(columns), keep=False)]
    if dup.empty:
        return
    extra = [c for c in dup.columns if c not in SUMMARY_COLUMNS or c in ("arch", "batch", "seed")]
    differ = [c for c in extra if c not in columns and dup[c].nunique(dropna=False) > 1]
    hint = f"; they differ in {', '.join(differ)}: add it to --by" if differ else ""
    raise XbarsimError(f"{workload}: several rows share {', '.join(columns)}{hint}", key="plot")


def _scale(ax: Axes, values: pd.Series, axis: str) -> None:
    """Logarithmic when all values are positive and span more than two decades, or (x axis)
    form a geometric series (a ``8:512:x2`` sweep would crowd its small points on a linear
    axis)."""
    v = values.to_numpy(float)
    v = v[np.isfinite(v)]
    if not v.size or v.min() <= 0:
        return
    if v.max() / v.min() > LOG_SPAN or (axis == "x" and _geometric(v)):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _geometric(values: np.ndarray) -> bool:
    """At least three distinct values, each about the same multiple (>= 1.5) of the last."""
    v = np.unique(values)
    if v.size < 3:
        return False
    ratios = v[1:] / v[:-1]
    return bool(ratios.min() >= 1.5 and ratios.max() / ratios.min() < 1.01)


def _workloads(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        raise XbarsimError("no rows with status ok to plot", key="plot")
    return list(dict.fromkeys(frame["workload"].astype(str)))


def _archs(frame: pd.DataFrame) -> str:
    return ", ".join(dict.fromkeys(frame["arch"].astype(str)))


def _label(by: Sequence[str], key: Any) -> str:
    """Legend/bar label of a group: its values, comma-separated (the title names the columns)."""
    values = key if isinstance(key, tuple) else (key,)
    return ", ".join(_text(v) for v in values)


def _text(value: Any) -> str:
    """Numbers without a needless ``.0``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _figure(rows: int, cols: int) -> Figure:
    fig = Figure(figsize=(1.5 + 4.5 * cols, 0.8 + 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_stem(out: str | Path) -> Path:
    """``fig.png`` -> ``fig`` (the PNG and SVG are written from the stem)."""
    path = Path(out)
    return path.with_suffix("") if path.suffix.lower() in (".png", ".svg", ".pdf") else path


FORMATS = {"png": {"Software": None}, "svg": {"Date": None},
           "pdf": {"CreationDate": None, "ModDate": None, "Producer": None}}
"""Figure formats and the metadata left out so that the same plot gives the same bytes."""


def save_figure(fig: Figure, stem: str | Path, extra: str | None = None) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` (reproducible metadata), plus ``<stem>.pdf``
    when ``extra`` is ``"pdf"`` (the ``--out`` name asked for a PDF), each atomically."""
    stem = Path(stem)
    written = []
    formats = ["png", "svg", *([extra] if extra in FORMATS and extra not in ("png", "svg")
                               else [])]
    for fmt, meta in ((f, FORMATS[f]) for f in formats):
        def draw(tmp: Path, fmt: str = fmt, meta: dict[str, None] = meta) -> None:
            with matplotlib.rc_context({"svg.hashsalt": "xbarsim"}):
                fig.savefig(tmp, format=fmt, metadata=meta, dpi=120)
        written.append(atomic_write(stem.with_name(f"{stem.name}.{fmt}"), draw))
    return written


TORNADO_COLUMNS = ("basis_vs_reprogram_cycles", "basis_vs_reprogram_energy",
                   "basis_vs_digital_cycles", "basis_vs_digital_energy")
"""The ratios of ``sensitivity.csv`` drawn as tornado charts (2 x 2 panels)."""


def plot_tornado(sensitivity: Sequence[Mapping[str, Any]],
                 columns: Sequence[str] = TORNADO_COLUMNS, count: int = 12) -> Figure:
    """The sensitivity of ``compare`` as tornado charts, one per ratio column: for the
    ``count`` parameters that move it most, a bar from the base ratio to its value with the
    parameter halved and one to its value doubled, widest first."""
    rows = math.ceil(len(columns) / 2)
    fig = _figure(rows, min(2, len(columns)))
    axes = fig.subplots(rows, min(2, len(columns)), squeeze=False).ravel()
    for ax in axes[len(columns):]:
        ax.set_axis_off()
    for ax, column in zip(axes, columns):
        base = next((r[column] for r in sensitivity if r["parameter"] == "base"), None)
        ranked = top_parameters(sensitivity, column, count)
        if base is None or not ranked:
            ax.set_axis_off()
            continue
        y = np.arange(len(ranked))[::-1]
        for yi, (_, _, low, high) in zip(y, ranked):
            for value, color in ((low, SIDES["x0.5"]), (high, SIDES["x2"])):
                if value is not None:
                    ax.barh(yi, value - base, left=base, color=color, height=0.6)
        ax.axvline(base, color="black", linewidth=1)
        ax.set_yticks(y, [name for name, *_ in ranked], fontsize=8)
        versus, ratio = column.removeprefix("basis_vs_").split("_")
        ax.set_xlabel(f"basis / {versus}, {ratio} per inference")
        ax.set_title(f"basis / {versus} {ratio}: base {base:.3g}", fontsize=9)
        values = [v for _, _, low, high in ranked for v in (low, high, base) if v]
        if max(values) / min(values) > LOG_SPAN:
            ax.set_xscale("log")
        ax.legend(handles=[Patch(color=c, label=k) for k, c in SIDES.items()], fontsize=8,
                  loc="lower right")
    return fig
