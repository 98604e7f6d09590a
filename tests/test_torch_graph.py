"""``functional.torch_graph``: the torch forward of a workload equals the NumPy reference and the
simulator's float path (biases included), batch norm folds exactly, weights passed at forward
time replace the module's own, and the shipped Fashion-MNIST models classify the same images
the same way in torch and in the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.numpy_forward import forward
from xbarsim.config import load_arch
from xbarsim.functional.datasets import FASHION_DEFAULT, load_named_dataset
from xbarsim.functional.network import run_functional
from xbarsim.workload import PoolMode, Workload, load_workload
from xbarsim.workload.builder import NetBuilder
from xbarsim.workload.weights import load_biases, load_weights, random_weights

torch = pytest.importorskip("torch")

from xbarsim.functional.torch_graph import build_torch_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IDEAL = load_arch(ROOT / "arch_configs" / "ideal.yaml", [])


def workload(name: str) -> Workload:
    return load_workload(ROOT / "workloads" / f"{name}.yaml")


def tiny_graph() -> Workload:
    """Grouped conv, max and average pools padded beyond half the kernel (torch's pools refuse
    that), concat, flatten and linear in one graph."""
    b = NetBuilder("tiny", (2, 9, 9))
    stem = b.conv("stem", 4, 3, stride=2)
    b.conv("grouped", 4, 3, groups=2, relu=False)
    left = b.pool("max", 3, stride=1, padding=2)
    right = b.pool("avg", 1, stride=1, padding=1, mode=PoolMode.AVG, src=stem)
    b.concat("cat", [left, right], relu=True)
    b.flatten("flat")
    b.linear("fc", 5, relu=False)
    return b.build()


def logits(model: torch.nn.Module, x: np.ndarray, **kw: object) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(x, dtype=torch.float32), **kw).double().numpy()


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal to 1e-5 of the largest magnitude (float32 against float64 sums)."""
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("name", ["mlp_digits", "lenet5_fashion", "resnet20_fashion", "tiny"])
def test_torch_forward_equals_the_numpy_reference(name: str) -> None:
    w = tiny_graph() if name == "tiny" else workload(name)
    weights = random_weights(w, 3)
    x = np.random.default_rng(0).random((2, *w.input_shape))
    want = forward(w, weights, x)[0][w.layers[-1].name].reshape(2, -1)
    assert_close(logits(build_torch_model(w, weights, {}), x), want)


def test_biases_match_the_simulators_float_path() -> None:
    w = workload("lenet5_fashion")
    weights = random_weights(w, 1)
    rng = np.random.default_rng(1)
    biases = {layer.name: rng.normal(size=layer.out_channels) for layer in w.mvm_layers}
    x = rng.random((3, 1, 28, 28))
    result = run_functional(IDEAL, w, weights, x, biases=biases)
    assert_close(logits(build_torch_model(w, weights, biases), x), result.outputs["float"])


def test_batch_norm_folds_into_the_exported_weights_and_biases() -> None:
    w = workload("resnet20_fashion")
    torch.manual_seed(0)
    model = build_torch_model(w, batch_norm=True)
    for norm in model.norm.values():  # non-trivial statistics and affine parameters
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    arrays = model.export_arrays()
    assert list(arrays) == ([f"weights/{la.name}" for la in w.mvm_layers]
                            + [f"bias/{la.name}" for la in w.mvm_layers])
    assert all(a.dtype == np.float32 for a in arrays.values())
    folded = build_torch_model(w, {k[8:]: v for k, v in arrays.items() if k[:8] == "weights/"},
                               {k[5:]: v for k, v in arrays.items() if k[:5] == "bias/"})
    x = np.random.default_rng(2).random((2, 1, 28, 28))
    assert_close(logits(folded, x), logits(model, x))


def test_weights_at_forward_time_replace_the_modules_own() -> None:
    w = workload("lenet5_fashion")
    own, other = random_weights(w, 0), random_weights(w, 1)
    model = build_torch_model(w, own, {})
    x = np.random.default_rng(3).random((2, 1, 28, 28))
    tensors = {name: torch.tensor(v, requires_grad=True) for name, v in other.items()}
    out = model(torch.tensor(x, dtype=torch.float32), weights=tensors)
    assert_close(out.detach().double().numpy(), logits(build_torch_model(w, other, {}), x))
    out.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in tensors.values())
    assert all(p.grad is None for p in model.weight)


@pytest.mark.skipif(not FASHION_DEFAULT.is_dir(), reason="apt-get install dataset-fashion-mnist")
@pytest.mark.parametrize("name", ["lenet5_fashion", "resnet20_fashion"])
def test_shipped_model_classifies_like_the_simulators_float_path(name: str) -> None:
    """The trained weights give the same logits (and accuracy) in torch and in the simulator."""
    w = workload(name)
    path = ROOT / "workloads" / f"{name}.weights.npz"
    weights, biases = load_weights(path, w), load_biases(path, w)
    data = load_named_dataset("fashion-mnist", "test")
    x, y = data.x[:16], data.y[:16]
    result = run_functional(IDEAL, w, weights, x, y, biases=biases)
    torch_logits = logits(build_torch_model(w, weights, biases), x)
    assert_close(torch_logits, result.outputs["float"])
    assert np.mean(torch_logits.argmax(1) == y) == result.accuracy["float"] >= 0.75
