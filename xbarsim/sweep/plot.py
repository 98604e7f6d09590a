"""Figures from a sweep CSV (metrics against an axis, the energy breakdown per inference) and
from a run's layers.csv (latency and energy per layer).

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
from matplotlib.ticker import EngFormatter, NullLocator

from xbarsim.errors import XbarsimError, suggest
from xbarsim.io.atomic import atomic_write
from xbarsim.io.csv_file import read_csv_frame
from xbarsim.sweep.compare import top_parameters
from xbarsim.sweep.run import vary_columns
from xbarsim.timing.energy import ENERGY_COLUMNS
from xbarsim.timing.simulate import SUMMARY_COLUMNS

log = logging.getLogger(__name__)

BREAKDOWN_COLUMNS = (*ENERGY_COLUMNS, "energy_static_j")
"""Energy components stacked in the breakdown chart (they sum to ``energy_j``)."""

COMPONENT_COLOURS = {
    "xbar": "#4c72b0", "dac": "#8fb8de", "adc": "#55a868", "write": "#c44e52",
    "buffer": "#8172b3", "noc": "#937860", "dram": "#dd8452", "digital": "#ccb974",
    "static": "#b0b0b0"}
"""One colour per energy component, the same in every bar and figure."""

SHARE_LABEL = 8.0
"""A component's share (%) is written inside its segment when it is at least this large."""

LAYER_COLUMNS_DRAWN = ("layer", "type", "end_cycle", "cycles", "energy_j")
"""The columns that make a CSV a layers.csv for ``plot`` (``xbarsim run --out``)."""

SWEEP_TICKS = 8
"""Up to this many distinct x values, each is a tick (labelled as in the CSV)."""

TOP_LAYERS = 5
"""The slowest (most energy-hungry) layers whose share is written beside their bar."""

LOG_SPAN = 100.0
"""An axis is logarithmic when its positive values span more than this ratio (2 decades)."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
STYLES = ("-", "--", ":", "-.")
"""Marker and line style of a series: one per value of the swept columns outside ``--by``
(per ``--by`` value when there are none); with shrinking marker sizes, coinciding series
still show."""

SIDES = {"x0.5": "tab:blue", "x2": "tab:orange"}
"""Tornado bar colours: the parameter halved, doubled."""

_UNITS = (("_js", "J·s"), ("_j", "J"), ("_s", "s"), ("_mm2", "mm²"), ("_bytes", "bytes"),
          ("_db_mean", "dB, mean over layers"))


def load_sweep(path: str | Path) -> pd.DataFrame:
    """Read a sweep CSV; a missing file or one without a ``status`` column is a user error."""
    frame = read_csv_frame(path)
    if "status" not in frame.columns:
        raise XbarsimError("not a sweep CSV (no 'status' column)", file=str(path))
    return frame


def load_plottable(path: str | Path) -> pd.DataFrame:
    """Read a sweep CSV or a layers.csv (``is_layers`` tells which); anything else is an error."""
    frame = read_csv_frame(path)
    if "status" not in frame.columns and not is_layers(frame):
        raise XbarsimError("neither a sweep CSV (no 'status' column) nor a layers.csv (no "
                           "'layer', 'cycles' and 'energy_j' columns)", file=str(path))
    return frame


def is_layers(frame: pd.DataFrame) -> bool:
    """Whether a CSV is a layers.csv, told by its columns."""
    return set(LAYER_COLUMNS_DRAWN) <= set(frame.columns)


def run_beside(layers_path: str | Path) -> dict[str, Any] | None:
    """The summary row of the run that wrote a layers.csv (its ``summary.csv``), if there."""
    path = Path(layers_path).with_name("summary.csv")
    if not path.is_file():
        return None
    frame = read_csv_frame(path)
    return frame.iloc[0].to_dict() if len(frame) == 1 else None


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
    if column.startswith("accuracy_"):
        return f"{column.replace('_', ' ')} (fraction)"
    for suffix, symbol in _UNITS:
        if column.endswith(suffix):
            name, unit = column[: -len(suffix)], symbol
            break
    text = name.replace("_", " ").replace("edp", "EDP")
    return f"{text} ({unit})"


def plot_sweep(frame: pd.DataFrame, x: str = "crossbars",
               ys: Sequence[str] = ("cycles_per_inference", "edp_per_inference_js"),
               by: str | Sequence[str] = "dataflow") -> Figure:
    """One subplot per metric (rows) and workload (columns), one line per ``by`` value and
    value of every other swept column (varied keys, crossbars when not on x): colour by
    ``by``, marker and line style by the other values, one legend for all."""
    ok, _ = ok_rows(frame)
    by = [by] if isinstance(by, str) else list(by)
    ys = [ys] if isinstance(ys, str) else list(ys)
    _need(ok, [x], "--x")
    _need(ok, ys, "--y")
    _need(ok, by, "--by")
    workloads = _workloads(ok)
    styles = swept_columns(ok, x, by)
    looks = _looks(ok, by, styles)
    fig = _figure(len(ys), len(workloads), side=_side([v["label"] for v in looks.values()]))
    axes = fig.subplots(len(ys), len(workloads), squeeze=False)
    for (r, y), (c, workload) in _grid(ys, workloads):
        rows = ok[ok["workload"] == workload]
        _check_unique(rows, [x, *by, *styles], workload)
        _lines(axes[r][c], rows, x, y, [*by, *styles], looks)
        axes[r][c].set_title(workload)
    _legend(fig, [h for ax in fig.axes for h in ax.get_lines()], ", ".join(by))
    names = ", ".join(axis_label(y).split(" (")[0] for y in ys)
    fig.suptitle(f"{names} vs {axis_label(x).split(' (')[0]}\n{_context(ok)}")
    return fig


def swept_columns(frame: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """The sweep's other dimensions (crossbars, varied keys) with several values among
    ``frame``: left out of ``x`` and ``by``, they would put several points at one place."""
    dims = ("crossbars", *vary_columns(list(frame.columns)))
    return [c for c in dims if c in frame.columns and c != x and c not in by
            and frame[c].nunique(dropna=False) > 1]


def _looks(frame: pd.DataFrame, by: Sequence[str], styles: Sequence[str]
           ) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Label and look of every series, fixed across panels: colour by the ``by`` values,
    marker and line style by the ``styles`` values (by ``by`` when nothing else is swept),
    and a marker size shrinking with each series drawn (on top) so that coinciding series
    still show."""
    keys = series_keys(frame, by, styles)
    colours = list(dict.fromkeys(k[:len(by)] for k in keys))
    shapes = list(dict.fromkeys(k[len(by):] for k in keys)) if styles else colours
    looks = {}
    for i, key in enumerate(keys):
        shape = shapes.index(key[len(by):] if styles else key[:len(by)])
        looks[key] = {"color": f"C{colours.index(key[:len(by)]) % 10}",
                      "marker": MARKERS[shape % len(MARKERS)],
                      "linestyle": STYLES[shape % len(STYLES)],
                      "markersize": max(3.0, 8 - 1.2 * i),
                      "label": series_label(by, styles, key)}
    return looks


def series_keys(frame: pd.DataFrame, by: Sequence[str], styles: Sequence[str]
                ) -> list[tuple[Any, ...]]:
    """Every series' key (its ``by`` values, then its ``styles`` values) in drawing and legend
    order: grouped by ``by`` value, groups and members in order of first appearance."""
    keys = list(dict.fromkeys(frame[[*by, *styles]].itertuples(index=False, name=None)))
    firsts = list(dict.fromkeys(k[:len(by)] for k in keys))
    return sorted(keys, key=lambda k: firsts.index(k[:len(by)]))


def series_label(by: Sequence[str], styles: Sequence[str], key: tuple[Any, ...],
                 sep: str = ", ") -> str:
    """``static, crossbar.adc.bits=6``: the ``by`` values (the legend title names them), then
    each other swept column as column=value."""
    named = (f"{c}={_text(v)}" for c, v in zip(styles, key[len(by):]))
    return sep.join([_label(by, key[:len(by)]), *named])


def _grid(ys: Sequence[str], workloads: Sequence[str]) -> list[tuple[tuple[int, str], ...]]:
    """(row, metric) and (column, workload) of every subplot."""
    return [(ry, cw) for ry in enumerate(ys) for cw in enumerate(workloads)]


def _lines(ax: Axes, rows: pd.DataFrame, x: str, y: str, keys: Sequence[str],
           looks: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> None:
    """One line per ``keys`` group, in the order of ``looks``, points sorted by ``x``, drawn with
    its look; log axes when wide."""
    groups = {_tuple(k): g for k, g in rows.groupby(list(keys), sort=False, dropna=False)}
    for key, look in looks.items():
        if key in groups:
            group = groups[key].sort_values(x)
            ax.plot(group[x].to_numpy(float), group[y].to_numpy(float), **look)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    _scale(ax, rows[x], "x")
    _scale(ax, rows[y], "y")
    _sweep_ticks(ax, rows[x])
    ax.grid(True, which="major", alpha=0.3)


def _sweep_ticks(ax: Axes, values: pd.Series) -> None:
    """Tick the x values themselves when there are few (the points the sweep chose)."""
    v = np.unique(values.to_numpy(float))
    if v.size <= SWEEP_TICKS:
        ax.set_xticks(v, [_text(t) for t in v])
        ax.xaxis.set_minor_locator(NullLocator())


def _side(labels: Sequence[str]) -> float:
    """Inches a figure legend of these labels takes beside the panels."""
    return 0.6 + 0.07 * max(len(label) for label in labels)


def _legend(fig: Figure, artists: Sequence[Any], title: str) -> None:
    """One legend for the figure, right of the panels, one entry per label (first artist)."""
    first = {a.get_label(): a for a in reversed(artists)}
    handles = [first[label] for label in dict.fromkeys(a.get_label() for a in artists)]
    fig.legend(handles=handles, title=title, loc="outside right center", fontsize="small")


def plot_energy_breakdown(frame: pd.DataFrame, by: str | Sequence[str] = "dataflow",
                          x: str = "crossbars", at: Mapping[str, Any] | None = None) -> Figure:
    """100% stacked bars of the energy components per inference, one bar per ``by`` value and
    value of every other swept column, each with its energy per inference written above.

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
    styles = swept_columns(chosen, x, by)
    fig = _figure(1, len(workloads), width=_bars_width(chosen, by, styles), side=1.3)
    where = ", ".join(f"{k}={_text(v)}" for k, v in at.items())
    for ax, workload in zip(fig.subplots(1, len(workloads), squeeze=False)[0], workloads):
        rows = chosen[chosen["workload"] == workload]
        _check_unique(rows, [*by, *styles], workload)
        _shares(ax, rows, by, styles)
        ax.set_title(f"{workload} at {where}")
    handles = [Patch(color=COMPONENT_COLOURS[_component(c)], label=_component(c))
               for c in reversed(BREAKDOWN_COLUMNS)]
    fig.legend(handles=handles, title="component", loc="outside right center",
               fontsize="small")
    fig.suptitle(f"energy per inference by component\n{_context(chosen)}")
    return fig


def _bars_width(rows: pd.DataFrame, by: Sequence[str], styles: Sequence[str]) -> float:
    """Inches of a panel of bars: room for the most bars of a workload and their labels."""
    keys = rows[[*by, *styles]].itertuples(index=False, name=None)
    widest = max(len(line) for key in keys
                 for line in series_label(by, styles, key, sep="\n").split("\n"))
    return 1.2 + max(0.9, 0.08 * widest) * max(rows.groupby("workload").size())


def _shares(ax: Axes, rows: pd.DataFrame, by: Sequence[str], styles: Sequence[str]) -> None:
    """One 100% bar per series (``series_keys`` order): each component's share of its energy,
    the large shares written inside, the energy per inference above the bar."""
    keys = list(rows[[*by, *styles]].itertuples(index=False, name=None))
    order = series_keys(rows, by, styles)
    rows = rows.iloc[np.argsort([order.index(k) for k in keys], kind="stable")]
    labels = [series_label(by, styles, key, sep="\n") for key in order]
    parts = rows[list(BREAKDOWN_COLUMNS)].to_numpy(float)
    totals = parts.sum(axis=1)
    shares = np.divide(100 * parts, totals[:, None], out=np.zeros_like(parts),
                       where=totals[:, None] > 0)
    bottom = np.zeros(len(rows))
    for column, share in zip(BREAKDOWN_COLUMNS, shares.T):
        name = _component(column)
        bars = ax.bar(labels, share, bottom=bottom, width=0.6, label=name,
                      color=COMPONENT_COLOURS[name])
        ax.bar_label(bars, labels=[f"{s:.0f}%" if s >= SHARE_LABEL else "" for s in share],
                     label_type="center", fontsize=8)
        bottom += share
    per_inference = totals / rows["batch"].to_numpy(float)
    ax.bar_label(bars, labels=[si_text(e, "J") for e in per_inference], padding=3,
                 fontweight="bold")
    ax.set_ylim(0, 110)
    ax.tick_params(axis="x", labelsize=9)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("share of energy per inference (%)")
    ax.set_xlabel(", ".join(by))


def _component(column: str) -> str:
    """``energy_write_j`` -> ``write``."""
    return column[len("energy_"):-len("_j")]


def si_text(value: float, unit: str) -> str:
    """``8.553e-07`` J -> ``855 nJ``: three significant digits and an SI prefix."""
    return str(EngFormatter(unit=unit)(float(f"{value:.3g}")))


def plot_layers(layers: pd.DataFrame, run: Mapping[str, Any] | None = None) -> Figure:
    """A run's layers.csv as horizontal bars in network order (top to bottom), coloured by
    layer type: each layer's span in cycles and its dynamic energy, the largest few labelled
    with their share. ``run`` is the run's summary row (it names chip, workload and batch)."""
    _need(layers, LAYER_COLUMNS_DRAWN, "layers.csv")
    if layers.empty:
        raise XbarsimError("layers.csv has no rows", key="plot")
    n = len(layers)
    fig = Figure(figsize=(11, 2.2 + 0.17 * n), layout="constrained")
    FigureCanvasAgg(fig)
    spans, energy = fig.subplots(1, 2, sharey=True)
    types = list(dict.fromkeys(layers["type"].astype(str)))
    colours = [f"C{types.index(str(t)) % 10}" for t in layers["type"]]
    run_cycles = float(layers["end_cycle"].max())
    _layer_bars(spans, layers["cycles"].to_numpy(float), colours, run_cycles, "")
    spans.set_xlabel(f"cycles; labels: share of the run ({si_text(run_cycles, '')} cycles)")
    spans.set_title("latency: span of each layer")
    joules = layers["energy_j"].to_numpy(float)
    _layer_bars(energy, joules, colours, float(joules.sum()), "J")
    energy.set_xlabel("dynamic energy; labels: share of the layers' total")
    energy.set_title("energy of each layer")
    spans.set_yticks(np.arange(n), layers["layer"].astype(str), fontsize=9 if n <= 30 else 7)
    spans.set_ylim(n - 0.5, -0.5)  # network order, first layer on top
    fig.legend(handles=[Patch(color=f"C{i % 10}", label=t) for i, t in enumerate(types)],
               title="layer type", loc="outside lower center", ncols=min(len(types), 8),
               fontsize="small")
    fig.suptitle("latency and energy per layer" + (f": {_run_text(run)}" if run else ""))
    return fig


def _layer_bars(ax: Axes, values: np.ndarray, colours: Sequence[str], whole: float,
                unit: str) -> None:
    """Horizontal bars, one per layer; the ``TOP_LAYERS`` largest values (ties included)
    labelled with their share of ``whole`` so that the layers that matter read at a glance."""
    bars = ax.barh(np.arange(len(values)), values, color=colours, height=0.75)
    cut = np.sort(values)[::-1][min(TOP_LAYERS, len(values)) - 1]
    ax.bar_label(bars, labels=[f"{100 * v / whole:.1f}%" if v >= cut and v > 0 else ""
                               for v in values], padding=2, fontsize=8)
    ax.xaxis.set_major_formatter(EngFormatter(unit=unit))
    ax.set_xlim(0, 1.15 * max(values.max(), 1e-300))
    ax.grid(True, axis="x", alpha=0.3)


def _run_text(run: Mapping[str, Any]) -> str:
    """``mlp_digits on tiny (16 crossbars, reprogram), batch 1``."""
    return (f"{run.get('workload')} on {run.get('arch')} ({_text(run.get('crossbars'))} "
            f"crossbars, {run.get('dataflow')}), batch {_text(run.get('batch'))}")


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


def _context(frame: pd.DataFrame) -> str:
    """``mlp_digits on tiny, batch 2``: the workloads, chips and batch sizes of the rows drawn
    (a column the frame lacks is left out)."""
    parts = (("", "workload"), (" on ", "arch"), (", batch ", "batch"))
    return "".join(before + ", ".join(dict.fromkeys(_text(v) for v in frame[column]))
                   for before, column in parts if column in frame.columns)


def _tuple(key: Any) -> tuple[Any, ...]:
    """A group key as a tuple (pandas gives a scalar for a one-column group)."""
    return key if isinstance(key, tuple) else (key,)


def _label(by: Sequence[str], key: Any) -> str:
    """Legend/bar label of a group: its values, comma-separated (the title names the columns)."""
    values = key if isinstance(key, tuple) else (key,)
    return ", ".join(_text(v) for v in values)


def _text(value: Any) -> str:
    """Numbers without a needless ``.0``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _figure(rows: int, cols: int, width: float = 4.5, side: float = 0.0) -> Figure:
    """An Agg figure for a grid of panels, ``width`` inches each, and ``side`` inches for a
    legend right of them."""
    fig = Figure(figsize=(1.5 + width * cols + side, 0.8 + 3.2 * rows), layout="constrained")
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
