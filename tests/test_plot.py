"""Plots of sweep CSVs: the drawn data equals the CSV, axis scales and labels, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.sweep import sweep
from xbarsim.sweep.plot import (
    BREAKDOWN_COLUMNS,
    axis_label,
    figure_stem,
    load_sweep,
    plot_energy_breakdown,
    plot_sweep,
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
    assert "tiny" in fig.get_suptitle()
    assert top.get_xscale() == "log"  # 8 .. 1024 spans more than two decades
    assert top.get_yscale() == "log"
    legend = top.get_legend()
    assert legend is not None and legend.get_title().get_text() == "dataflow"


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


def test_energy_breakdown_bars_are_per_inference(frame: pd.DataFrame) -> None:
    fig = plot_energy_breakdown(frame, by="dataflow")
    ax = fig.axes[0]
    assert "crossbars=1024" in ax.get_title()
    at = frame[(frame.crossbars == 1024)].set_index("dataflow")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["static", "reprogram"]
    assert len(ax.containers) == len(BREAKDOWN_COLUMNS)
    total = np.zeros(2)
    for container, column in zip(ax.containers, BREAKDOWN_COLUMNS):
        heights = [bar.get_height() for bar in container]
        expected = (at.loc[["static", "reprogram"], column] / 2).to_numpy()
        np.testing.assert_allclose(heights, expected, rtol=1e-12)
        total += heights
    np.testing.assert_allclose(total, at.loc[["static", "reprogram"],
                                             "energy_per_inference_j"], rtol=1e-12)
    assert ax.get_ylabel() == "energy per inference (J)"


def test_energy_breakdown_at_a_chosen_point(frame: pd.DataFrame) -> None:
    ax = plot_energy_breakdown(frame, at={"crossbars": "64"}).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["reprogram"]  # static failed at 64
    row = frame[(frame.crossbars == 64) & (frame.dataflow == "reprogram")].iloc[0]
    assert ax.containers[3][0].get_height() == pytest.approx(row.energy_write_j / 2, rel=1e-12)
    with pytest.raises(XbarsimError, match="no ok rows with crossbars=3"):
        plot_energy_breakdown(frame, at={"crossbars": "3"})


def test_rows_that_would_overlap_name_the_missing_by_column(tmp_path: Path) -> None:
    frame = sweep(TINY, MLP, "reprogram", [16, 32], vary=["crossbar.adc.bits=6,8"], jobs=1)
    with pytest.raises(XbarsimError, match=r"differ in crossbar\.adc\.bits: add it to --by"):
        plot_sweep(frame, "crossbars", ["cycles_per_inference"], "dataflow")
    fig = plot_sweep(frame, "crossbars", ["cycles_per_inference"],
                     ["dataflow", "crossbar.adc.bits"])
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["reprogram, 6",
                                                                       "reprogram, 8"]


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
