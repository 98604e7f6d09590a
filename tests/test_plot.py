"""Plots of sweep CSVs: the drawn data equals the CSV, axis scales and labels, files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest

from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.sweep import sweep
from xbarsim.sweep.plot import (
    BREAKDOWN_COLUMNS,
    COMPONENT_COLOURS,
    axis_label,
    figure_stem,
    load_plottable,
    load_sweep,
    plot_energy_breakdown,
    plot_layers,
    plot_sweep,
    run_beside,
    save_figure,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
LENET = str(ROOT / "workloads" / "lenet5_mnist.yaml")


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep: static fails below 74 crossbars, reprogram runs everywhere."""
    out = tmp_path_factory.mktemp("plot") / "sweep.csv"
    sweep(TINY, MLP, "static,reprogram", "8:1024:x2", batch=2, jobs=1, out=out)
    return out


@pytest.fixture(scope="module")
def frame(csv_path: Path) -> pd.DataFrame:
    return pd.read_csv(csv_path)


@pytest.fixture(scope="module")
def varied() -> pd.DataFrame:
    """A sweep with a varied key: two dataflows x two ADC resolutions x two crossbar counts."""
    return sweep(TINY, MLP, "static,reprogram", [128, 256], vary=["crossbar.adc.bits=6,8"],
                 jobs=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output directory of ``xbarsim run`` (summary.csv, layers.csv, ...) on LeNet-5."""
    out = tmp_path_factory.mktemp("run") / "lenet"
    assert main(["run", "--arch", TINY, "--workload", LENET, "--dataflow", "reprogram",
                 "--crossbars", "16", "--batch", "2", "--out", str(out)]) == 0
    return out


PREFIXES = {"p": 1e-12, "n": 1e-9, "\u00b5": 1e-6, "m": 1e-3, "": 1.0}


def joules(text: str) -> float:
    """``855 nJ`` -> 8.55e-07 (the totals written above the energy bars)."""
    number, unit = text.split(" ")
    return float(number) * PREFIXES[unit.removesuffix("J")]


def totals(ax: Any) -> list[str]:
    """The texts written above the bars of an energy breakdown (energies, not shares)."""
    return [t.get_text() for t in ax.texts if t.get_text().endswith("J")]


def synthetic(**columns: list[float]) -> pd.DataFrame:
    """A two-row ok sweep with the given metric columns (for scale tests)."""
    base = {"workload": ["w", "w"], "arch": ["a", "a"], "dataflow": ["d", "d"],
            "status": ["ok", "ok"]}
    return pd.DataFrame({**base, **columns})


def test_lines_are_the_csv_values(frame: pd.DataFrame) -> None:
    ys = ["cycles_per_inference", "edp_per_inference_js"]
    fig = plot_sweep(frame, "crossbars", ys, "dataflow")
    assert len(fig.axes) == 2
    for ax, y in zip(fig.axes, ys):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["static", "reprogram"]
        for line, flow in zip(lines, ("static", "reprogram")):
            rows = frame[(frame.dataflow == flow) & (frame.status == "ok")].sort_values(
                "crossbars")
            np.testing.assert_array_equal(line.get_xydata(),
                                          rows[["crossbars", y]].to_numpy(float))
    static = fig.axes[0].get_lines()[0].get_xdata()
    assert np.asarray(static).tolist() == [128, 256, 512, 1024]  # error rows are skipped


def test_axes_are_labelled_and_log_where_wide(frame: pd.DataFrame) -> None:
    fig = plot_sweep(frame, "crossbars", ["cycles_per_inference", "energy_per_inference_j"],
                     "dataflow")
    top, bottom = fig.axes
    assert top.get_xlabel() == "crossbars (count)"
    assert top.get_ylabel() == "cycles per inference (cycles)"
    assert bottom.get_ylabel() == "energy per inference (J)"
    assert top.get_title() == "mlp_digits"
    assert "mlp_digits on tiny, batch 2" in fig.get_suptitle()
    assert top.get_xscale() == "log"  # 8 .. 1024 spans more than two decades
    assert top.get_yscale() == "log"
    assert [t.get_text() for t in top.get_xticklabels()] == [  # the swept values themselves
        "8", "16", "32", "64", "128", "256", "512", "1024"]
    [legend] = fig.legends  # one legend for every panel
    assert legend.get_title().get_text() == "dataflow"
    assert [t.get_text() for t in legend.get_texts()] == ["static", "reprogram"]


@pytest.mark.parametrize(("values", "scale"), [
    ([1.0, 100.0], "linear"), ([1.0, 101.0], "log"), ([0.0, 1e6], "linear"),
    ([-1.0, 1e6], "linear"),
])
def test_log_only_beyond_two_decades(values: list[float], scale: str) -> None:
    fig = plot_sweep(synthetic(crossbars=[8, 16], latency_s=values), "crossbars",
                     ["latency_s"], "dataflow")
    assert fig.axes[0].get_yscale() == scale
    assert fig.axes[0].get_xscale() == "linear"


@pytest.mark.parametrize(("column", "label"), [
    ("edp_per_inference_js", "EDP per inference (J·s)"),
    ("energy_adc_j", "energy adc (J)"),
    ("latency_s", "latency (s)"),
    ("compute_cycles", "compute cycles (cycles)"),
    ("cells_written", "cells written (count)"),
    ("area_mm2", "area (mm²)"),
    ("dram_bytes", "dram (bytes)"),
    ("crossbar.adc.bits", "crossbar.adc.bits"),
    ("accuracy_analog", "accuracy analog (fraction)"),
    ("snr_db_mean", "snr (dB, mean over layers)"),
])
def test_axis_labels_carry_units(column: str, label: str) -> None:
    assert axis_label(column) == label


def test_one_facet_per_workload(tmp_path: Path) -> None:
    frame = sweep(TINY, [MLP, LENET], "reprogram", [16, 64], jobs=1)
    fig = plot_sweep(frame, "crossbars", ["cycles_per_inference", "latency_s"], "dataflow")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["mlp_digits", "lenet5_mnist"] * 2
    lenet = frame[frame.workload == "lenet5_mnist"]
    np.testing.assert_array_equal(axes[3].get_lines()[0].get_ydata(), lenet.latency_s)


def test_energy_breakdown_is_normalised_with_totals_above(frame: pd.DataFrame) -> None:
    fig = plot_energy_breakdown(frame, by="dataflow")
    ax = fig.axes[0]
    assert "crossbars=1024" in ax.get_title()
    at = frame[(frame.crossbars == 1024)].set_index("dataflow").loc[["static", "reprogram"]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["static", "reprogram"]
    assert len(ax.containers) == len(BREAKDOWN_COLUMNS)
    total = np.zeros(2)
    for container, column in zip(ax.containers, BREAKDOWN_COLUMNS):
        heights = [bar.get_height() for bar in container]
        np.testing.assert_allclose(heights, 100 * at[column] / at.energy_j, rtol=1e-9)
        total += heights
    np.testing.assert_allclose(total, 100, rtol=1e-12)  # every bar is 100%
    np.testing.assert_allclose([joules(t) for t in totals(ax)], at.energy_per_inference_j,
                               rtol=5e-3)  # three significant digits
    assert ax.get_ylabel() == "share of energy per inference (%)"
    assert fig.get_suptitle() == "energy per inference by component\nmlp_digits on tiny, batch 2"


def test_energy_components_keep_their_colour_and_order(frame: pd.DataFrame,
                                                       varied: pd.DataFrame) -> None:
    for fig in (plot_energy_breakdown(frame), plot_energy_breakdown(varied)):
        ax = fig.axes[0]
        assert [c.get_label() for c in ax.containers] == [
            c.removeprefix("energy_").removesuffix("_j") for c in BREAKDOWN_COLUMNS]
        for container in ax.containers:
            colour = matplotlib.colors.to_rgba(COMPONENT_COLOURS[container.get_label()])
            assert {bar.get_facecolor() for bar in container} == {colour}
        [legend] = fig.legends  # outside the bars, top of the stack first
        assert [t.get_text() for t in legend.get_texts()] == [
            c.get_label() for c in ax.containers][::-1]


def test_energy_breakdown_at_a_chosen_point(frame: pd.DataFrame) -> None:
    ax = plot_energy_breakdown(frame, at={"crossbars": "64"}).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["reprogram"]  # static failed at 64
    row = frame[(frame.crossbars == 64) & (frame.dataflow == "reprogram")].iloc[0]
    assert ax.containers[3][0].get_height() == pytest.approx(
        100 * row.energy_write_j / row.energy_j, rel=1e-9)
    assert totals(ax) and joules(totals(ax)[0]) == pytest.approx(row.energy_per_inference_j,
                                                                 rel=5e-3)
    with pytest.raises(XbarsimError, match="no ok rows with crossbars=3"):
        plot_energy_breakdown(frame, at={"crossbars": "3"})


SERIES = ["static, crossbar.adc.bits=6", "static, crossbar.adc.bits=8",
          "reprogram, crossbar.adc.bits=6", "reprogram, crossbar.adc.bits=8"]


def test_varied_keys_get_a_series_each(varied: pd.DataFrame) -> None:
    fig = plot_sweep(varied)  # the default plot: colour by dataflow, style by varied value
    [legend] = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == SERIES
    for ax, y in zip(fig.axes, ("cycles_per_inference", "edp_per_inference_js")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert list(lines) == SERIES
        for label, line in lines.items():
            flow, bits = label.split(", crossbar.adc.bits=")
            rows = varied[(varied.dataflow == flow) & (varied["crossbar.adc.bits"] == int(bits))]
            np.testing.assert_array_equal(line.get_xydata(),
                                          rows[["crossbars", y]].to_numpy(float))
    lines = fig.axes[0].get_lines()
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()  # dataflow
    assert lines[0].get_marker() == lines[2].get_marker() != lines[1].get_marker()  # bits
    assert lines[0].get_linestyle() == lines[2].get_linestyle() != lines[1].get_linestyle()
    sizes = [line.get_markersize() for line in lines]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4  # later = smaller


def test_varied_keys_get_a_bar_each(varied: pd.DataFrame) -> None:
    ax = plot_energy_breakdown(varied).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [s.replace(", ", "\n")
                                                            for s in SERIES]
    at = varied[varied.crossbars == 256]
    expected = [at[(at.dataflow == label.split(",")[0])
                   & (at["crossbar.adc.bits"] == int(label[-1]))].energy_per_inference_j.iloc[0]
                for label in SERIES]
    np.testing.assert_allclose([joules(t) for t in totals(ax)], expected, rtol=5e-3)


def test_crossbars_get_a_series_each_when_not_on_x(varied: pd.DataFrame) -> None:
    fig = plot_sweep(varied, "crossbar.adc.bits", ["energy_per_inference_j"])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "static, crossbars=128", "static, crossbars=256", "reprogram, crossbars=128",
        "reprogram, crossbars=256"]
    assert fig.axes[0].get_yscale() == "linear"  # within a few percent: no decades to span
    assert fig.axes[0].get_xlabel() == "crossbar.adc.bits"


def test_rows_that_would_overlap_name_the_missing_by_column(varied: pd.DataFrame) -> None:
    two = pd.concat([varied, varied.assign(batch=4)])  # two sweeps' CSVs pasted together
    with pytest.raises(XbarsimError, match="differ in batch: add it to --by"):
        plot_sweep(two, "crossbars", ["cycles_per_inference"], "dataflow")
    fig = plot_sweep(two, "crossbars", ["cycles_per_inference"], ["dataflow", "batch"])
    assert fig.legends[0].get_texts()[0].get_text() == "static, 1, crossbar.adc.bits=6"
    assert "batch 1, 4" in fig.get_suptitle()


def test_layers_chart_has_a_bar_per_layer_in_order(run_dir: Path) -> None:
    layers = pd.read_csv(run_dir / "layers.csv")
    fig = plot_layers(layers, run_beside(run_dir / "layers.csv"))
    spans, energy = fig.axes
    names = [t.get_text() for t in spans.get_yticklabels()]
    assert names == layers.layer.tolist()
    for ax, column in ((spans, "cycles"), (energy, "energy_j")):
        bars = ax.patches
        assert [bar.get_width() for bar in bars] == layers[column].tolist()
        assert [bar.get_y() + bar.get_height() / 2 for bar in bars] == list(range(len(layers)))
    assert spans.get_ylim()[0] > spans.get_ylim()[1]  # the first layer on top
    slowest = layers.cycles.idxmax()
    share = 100 * layers.cycles.max() / layers.end_cycle.max()
    assert spans.texts[slowest].get_text() == f"{share:.1f}%"
    assert fig.get_suptitle().endswith("lenet5_mnist on tiny (16 crossbars, reprogram), batch 2")


def test_layers_chart_stays_legible_for_many_layers() -> None:
    n = 72
    layers = pd.DataFrame({"layer": [f"block{i}.conv" for i in range(n)], "type": "conv",
                           "end_cycle": np.arange(1, n + 1) * 10.0, "cycles": 10.0,
                           "energy_j": np.linspace(1e-9, 1e-6, n)})
    fig = plot_layers(layers)
    spans = fig.axes[0]
    assert len(spans.get_yticklabels()) == n
    assert min(t.get_fontsize() for t in spans.get_yticklabels()) >= 7
    assert fig.get_figheight() >= 0.17 * n  # a row per layer, however many
    assert fig.get_suptitle() == "latency and energy per layer"  # no summary.csv beside it


def test_cli_plot_layers(capsys: pytest.CaptureFixture[str], run_dir: Path,
                         tmp_path: Path) -> None:
    assert main(["plot", str(run_dir / "layers.csv"), "--out", str(tmp_path / "l.png")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.png", "l.svg"]
    assert "l.svg" in capsys.readouterr().out


def test_unknown_column_suggests(frame: pd.DataFrame) -> None:
    with pytest.raises(XbarsimError, match="did you mean 'cycles_per_inference'"):
        plot_sweep(frame, "crossbars", ["cycles_per_inferense"], "dataflow")


def test_no_ok_rows_is_an_error(frame: pd.DataFrame) -> None:
    with pytest.raises(XbarsimError, match="no rows with status ok"):
        plot_sweep(frame[frame.status != "ok"], "crossbars", ["cycles"], "dataflow")


def test_save_writes_png_and_svg_atomically(frame: pd.DataFrame, tmp_path: Path) -> None:
    fig = plot_sweep(frame, "crossbars", ["cycles"], "dataflow")
    written = save_figure(fig, tmp_path / "out" / "fig")
    assert [p.name for p in written] == ["fig.png", "fig.svg"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[1].read_text().lstrip().startswith("<?xml")
    first = written[1].read_bytes()
    save_figure(fig, tmp_path / "out" / "fig")
    assert written[1].read_bytes() == first  # no date, fixed ids
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fig.png", "fig.svg"]


def test_figure_stem() -> None:
    assert figure_stem("a/fig.png") == Path("a/fig")
    assert figure_stem("fig.SVG") == Path("fig")
    assert figure_stem("fig") == Path("fig")


def test_cli_plot(capsys: pytest.CaptureFixture[str], csv_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    code = main(["plot", str(csv_path), "--x", "crossbars", "--y",
                 "cycles_per_inference,edp_per_inference_js", "--by", "dataflow",
                 "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0
    assert "note: skipped 4 rows with status != ok" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fig.png", "fig.svg", "fig_energy.png", "fig_energy.svg"]
    assert "fig_energy.svg" in stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["--y", "cycels"], "--y: no column 'cycels' (did you mean 'cycles'?)"),
    (["--at", "crossbars=5"], "--at: no ok rows with crossbars=5"),
    (["--at", "crossbars"], "expected COLUMN=VALUE"),
    (["--by", "dataflw"], "did you mean 'dataflow'"),
])
def test_cli_plot_bad_input(capsys: pytest.CaptureFixture[str], csv_path: Path,
                            tmp_path: Path, args: list[str], needle: str) -> None:
    code = main(["plot", str(csv_path), "--out", str(tmp_path / "f.png"), *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err
    assert err.splitlines()[-1].startswith("error: ")
    assert not list(tmp_path.glob("f.*"))


def test_load_sweep_errors(tmp_path: Path) -> None:
    with pytest.raises(XbarsimError, match="file not found"):
        load_sweep(tmp_path / "missing.csv")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(XbarsimError, match="not a sweep CSV"):
        load_sweep(tmp_path / "x.csv")
    with pytest.raises(XbarsimError, match=r"neither a sweep CSV .* nor a layers\.csv"):
        load_plottable(tmp_path / "x.csv")


def _rows(crossbars: list[float], flows: tuple[str, ...] = ("d",)) -> pd.DataFrame:
    n = len(crossbars)
    return pd.concat([pd.DataFrame({
        "workload": ["w"] * n, "arch": ["a"] * n, "dataflow": [flow] * n, "status": ["ok"] * n,
        "crossbars": crossbars, "latency_s": [1.0] * n}) for flow in flows])


@pytest.mark.parametrize(("crossbars", "scale"), [
    ([8, 16, 32, 64], "log"),       # x2 sweep: log even though it spans less than 2 decades
    ([8, 24, 72], "log"),           # x3
    ([8, 16], "linear"),            # two points say nothing about a series
    ([10, 20, 30, 40], "linear"),   # arithmetic
])
def test_geometric_sweeps_get_a_log_x_axis(crossbars: list[float], scale: str) -> None:
    fig = plot_sweep(_rows(crossbars), "crossbars", ["latency_s"], "dataflow")
    assert fig.axes[0].get_xscale() == scale


def test_identical_series_stay_visible() -> None:
    # two dataflows with the same values: different markers, line styles and marker sizes
    lines = plot_sweep(_rows([8, 16, 32], ("a", "b")), "crossbars", ["latency_s"],
                       "dataflow").axes[0].get_lines()
    assert lines[0].get_marker() != lines[1].get_marker()
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    assert lines[0].get_markersize() > lines[1].get_markersize()


def test_cli_plot_pdf_by_extension(capsys: pytest.CaptureFixture[str], csv_path: Path,
                                   tmp_path: Path) -> None:
    out = tmp_path / "fig.pdf"
    assert main(["plot", str(csv_path), "--out", str(out)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fig.pdf", "fig.png", "fig.svg", "fig_energy.pdf", "fig_energy.png",
                     "fig_energy.svg"]
    first = out.read_bytes()
    assert first.startswith(b"%PDF")
    assert main(["plot", str(csv_path), "--out", str(out)]) == 0
    assert out.read_bytes() == first  # no dates: the same plot, the same bytes
