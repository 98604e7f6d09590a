"""Functional runs: exact vs analog per layer, accuracy on the shipped digits model, the CLI verb,
``info``'s lossless ADC bits and the Arch -> device model mapping."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.numpy_forward import forward
from xbarsim.basis import load_basis
from xbarsim.cli.main import main
from xbarsim.config import AdcRange, load_arch
from xbarsim.functional import AnalogCrossbar, crossbar_mvm, fixed_range_bits, lossless_adc_bits
from xbarsim.functional.device_config import analog_crossbar, device_from_arch
from xbarsim.functional.network import LAYER_COLUMNS, SUMMARY_COLUMNS, run_functional
from xbarsim.io.npz_file import write_npz
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.weights_map import group_matrices, integer_weights
from xbarsim.workload import load_workload, workload_from_dict
from xbarsim.workload.weights import load_weights

ROOT = Path(__file__).resolve().parent.parent
IDEAL = str(ROOT / "arch_configs" / "ideal.yaml")
ISAAC = str(ROOT / "arch_configs" / "isaac_like.yaml")
TINY = str(ROOT / "arch_configs" / "tiny.yaml")
MLP = str(ROOT / "workloads" / "mlp_digits.yaml")
LENET = str(ROOT / "workloads" / "lenet5_mnist.yaml")
WEIGHTS = str(ROOT / "workloads" / "mlp_digits.weights.npz")
DIGITS = str(ROOT / "workloads" / "digits_test.npz")
BASIS = str(ROOT / "workloads" / "mlp_digits.basis.npz")


def functional(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["functional", "--workload", MLP, "--inputs", DIGITS, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def digits() -> dict[str, Any]:
    data = np.load(DIGITS)
    workload = load_workload(MLP)
    return {"x": data["x"], "y": data["y"], "workload": workload,
            "weights": load_weights(WEIGHTS, workload)}


def _arch(path: str, *overrides: str):
    return load_arch(path, list(overrides))


# ---------------------------------------------------------------------- ideal = exact


def test_ideal_config_is_exact_on_the_digits_model(capsys, tmp_path):
    code, out, _ = functional(capsys, "--arch", IDEAL, "--weights", WEIGHTS, "--out",
                              str(tmp_path))
    assert code == 0 and "accuracy: float" in out
    layers = read_csv(tmp_path / "functional.csv")
    assert [row["layer"] for row in layers] == ["flatten", "fc1", "fc2"]
    assert all(float(row["max_abs_err"]) == 0.0 and row["snr_db"] == "inf" for row in layers)
    (summary,) = read_csv(tmp_path / "functional_summary.csv")
    assert tuple(summary) == ("dataflow", *SUMMARY_COLUMNS) and summary["dataflow"] == "static"
    assert summary["accuracy_analog"] == summary["accuracy_exact"]
    assert int(summary["images"]) == 360 and float(summary["accuracy_exact"]) > 0.9


@pytest.mark.parametrize("arch_path", [IDEAL, TINY])
def test_the_bitplane_kernel_with_a_lossless_adc_is_exact_layer_by_layer(digits, arch_path):
    # method='bitplane' converts every column sum with the ADC instead of taking the exact path
    r = run_functional(_arch(arch_path), digits["workload"], digits["weights"], digits["x"],
                       digits["y"], method="bitplane")
    assert all(row["max_abs_err"] == 0.0 for row in r.layers)
    np.testing.assert_array_equal(r.outputs["analog"], r.outputs["exact"])


def test_ideal_adc_bits_are_the_fixed_range_bits():
    xb = _arch(IDEAL).crossbar
    assert xb.adc.bits == fixed_range_bits(rows=xb.rows, dac_bits=xb.dac.bits,
                                           cell_bits=xb.cell_bits)
    device = device_from_arch(_arch(IDEAL))
    assert device.is_ideal


# ---------------------------------------------------------------------- exact vs float


def _quantization_bound(x: np.ndarray, w: np.ndarray, bits: int, enc: Encoding) -> np.ndarray:
    """|exact - float| bound of one linear layer: (s_w/2) sum|x| + (s_x/2) sum|w| + K s_x s_w/4."""
    s_x = np.abs(x).max() / (2**bits - 1)
    s_w = np.abs(w).max() / np.abs(integer_weights(w, enc)).max()
    return (s_w / 2 * np.abs(x).sum(1)[:, None] + s_x / 2 * np.abs(w).sum(1)[None, :]
            + x.shape[1] * s_x * s_w / 4)


@pytest.mark.parametrize("arch_path", [TINY, IDEAL])
def test_exact_integer_pipeline_matches_a_float_numpy_forward(digits, arch_path):
    arch = _arch(arch_path)
    x, y, workload, weights = digits["x"], digits["y"], digits["workload"], digits["weights"]
    r = run_functional(arch, workload, weights, x, y)
    acts, _ = forward(workload, weights, x)  # the import tests' independent reference
    np.testing.assert_allclose(r.outputs["float"], acts["fc2"], rtol=1e-9, atol=1e-9)
    float_acc = float(np.mean(np.argmax(acts["fc2"], axis=1) == y))
    assert r.accuracy["float"] == pytest.approx(float_acc)
    assert r.accuracy["exact"] >= float_acc - 0.03
    # first layer: the integer result is within the rounding bound of the float product
    flat = x.reshape(len(x), -1)
    one = run_functional(arch, _single_linear(64, 32), {"fc": weights["fc1"]}, flat)
    bound = _quantization_bound(flat, weights["fc1"].astype(float),
                                arch.precision.input_bits, Encoding.from_arch(arch))
    got = one.outputs["exact"] - one.outputs["float"]
    assert np.all(np.abs(got) <= bound * (1 + 1e-9))


def _single_linear(k: int, o: int, relu: bool = False):
    return workload_from_dict({"name": "one", "input": [k, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "in_channels": k, "out_channels": o, "relu": relu}]})


def test_hand_computed_single_linear_layer():
    # 8-bit differential: weights with max |w| = 127/127 map to integers w * 127 exactly;
    # inputs with max 1 map to x * 255: y_int = x_q @ w_int.T, y = y_int / (255 * 127).
    w_int = np.array([[127, -64, 0, 5], [-3, 10, 100, -127]])
    x_q = np.array([[255, 0, 17, 2], [1, 2, 3, 4], [0, 0, 0, 255]])
    arch = _arch(TINY)  # 8-bit inputs and weights, lossless 8-bit ADC, no noise
    r = run_functional(arch, _single_linear(4, 2), {"fc": w_int / 127.0}, x_q / 255.0,
                       method="bitplane")
    expected_int = np.array([[255 * 127 + 5 * 2, -255 * 3 + 1700 - 254],
                             [127 - 128 + 20, -3 + 20 + 300 - 508],
                             [5 * 255, -127 * 255]])
    np.testing.assert_array_equal(x_q @ w_int.T, expected_int)
    for path in ("exact", "analog"):
        np.testing.assert_allclose(r.outputs[path], expected_int / (255 * 127), rtol=1e-12)


def test_biases_are_added_digitally_and_negative_inputs_run_as_two_passes():
    w = np.array([[0.5, -1.0, 0.25], [1.0, 0.0, -0.5]])
    bias = np.array([0.1, -0.2])
    x = np.array([[1.0, -0.5, 0.25], [-1.0, 1.0, 0.0]])  # signed: positive and negative parts
    r = run_functional(_arch(TINY), _single_linear(3, 2), {"fc": w}, x, biases={"fc": bias},
                       method="bitplane")
    np.testing.assert_allclose(r.outputs["float"], x @ w.T + bias)
    np.testing.assert_array_equal(r.outputs["analog"], r.outputs["exact"])
    np.testing.assert_allclose(r.outputs["exact"], x @ w.T + bias, atol=0.02)


def test_conv_pool_add_concat_groups_match_numpy_and_are_exact_when_ideal():
    workload = workload_from_dict({"name": "mix", "input": [4, 9, 9], "layers": [
        {"name": "c1", "type": "conv", "in_channels": 4, "out_channels": 6, "kernel": 3,
         "padding": 1, "groups": 2},
        {"name": "c2", "type": "conv", "in_channels": 6, "out_channels": 6, "kernel": [3, 1],
         "stride": [2, 1], "padding": [1, 0], "relu": False},
        {"name": "c3", "type": "conv", "inputs": ["c1"], "in_channels": 6, "out_channels": 6,
         "kernel": 1, "stride": [2, 1]},
        {"name": "sum", "type": "add", "inputs": ["c2", "c3"], "relu": True},
        {"name": "cat", "type": "concat", "inputs": ["sum", "c3"]},
        {"name": "p", "type": "pool", "kernel": 3, "stride": 2, "padding": 1, "mode": "avg"},
        {"name": "q", "type": "pool", "kernel": 2},
        {"name": "fc", "type": "linear", "in_channels": 24, "out_channels": 3, "relu": False},
    ]})
    rng = np.random.default_rng(0)
    weights = {la.name: rng.standard_normal((la.out_channels, la.fan_in)).reshape(
        la.out_channels, la.in_channels // la.groups, *la.kernel) for la in workload.mvm_layers}
    weights["fc"] = weights["fc"].reshape(3, 24)
    x = rng.random((5, 4, 9, 9)) - 0.3  # negative pixels: the first layer runs two passes
    r = run_functional(_arch(IDEAL), workload, weights, x, method="bitplane")
    acts, _ = forward(workload, weights, x)
    np.testing.assert_allclose(r.outputs["float"], acts["fc"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.outputs["exact"], acts["fc"], rtol=1e-3, atol=1e-3)
    assert all(row["max_abs_err"] == 0.0 for row in r.layers)


def test_lenet_with_random_weights_is_exact_under_ideal():
    from xbarsim.workload.weights import random_weights
    workload = load_workload(LENET)
    weights = random_weights(workload, 3)
    x = np.random.default_rng(1).random((3, 1, 28, 28))
    r = run_functional(_arch(IDEAL), workload, weights, x)
    acts, _ = forward(workload, weights, x)
    np.testing.assert_allclose(r.outputs["float"], acts["fc3"], rtol=1e-9, atol=1e-9)
    assert all(row["max_abs_err"] == 0.0 for row in r.layers)


# ---------------------------------------------------------------------- non-idealities


def test_read_noise_increases_the_error(capsys, tmp_path):
    rmse = []
    for sigma in ("0", "0.05"):
        out = tmp_path / sigma
        assert functional(capsys, "--arch", IDEAL, "--weights", WEIGHTS, "--seed", "1",
                          "--set", f"analog.read_noise_sigma={sigma}", "--limit", "100",
                          "--out", str(out))[0] == 0
        rmse.append([float(row["rmse"]) for row in read_csv(out / "functional.csv")][1:])
    assert rmse[0] == [0.0, 0.0]
    assert all(noisy > 0 for noisy in rmse[1])


def test_same_seed_gives_the_same_bytes(capsys, tmp_path):
    texts = []
    for run, seed in enumerate(("3", "3", "4")):
        out = tmp_path / str(run)
        assert functional(capsys, "--arch", ISAAC, "--weights", WEIGHTS, "--seed", seed,
                          "--set", "crossbar.adc.bits=6", "--out", str(out))[0] == 0
        texts.append((out / "functional.csv").read_bytes()
                     + (out / "functional_summary.csv").read_bytes())
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_fewer_adc_bits_do_not_raise_accuracy(digits):
    acc = {}
    for bits in (4, 6, 8):
        arch = _arch(ISAAC, f"crossbar.adc.bits={bits}")
        r = run_functional(arch, digits["workload"], digits["weights"], digits["x"],
                           digits["y"], seed=0)
        acc[bits] = r.accuracy["analog"]
    assert acc[4] <= acc[6] <= acc[8]
    assert acc[4] < acc[8]


def test_device_from_arch_reads_the_config():
    isaac = device_from_arch(_arch(ISAAC))
    assert isaac.program_tolerance == 0.02  # write_verify.tolerance, programming_error true
    assert (isaac.read_sigma, isaac.stuck_on_rate, isaac.r_wire_ohm) == (0.01, 0.0005, 1.0)
    assert (isaac.g_min_us, isaac.g_max_us) == (0.5, 500.0)
    single = device_from_arch(_arch(ISAAC, "write_verify.policy=single_pass"))
    assert single.program_tolerance == 0.1  # write_verify.single_pass_window
    wider = device_from_arch(_arch(ISAAC, "write_verify.policy=single_pass",
                                   "write_verify.single_pass_window=0.25"))
    assert wider.program_tolerance == 0.25
    off = device_from_arch(_arch(ISAAC, "analog.programming_error=false"))
    assert off.program_tolerance == 0.0
    xbar = analog_crossbar(_arch(ISAAC, "analog.adc_range=calibrated"))
    assert (xbar.adc_bits, xbar.adc_range.value, xbar.enc.rows) == (8, "calibrated", 128)


def test_analog_crossbar_from_the_config_equals_the_kernel_with_the_config_values():
    xbar = analog_crossbar(_arch(ISAAC))
    rng = np.random.default_rng(0)
    x, w = rng.integers(0, 2**16, (20, 40)), rng.integers(-(2**15), 2**15, (40, 3))
    by_hand = AnalogCrossbar(Encoding(weight_bits=16, input_bits=16, cell_bits=2, dac_bits=1,
                                      differential=False, rows=128, cols=128),
                             device=xbar.device, adc_bits=8, adc_range=AdcRange.FIXED)
    assert xbar == by_hand
    np.testing.assert_array_equal(crossbar_mvm(x, w, xbar, seed=2),
                                  crossbar_mvm(x, w, by_hand, seed=2))


# ---------------------------------------------------------------------- basis, limit, info


def test_basis_weights_run_and_match_their_float_forward(capsys, tmp_path):
    code, out, _ = functional(capsys, "--arch", IDEAL, "--basis", BASIS, "--out", str(tmp_path),
                              "--limit", "50")
    assert code == 0 and BASIS in out
    workload = load_workload(MLP)
    basis = load_basis(BASIS, workload)
    weights = {la.name: basis.reconstruct(la.name, workload) for la in workload.mvm_layers}
    data = np.load(DIGITS)
    acts, _ = forward(workload, weights, data["x"][:50])
    float_acc = float(np.mean(np.argmax(acts["fc2"], axis=1) == data["y"][:50]))
    assert f"float {float_acc:.4f}" in out
    (summary,) = read_csv(tmp_path / "functional_summary.csv")
    assert summary["images"] == "50" and summary["accuracy_analog"] == summary["accuracy_exact"]


def test_without_labels_the_accuracies_are_empty(capsys, tmp_path):
    inputs = tmp_path / "x.npz"
    write_npz(inputs, {"x": np.load(DIGITS)["x"][:7].reshape(7, 64)})  # flat [N, C*H*W]
    assert main(["functional", "--arch", TINY, "--workload", MLP, "--weights", WEIGHTS,
                 "--inputs", str(inputs), "--out", str(tmp_path)]) == 0
    assert "accuracy" not in capsys.readouterr().out
    assert read_csv(tmp_path / "functional_summary.csv") == [
        {"dataflow": "static", "accuracy_exact": "", "accuracy_analog": "", "images": "7",
         "accuracy_float": ""}]
    assert tuple(read_csv(tmp_path / "functional.csv")[0]) == ("dataflow", *LAYER_COLUMNS)


def test_info_weights_reports_lossless_adc_bits(capsys):
    assert main(["info", "--arch", ISAAC, "--workload", MLP, "--weights", WEIGHTS]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("layer"))
    assert head.split()[-1] == "lossless_adc_bits"
    arch = _arch(ISAAC)
    enc = Encoding.from_arch(arch)
    workload = load_workload(MLP)
    weights = load_weights(WEIGHTS, workload)
    for layer in workload.mvm_layers:
        (matrix,) = group_matrices(integer_weights(weights[layer.name], enc), layer)
        bits = lossless_adc_bits(matrix, weight_bits=16, cell_bits=2, dac_bits=1, rows=128,
                                 differential=False)
        row = next(line for line in lines if line.startswith(f"{layer.name} "))
        assert int(row.split()[-1]) == bits


# ---------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / "bad.npz"
    write_npz(path, arrays)
    return str(path)


@pytest.mark.parametrize(("make", "fragments"), [
    (lambda p: _bad_inputs(p, x=np.zeros((3, 1, 8, 7))), ("x", "shape [3, 1, 8, 7]")),
    (lambda p: _bad_inputs(p, x=np.zeros((3, 64)), y=np.zeros(2, int)), ("y", "3 integer")),
    (lambda p: _bad_inputs(p, y=np.zeros(2, int)), ("x", "missing")),
    (lambda p: _bad_inputs(p, x=np.zeros((3, 64)), labels=np.zeros(3, int)),
     ("labels", "unexpected key")),
    (lambda p: _bad_inputs(p, x=np.zeros((3, 64)), y=np.array([0, 1, 10])), ("y", "0..9")),
    (lambda p: _bad_inputs(p, x=np.full((3, 64), np.nan)), ("x", "NaN")),
    (lambda p: str(Path(p.mkdir(exist_ok=True) or p) / "missing.npz"), ("file not found",)),
])
def test_bad_inputs_are_one_line_errors(capsys, tmp_path, make, fragments):
    path = make(tmp_path)
    code = main(["functional", "--arch", TINY, "--workload", MLP, "--weights", WEIGHTS,
                 "--inputs", path])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert all(fragment in err for fragment in fragments), err


def test_non_npz_inputs_and_missing_weights_are_one_line_errors(capsys, tmp_path):
    text = tmp_path / "x.npz"
    text.write_text("not a zip")
    for argv, fragment in [
        (["--weights", WEIGHTS, "--inputs", str(text)], "not an NPZ"),
        (["--inputs", DIGITS], "--weights"),
        (["--weights", WEIGHTS, "--inputs", DIGITS, "--limit", "0"], "--limit"),
        (["--weights", DIGITS, "--inputs", DIGITS], "unexpected key"),
    ]:
        code = main(["functional", "--arch", TINY, "--workload", MLP, *argv])
        err = capsys.readouterr().err
        assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_shipped_digits_files_are_what_the_training_script_writes(tmp_path):
    import runpy
    import sys
    argv = sys.argv
    try:
        sys.argv = ["train_digits.py", "--out", str(tmp_path)]
        runpy.run_path(str(ROOT / "scripts" / "train_digits.py"), run_name="__main__")
    finally:
        sys.argv = argv
    for name in ("mlp_digits.weights.npz", "digits_test.npz"):
        assert (tmp_path / name).read_bytes() == (ROOT / "workloads" / name).read_bytes()


def test_failed_cells_end_outside_the_window():
    # every level-1 cell fails (rate 1), no level-0 cell does: level-1 cells land between the
    # tolerance (2% of the range = 0.06 levels of 2-bit cells) and the failed window (10% =
    # 0.3 levels) from their target, either side; level-0 cells stay inside +/- 0.06
    from xbarsim.functional.device import DeviceModel

    device = DeviceModel(program_tolerance=0.02, failed_rates=(0.0, 1.0, 0.0, 0.0),
                         failed_window=0.1)
    levels = np.repeat(np.array([0, 1]), 5000).reshape(2, 5000)
    held = device.program_levels(levels, 2, np.random.default_rng(0))
    error = held - levels
    assert np.abs(error[0]).max() <= 0.06
    assert np.abs(error[1]).min() >= 0.06 and np.abs(error[1]).max() <= 0.3
    assert 0.45 < (error[1] > 0).mean() < 0.55
    with pytest.raises(ValueError, match="failed_window"):
        DeviceModel(program_tolerance=0.02, failed_rates=(0.5,), failed_window=0.01)


def test_the_functional_model_fails_cells_at_the_timing_model_rates():
    # isaac_like: RADAR's 2-bit sdr cells capped at 100 pulses; the same per-level rates the
    # write-verify controllers count as failed_cells
    from xbarsim.programming.pulses import pulse_distribution

    arch = load_arch("arch_configs/isaac_like.yaml")
    rates = pulse_distribution(arch.write_verify, 2).fail
    device = device_from_arch(arch)
    assert device.failed_rates == pytest.approx(tuple(rates))
    assert device.failed_window == 0.1
    assert device_from_arch(load_arch("arch_configs/isaac_like.yaml",
                                      ["analog.programming_error=false"])).failed_rates == ()


def test_the_compile_bar_counts_what_numba_compiles_and_nothing_it_loads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A fresh jitted function compiles once inside ``compile_progress`` (the bar opens,
    counts it and closes); a second call compiles nothing."""
    from numba import njit

    from xbarsim.functional.kernel.compile_progress import compile_progress

    @njit(cache=False)
    def twice(x: int) -> int:
        return 2 * x

    with compile_progress(enabled=True) as bar:
        assert twice(21) == 42
    assert bar.compiled == 1 and bar.bar is None and bar.depth == 0
    assert "compiling the analog kernels (first run only; numba caches them)" in \
        capsys.readouterr().err
    with compile_progress(enabled=True) as bar:
        assert twice(4) == 8
    assert bar.compiled == 0 and capsys.readouterr().err == ""
