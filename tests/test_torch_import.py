"""PyTorch import via torch.fx: round trip against the model's own output, names, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional  # noqa: E402

from tests.numpy_forward import forward  # noqa: E402
from xbarsim.errors import XbarsimError  # noqa: E402
from xbarsim.workload import LayerType, PoolMode  # noqa: E402
from xbarsim.workload.importers.torch_import import MISSING_TORCH, from_torch, import_torch  # noqa: E402


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out)]


class Block(nn.Module):
    """Basic residual block with a projection shortcut."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv_bn(8, 16, 3, 2)
        self.conv2, self.bn2 = conv_bn(16, 16, 3)
        self.shortcut = nn.Sequential(*conv_bn(8, 16, 1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return torch.relu(out)


class Net(nn.Module):
    """Stem, max pool, residual block, concat branch, adaptive average pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 8, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.layer1 = Block()
        self.branch1 = nn.Conv2d(16, 8, 1, bias=False)
        self.branch2 = nn.Conv2d(16, 8, 3, padding="same", groups=2, bias=False)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(self.stem(x))
        x = torch.cat([functional.relu(self.branch1(x)), self.branch2(x).relu()], dim=1)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Head(nn.Module):
    """AvgPool2d, Dropout, view(x.size(0), -1), Linear + BatchNorm1d + ReLU6, Identity."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 3 * 3, 6, bias=False)
        self.bn = nn.BatchNorm1d(6)
        self.act = nn.ReLU6()
        self.out = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.pool(self.conv(x)))
        return self.out(self.act(self.bn(self.fc(x.view(x.size(0), -1)))))


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Random BN scale and variance with zero shift (biases are ignored); eval mode."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.weight.data.uniform_(-1.5, 1.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_round_trip_matches_torch():
    model = randomize(Net(), 0)
    workload, weights = from_torch(model, (3, 16, 16), name="net")
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    acts, macs = forward(workload, weights, x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    (final,) = workload.outputs
    np.testing.assert_allclose(acts[final], expected, rtol=1e-4, atol=1e-4)
    assert macs == workload.total_macs


def test_names_and_structure():
    workload, weights = from_torch(randomize(Net(), 0), (3, 16, 16))
    names = [la.name for la in workload.layers]
    assert names == ["stem.0", "stem.3", "layer1.conv1", "layer1.conv2", "layer1.shortcut.0",
                     "add", "branch1", "branch2", "cat", "avgpool", "flatten", "fc"]
    layers = {la.name: la for la in workload.layers}
    assert layers["stem.0"].relu and not layers["layer1.conv2"].relu
    assert layers["add"].type is LayerType.ADD and layers["add"].relu
    assert layers["branch2"].groups == 2 and layers["branch2"].padding == (1, 1)
    assert layers["avgpool"].mode is PoolMode.AVG and layers["avgpool"].kernel == (4, 4)
    assert weights["fc"].shape == (10, 16) and weights["fc"].dtype == np.float32


def test_head_view_batchnorm1d_relu6():
    model = randomize(Head(), 2)
    result = import_torch(model, (2, 6, 6), name="head")
    workload = result.workload
    assert [la.type.value for la in workload.layers] == ["conv", "pool", "flatten", "linear"]
    assert workload.layers[-1].relu
    assert any("ReLU6 'act'" in n for n in result.notes)
    assert any("biases ignored" in n and "conv" in n for n in result.notes)
    with torch.no_grad():
        model.conv.bias.zero_()
    workload, weights = from_torch(model, (2, 6, 6))
    x = np.random.default_rng(3).uniform(-1, 1, (2, 2, 6, 6)).astype(np.float32)
    acts, _ = forward(workload, weights, x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert expected.max() < 6
    np.testing.assert_allclose(acts["fc"], expected, rtol=1e-4, atol=1e-4)


class Softmaxed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.soft = nn.Softmax(dim=1)
        self.conv2 = nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.soft(self.conv1(x)))


class Sigmoided(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if x.sum() > 0 else x


@pytest.mark.parametrize(("model", "fragments"), [
    (Softmaxed(), ["module 'soft' (Softmax): unsupported module type Softmax"]),
    (Sigmoided(), ["node 'sigmoid' (sigmoid): unsupported function"]),
    (Branchy(), ["torch.fx cannot trace Branchy"]),
    (nn.Sequential(nn.Conv2d(3, 3, 3, dilation=2)), ["module '0' (Conv2d)", "dilation"]),
    (nn.Sequential(nn.Linear(3, 2)), ["module '0' (Linear)", "not a flat vector"]),
    (nn.Sequential(nn.Conv2d(3, 3, 1), nn.LSTM(3, 3)), ["unsupported module type LSTM"]),
    ("not a model", ["expected a torch.nn.Module, got str"]),
])
def test_errors_are_one_line(model, fragments):
    with pytest.raises(XbarsimError) as info:
        from_torch(model, (3, 8, 8))
    text = str(info.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text


def test_bad_input_shape():
    with pytest.raises(XbarsimError, match="input_shape: expected"):
        from_torch(nn.Sequential(nn.Conv2d(3, 3, 1)), (3, 8))


def test_missing_torch_package(monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 3, 1))
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(XbarsimError) as info:
        from_torch(model, (3, 8, 8))
    assert str(info.value) == MISSING_TORCH
