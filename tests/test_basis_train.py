"""``basis train`` (BasisN-style training, torch) and ``export_torch``: determinism, lower loss and
error than the closed-form fit, the contention penalty, the file format, CLI errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from xbarsim.basis import fit_basis, load_basis
from xbarsim.basis.analog_groups import analog_steps
from xbarsim.basis.export import export_torch
from xbarsim.cli.main import main
from xbarsim.functional.dataset import Dataset, load_dataset
from xbarsim.workload import load_workload
from xbarsim.workload.weights import load_weights

torch = pytest.importorskip("torch")

from xbarsim.functional.basis_train import TrainOptions, train_basis  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = ROOT / "workloads" / "mlp_digits.yaml"
WEIGHTS = ROOT / "workloads" / "mlp_digits.weights.npz"
DIGITS = ROOT / "workloads" / "digits_test.npz"


@pytest.fixture(scope="module")
def digits() -> tuple:
    workload = load_workload(WORKLOAD)
    return workload, load_weights(WEIGHTS, workload), load_dataset(DIGITS, workload)


def test_export_torch_writes_the_levels_it_is_given(tmp_path: Path, digits: tuple) -> None:
    """Coefficients that are already levels x per-output scale come back as those levels."""
    workload, weights, _ = digits
    fitted, _ = fit_basis(workload, weights, length=16, basis_size=6, coeff_bits=4)
    real = {name: torch.tensor(fitted.coeffs[name] * fitted.channel_scales(name)[None, :, None])
            for name in fitted.layers}
    out = tmp_path / "b.npz"
    export_torch(out, workload, torch.tensor(fitted.basis), real, basis_bits=8, coeff_bits=4)
    loaded = load_basis(out, workload)
    np.testing.assert_array_equal(loaded.basis, fitted.basis)
    for name in fitted.layers:
        np.testing.assert_array_equal(loaded.coeffs[name], fitted.coeffs[name])
        np.testing.assert_allclose(loaded.channel_scales(name), fitted.channel_scales(name),
                                   rtol=1e-12)


def _train(digits: tuple, **kw: object) -> tuple:
    workload, weights, data = digits
    options = TrainOptions(**{"length": 16, "basis_size": 6, "coeff_bits": 3, "epochs": 3,
                              "batch": 60, **kw})  # type: ignore[arg-type]
    epochs: list = []
    basis_set, layers = train_basis(workload, weights, {}, data, data, options,
                                    on_epoch=epochs.append)
    return basis_set, layers, epochs


def test_training_is_deterministic_and_beats_the_fit(digits: tuple) -> None:
    """Same seed, same coefficients; the trained set classifies better than the fitted start
    and its task loss falls from the first epoch to the last."""
    first, layers, epochs = _train(digits)
    second, _, _ = _train(digits)
    for name in first.layers:
        np.testing.assert_array_equal(first.coeffs[name], second.coeffs[name])
    np.testing.assert_array_equal(first.basis, second.basis)
    assert epochs[-1].loss < epochs[0].loss
    workload, weights, data = digits
    fitted, _ = fit_basis(workload, weights, length=16, basis_size=6, coeff_bits=3)
    assert _accuracy(first, workload, data) > _accuracy(fitted, workload, data)
    assert [r.layer for r in layers] == ["fc1", "fc2"]


def test_reconstruction_term_lowers_the_weight_error(digits: tuple) -> None:
    """Trained towards the original weights only, the quantized reconstruction gets closer to
    them than the closed-form fit (which rounds least-squares coefficients independently)."""
    _, layers, _ = _train(digits, task=0.0, reconstruction=1.0, epochs=4)
    for report in layers:
        fitted_error, trained_error = report.relative_error
        assert trained_error < fitted_error


def test_contention_penalty_lowers_analog_steps(digits: tuple) -> None:
    """A strong penalty on outputs sharing basis vectors leaves fewer analog conversion steps."""
    plain, _, _ = _train(digits, batch=30, lr_coeff=0.2)
    shared, _, _ = _train(digits, batch=30, lr_coeff=0.2, contention=5.0)
    workload, _, _ = digits
    steps = [sum(analog_steps(s.coeffs[layer.name], s.coeff_bits, layer.groups)[0]
                 for layer in workload.mvm_layers) for s in (plain, shared)]
    assert steps[1] < steps[0]


def _accuracy(basis_set, workload, data: Dataset) -> float:
    """Float accuracy of the reconstructed network (bias-free MLP: ReLU between layers)."""
    h = data.x.reshape(len(data.x), -1)
    for layer in workload.mvm_layers:
        h = h @ basis_set.reconstruct(layer.name, workload).T
        h = np.maximum(h, 0) if layer.relu else h
    return float(np.mean(np.argmax(h, axis=1) == data.y))


def test_cli_trains_writes_and_is_byte_reproducible(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    args = ["basis", "train", "--workload", str(WORKLOAD), "--weights", str(WEIGHTS),
            "--data", str(DIGITS), "--length", "16", "--basis-size", "6", "--epochs", "1",
            "--batch", "90"]
    digests = []
    for name in ("a.npz", "b.npz"):
        assert main([*args, "--out", str(tmp_path / name)]) == 0
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    out = capsys.readouterr().out
    assert "epoch 1: loss" in out and "analog_steps_trained" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["--epochs", "0"], "--epochs: expected an integer >= 1, got 0"),
    (["--contention", "-1"], "--contention: expected a finite number >= 0"),
    (["--data", "imagenet"], "imagenet"),
])
def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                    message: str) -> None:
    args = ["basis", "train", "--workload", str(WORKLOAD), "--weights", str(WEIGHTS),
            "--data", str(DIGITS), "--out", str(tmp_path / "b.npz"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "b.npz").exists()
