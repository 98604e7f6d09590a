"""``sweep --accuracy``: cost and accuracy in one CSV, one functional run per functional config."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import xbarsim.sweep.accuracy as accuracy
from tests.test_sweep import interrupted, run_cli
from xbarsim.errors import XbarsimError
from xbarsim.sweep import sweep
from xbarsim.sweep.accuracy import ACCURACY_COLUMNS, accuracy_spec
from xbarsim.timing.simulate import SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
WEIGHTS = str(ROOT / "workloads" / "mlp_digits.weights.npz")
BASIS = str(ROOT / "workloads" / "mlp_digits.trained.basis.npz")
INPUTS = str(ROOT / "workloads" / "digits_test.npz")
LIMIT = 60


def spec(limit: int = LIMIT) -> Any:
    return accuracy_spec(WEIGHTS, INPUTS, limit, [MLP])


@pytest.fixture(autouse=True)
def fresh_results() -> None:
    """Each test counts its own functional runs (inline sweeps share this process's cache)."""
    accuracy._RESULTS.clear()


def test_accuracy_columns_equal_the_functional_verb(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    """Each dataflow's columns are what ``xbarsim functional`` writes for the same config and
    images; ``digital`` computes exact integers, so its analog accuracy is the exact one."""
    frame = sweep(TINY, MLP, "static,basis,digital", "256", vary=["crossbar.adc.bits=6"],
                  jobs=1, basis=BASIS, accuracy=spec())
    assert tuple(frame.columns[-7:]) == ("crossbar.adc.bits", *ACCURACY_COLUMNS, "status",
                                         "error")
    assert frame.status.tolist() == ["ok"] * 3
    code, _, _ = run_cli(capsys, "functional", "--arch", TINY, "--set", "crossbar.adc.bits=6",
                         "--workload", MLP, "--weights", WEIGHTS, "--basis", BASIS,
                         "--dataflow", "all", "--inputs", INPUTS, "--limit", str(LIMIT),
                         "--out", str(tmp_path))
    assert code == 0
    summary = pd.read_csv(tmp_path / "functional_summary.csv").set_index("dataflow")
    layers = pd.read_csv(tmp_path / "functional.csv")
    rows = frame.set_index("dataflow")
    for flow in ("static", "basis"):
        for column in ("accuracy_float", "accuracy_exact", "accuracy_analog"):
            assert rows.at[flow, column] == summary.at[flow, column]
        snr = layers[(layers.dataflow == flow) & layers.layer.isin(["fc1", "fc2"])].snr_db
        assert rows.at[flow, "snr_db_mean"] == pytest.approx(snr.mean(), rel=1e-12)
    assert rows.at["digital", "accuracy_analog"] == summary.at["static", "accuracy_exact"]
    assert rows.at["digital", "snr_db_mean"] == float("inf")


def test_keys_only_the_timing_model_reads_reuse_one_functional_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2 crossbar counts x 2 NoC hop latencies (timing only) x 2 ADC resolutions x static,
    reprogram and digital (one functional path: the weights on the cells) = 24 points, and
    2 functional runs: one per ADC resolution."""
    runs = []
    real = accuracy.run_functional

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(args[0].crossbar.adc.bits)
        return real(*args, **kwargs)

    monkeypatch.setattr(accuracy, "run_functional", counted)
    frame = sweep(TINY, MLP, "static,reprogram,digital", "128,256",
                  vary=["chip.noc.hop_cycles=1,2", "crossbar.adc.bits=6,8"], jobs=1,
                  accuracy=spec())
    assert len(frame) == 24 and (frame.status == "ok").all()
    assert sorted(runs) == [6, 8]
    analog = frame[frame.dataflow != "digital"].groupby("crossbar.adc.bits").accuracy_analog
    assert (analog.nunique() == 1).all()  # the same functional result at every timing point


def test_resume_checks_the_accuracy_inputs(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    kwargs: dict[str, Any] = {"arch": TINY, "workloads": MLP, "dataflows": "reprogram",
                              "crossbars": "16:64:x2", "jobs": 1, "out": out}
    interrupted(monkeypatch, 1, **kwargs, accuracy=spec())
    with pytest.raises(XbarsimError, match="the sweep's accuracy changed since it started"):
        sweep(**kwargs, accuracy=spec(limit=LIMIT + 1), resume=True)
    with pytest.raises(XbarsimError, match="it has accuracy columns but this sweep does not "
                                           "measure accuracy"):
        sweep(**kwargs, resume=True)
    monkeypatch.undo()
    assert len(sweep(**kwargs, accuracy=spec(), resume=True)) == 3
    header = next(csv.reader(io.StringIO(out.read_text())))
    assert header == [*SUMMARY_COLUMNS, *ACCURACY_COLUMNS, "status", "error"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--weights", WEIGHTS], "error: --weights: --weights is for --accuracy (add --accuracy)"),
    (["--accuracy", "--weights", WEIGHTS], "error: --inputs: --accuracy needs --inputs"),
    (["--accuracy", "--weights", WEIGHTS, "--inputs", INPUTS, "--workload",
      str(ROOT / "workloads" / "lenet5_mnist.yaml")],
     "error: --accuracy: one weights file fits one workload (give a single --workload)"),
    (["--accuracy", "--weights", WEIGHTS, "--inputs", INPUTS, "--limit", "0"],
     "error: --limit: expected a positive integer, got 0"),
])
def test_accuracy_options_are_checked_before_any_point_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], message: str,
) -> None:
    out = tmp_path / "s.csv"
    code, _, err = run_cli(capsys, "sweep", "--arch", TINY, "--workload", MLP, "--dataflow",
                           "static", "--crossbars", "256", "--quiet", "--out", str(out), *extra)
    assert (code, err) == (2, message + "\n")
    assert not out.exists()
