"""``xbarsim compare``: the dataflows side by side and the sensitivity of their ratios."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from xbarsim.basis import example_basis
from xbarsim.cli.main import main
from xbarsim.config.tags import tagged_keys
from xbarsim.inputs import load_run_inputs
from xbarsim.sweep.compare import compare, top_parameters
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate

TINY = "arch_configs/tiny.yaml"
MLP = "workloads/mlp_digits.yaml"
CHIP = ("chip.crossbars=16",)
"""mlp_digits needs 74 of tiny's crossbars: on 16 static cannot run and reprogram writes."""


def run(dataflow: str, *overrides: str, batch: int = 1) -> dict:
    basis = str(example_basis(MLP)) if dataflow == "basis" else None
    inputs = load_run_inputs(TINY, MLP, [*CHIP, *overrides], basis)
    return simulate(inputs.arch, inputs.workload,
                    RunOptions(Dataflow(dataflow), batch=batch, basis=inputs.basis)).summary


@pytest.fixture(scope="module")
def result():
    return compare(TINY, MLP, CHIP, jobs=1)


def test_tagged_keys_follow_the_first_tag_of_each_line(tmp_path: Path):
    path = tmp_path / "a.yaml"
    path.write_text("name: x\nchip:\n  crossbars: 8   # [A] a guess\n  noc:\n"
                    "    hop_cycles: 1  # [D] from [A] parts\n    bytes: 4 # [A]\n"
                    "tile:\n  units: 2  # [P] paper\n  lanes: 3  # [A]\n")
    text = path.read_text()
    assert tagged_keys(text) == {"chip.crossbars": "8", "chip.noc.bytes": "4", "tile.lanes": "3"}
    assert tagged_keys(text, "P") == {"tile.units": "2"}


def test_compare_rows_are_the_separate_runs_and_their_ratios(result):
    rows = {r["dataflow"]: r for r in result.rows}
    assert rows["static"]["status"] == "error" and "74 crossbars" in rows["static"]["error"]
    reprogram, basis = run("reprogram"), run("basis")
    for flow, alone in (("reprogram", reprogram), ("basis", basis)):
        assert {k: rows[flow][k] for k in alone if k != "wall_s"} == \
            {k: v for k, v in alone.items() if k != "wall_s"}
    assert rows["basis"]["cycles_vs_reprogram"] == \
        basis["cycles_per_inference"] / reprogram["cycles_per_inference"]
    assert rows["basis"]["energy_vs_reprogram"] == \
        basis["energy_per_inference_j"] / reprogram["energy_per_inference_j"]
    assert rows["reprogram"]["cycles_vs_reprogram"] == 1.0
    assert rows["reprogram"]["bottleneck"] == "write_controller"
    assert rows["digital"]["bottleneck"] != "crossbar" and rows["digital"]["xbar_reads"] == 0


def test_sensitivity_rows_are_separate_runs_with_the_parameter_changed(result):
    by = {(r["parameter"], r["factor"]): r for r in result.sensitivity}
    # every [A] key of tiny (all of them are) that has a half and a double, but not the
    # chip size under comparison nor the device keys the timing model does not read
    params = {p for p, _ in by}
    assert "tile.write_circuits" in params and "crossbar.read_ns" in params
    assert "chip.crossbars" not in params and not any(p.startswith("analog.") for p in params)
    row = by[("crossbar.read_ns", 2.0)]
    assert row["value"] == 20.0 and row["base_value"] == 10.0
    reprogram, basis = run("reprogram", "crossbar.read_ns=20.0"), run("basis",
                                                                       "crossbar.read_ns=20.0")
    assert row["basis_vs_reprogram_cycles"] == \
        basis["cycles_per_inference"] / reprogram["cycles_per_inference"]
    assert row["basis_vs_reprogram_edp"] == \
        basis["edp_per_inference_js"] / reprogram["edp_per_inference_js"]
    digital = run("digital", "crossbar.read_ns=20.0")
    assert row["basis_vs_digital_cycles"] == \
        basis["cycles_per_inference"] / digital["cycles_per_inference"]
    # an integer halves and doubles to integers; one that would not change is left out
    assert by[("chip.noc.hop_cycles", 2.0)]["value"] == 2
    assert ("chip.noc.hop_cycles", 0.5) not in by  # tiny has 1 cycle per hop
    # a named choice steps to its neighbours: per tile (tiny's) has none below
    assert by[("tile.write_circuits", 2.0)]["value"] == "per_ima"
    assert by[("tile.write_circuits", 2.0)]["base_value"] == "per_tile"
    assert ("tile.write_circuits", 0.5) not in by


def test_batch_is_a_sensitivity_parameter():
    result = compare(TINY, MLP, CHIP, batch=2, jobs=1, sensitivity=True,
                     params=["crossbar.read_ns"])
    by = {(r["parameter"], r["factor"]): r for r in result.sensitivity}
    assert by[("batch", 0.5)]["value"] == 1 and by[("batch", 2.0)]["value"] == 4
    assert by[("batch", 2.0)]["basis_vs_reprogram_cycles"] == \
        run("basis", batch=4)["cycles_per_inference"] / \
        run("reprogram", batch=4)["cycles_per_inference"]


def test_top_parameters_rank_by_span_around_the_base():
    rows = [{"parameter": "base", "factor": 1.0, "basis_vs_reprogram_cycles": 1.0},
            {"parameter": "a", "factor": 0.5, "basis_vs_reprogram_cycles": 0.9},
            {"parameter": "a", "factor": 2.0, "basis_vs_reprogram_cycles": 1.2},
            {"parameter": "b", "factor": 2.0, "basis_vs_reprogram_cycles": 2.0},
            {"parameter": "c", "factor": 0.5, "basis_vs_reprogram_cycles": None}]
    top = top_parameters(rows, "basis_vs_reprogram_cycles")
    assert [(p, round(s, 9), lo, hi) for p, s, lo, hi in top] == [
        ("b", 1.0, None, 2.0), ("a", 0.3, 0.9, 1.2)]


def test_compare_command_writes_its_files(tmp_path: Path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--arch", TINY, "--workload", MLP, "--crossbars", "16", "--jobs",
                 "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "sensitivity.csv",
                                                    "tornado.png", "tornado.svg"]
    frame = pd.read_csv(out / "compare.csv")
    assert frame["dataflow"].tolist() == ["static", "reprogram", "basis", "digital"]
    sens = pd.read_csv(out / "sensitivity.csv")
    assert sens["parameter"].iloc[0] == "base"
    assert math.isclose(sens["basis_vs_reprogram_cycles"].iloc[0],
                        frame.set_index("dataflow").loc["basis", "cycles_vs_reprogram"])
    printed = capsys.readouterr().out
    assert "what moves it most" in printed and "static needs 74 crossbars" in printed


def test_a_param_that_is_not_a_number_is_a_clear_error(capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["compare", "--arch", TINY, "--workload", MLP, "--crossbars", "16", "--param",
                 "crossbar.differential", "--out", str(out)]) == 2
    assert "--param: crossbar.differential" in capsys.readouterr().err
    assert not out.exists()


def test_a_named_choice_steps_to_its_neighbours():
    # write_verify.policy: program_verify (tiny's) is first, single_pass second
    result = compare(TINY, MLP, CHIP, jobs=1, params=["write_verify.policy"])
    rows = [r for r in result.sensitivity if r["parameter"] == "write_verify.policy"]
    assert [(r["factor"], r["value"], r["base_value"]) for r in rows] == [
        (2.0, "single_pass", "program_verify")]
    assert rows[0]["basis_vs_reprogram_cycles"] == \
        run("basis", "write_verify.policy=single_pass")["cycles_per_inference"] / \
        run("reprogram", "write_verify.policy=single_pass")["cycles_per_inference"]
