"""A workload's layers as a torch module, built from the graph so it cannot drift from the YAML.

``build_torch_model`` walks ``workload.layers``: conv (groups, stride, padding) and linear with
optional biases, max/avg pooling (max pads with -inf, avg counts zero padding, as
``functional.layers``), add, concat, flatten, and a ReLU wherever ``layer.relu``. Activations stay
[N, C, H, W] (linear and flatten give [N, O, 1, 1]); the module returns the last layer's output
flattened to [N, classes].

``forward(x, weights=...)`` takes per-layer weight tensors that replace the module's own (the
basis trainer passes weights reconstructed from a basis). With ``batch_norm=True`` every conv is
followed by a BatchNorm2d for training; ``export_arrays`` folds it into the conv's weights and
bias, so the exported network is exactly the workload's conv(+bias)+ReLU graph.

Needs torch (the optional ``train`` extra); nothing else in the package imports this module at
import time.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch.nn.functional import avg_pool2d, conv2d, linear, max_pool2d, pad, relu

from xbarsim.workload import INPUT, Layer, LayerType, PoolMode, Workload
from xbarsim.workload.weights import weight_shape


class TorchGraph(torch.nn.Module):
    """The workload's network; MVM layer i's weight is ``weight[i]`` (order of ``mvm_layers``),
    its bias ``bias[i]`` (absent when the layer has none), its batch norm ``norm[i]``."""

    def __init__(self, workload: Workload, weights: Mapping[str, np.ndarray] | None,
                 biases: Mapping[str, np.ndarray] | None, batch_norm: bool) -> None:
        super().__init__()
        self.workload = workload
        self.slot = {layer.name: i for i, layer in enumerate(workload.mvm_layers)}
        """MVM layer name -> index into ``weight``, ``bias`` and ``norm``."""
        self.weight = torch.nn.ParameterList(
            [_initial_weight(layer, weights) for layer in workload.mvm_layers])
        self.bias = torch.nn.ParameterDict(
            {str(i): torch.nn.Parameter(_initial_bias(layer, biases))
             for i, layer in enumerate(workload.mvm_layers)
             if biases is None or layer.name in biases})
        self.norm = torch.nn.ModuleDict(
            {str(i): torch.nn.BatchNorm2d(layer.out_channels)
             for i, layer in enumerate(workload.mvm_layers)
             if batch_norm and layer.type is LayerType.CONV})

    def forward(self, x: torch.Tensor,
                weights: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits [N, classes] of images x [N, C, H, W] (or [N, C*H*W]); ``weights`` (layer
        name -> tensor of the layer's weight shape) replace the module's own for those layers."""
        acts = {INPUT: x.reshape(len(x), *self.workload.input_shape)}
        for layer in self.workload.layers:
            ins = [acts[src] for src in layer.inputs]
            out = self._mvm(layer, ins[0], weights) if layer.is_mvm else _digital(layer, ins)
            acts[layer.name] = relu(out) if layer.relu else out
        return acts[self.workload.layers[-1].name].reshape(len(x), -1)

    def _mvm(self, layer: Layer, x: torch.Tensor,
             weights: Mapping[str, torch.Tensor] | None) -> torch.Tensor:
        """One conv or linear layer (bias and batch norm included), before its ReLU."""
        key = str(self.slot[layer.name])
        w = self.weight[self.slot[layer.name]]
        if weights is not None and layer.name in weights:
            w = weights[layer.name]
        b = self.bias.get(key)
        if layer.type is LayerType.LINEAR:
            return linear(x.reshape(len(x), -1), w, b)[:, :, None, None]
        out = conv2d(x, w, b, stride=layer.stride, padding=layer.padding, groups=layer.groups)
        return self.norm[key](out) if key in self.norm else out

    @torch.no_grad()
    def export_arrays(self) -> dict[str, np.ndarray]:
        """``weights/<layer>`` and ``bias/<layer>`` float32 arrays in the weights-file format
        (layer order), batch norm folded in with its running statistics."""
        weights, biases = {}, {}
        for layer in self.workload.mvm_layers:
            key = str(self.slot[layer.name])
            w = self.weight[self.slot[layer.name]].detach().double()
            b = self.bias[key].detach().double() if key in self.bias else None
            if key in self.norm:
                w, b = _fold(w, b, self.norm[key])
            weights[f"weights/{layer.name}"] = w.float().numpy()
            if b is not None:
                biases[f"bias/{layer.name}"] = b.float().numpy()
        return {**weights, **biases}


def build_torch_model(workload: Workload, weights: Mapping[str, np.ndarray] | None = None,
                      biases: Mapping[str, np.ndarray] | None = None, *,
                      batch_norm: bool = False) -> TorchGraph:
    """The workload as a float32 torch module (module doc).

    ``weights``: per MVM layer, its weight array; None draws He-normal weights from torch's
    global generator (seed it first). ``biases``: per layer, its [O] bias; layers missing from
    the mapping have none; None gives every MVM layer a trainable zero bias.
    """
    return TorchGraph(workload, weights, biases, batch_norm)


def _initial_weight(layer: Layer, weights: Mapping[str, np.ndarray] | None) -> torch.nn.Parameter:
    """The given weights as float32, else He-normal (std sqrt(2 / fan-in)) ones."""
    if weights is not None:
        return torch.nn.Parameter(torch.tensor(np.asarray(weights[layer.name]),
                                                dtype=torch.float32))
    w = torch.empty(weight_shape(layer))
    torch.nn.init.normal_(w, std=float(np.sqrt(2.0 / layer.fan_in)))
    return torch.nn.Parameter(w)


def _initial_bias(layer: Layer, biases: Mapping[str, np.ndarray] | None) -> torch.Tensor:
    """The given [O] bias as float32, else zeros."""
    if biases is None:
        return torch.zeros(layer.out_channels)
    return torch.tensor(np.asarray(biases[layer.name]), dtype=torch.float32)


def _fold(w: torch.Tensor, b: torch.Tensor | None,
          norm: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv weight [O, ...] and bias [O] with inference-mode batch norm folded in:
    gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta."""
    assert isinstance(norm, torch.nn.BatchNorm2d) and norm.running_var is not None
    assert norm.running_mean is not None
    gain = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    shift = (b if b is not None else torch.zeros_like(gain)) - norm.running_mean.double()
    return w * gain[:, None, None, None], shift * gain + norm.bias.double()


def _digital(layer: Layer, ins: list[torch.Tensor]) -> torch.Tensor:
    """A pool, add, concat or flatten layer (no ReLU), as ``functional.layers.apply_layer``."""
    kind = layer.type
    if kind is LayerType.POOL:
        return _pool(ins[0], layer)
    if kind is LayerType.ADD:
        return torch.stack(ins).sum(dim=0)
    if kind is LayerType.CONCAT:
        return torch.cat(ins, dim=1)
    return ins[0].reshape(len(ins[0]), -1, 1, 1)


def _pool(x: torch.Tensor, layer: Layer) -> torch.Tensor:
    """Max pooling pads with -inf, average pooling with zeros that count in the mean; padding
    is explicit because torch's pools refuse padding above half the kernel."""
    ph, pw = layer.padding
    if layer.mode is PoolMode.MAX:
        padded = pad(x, (pw, pw, ph, ph), value=-float("inf")) if ph or pw else x
        return max_pool2d(padded, layer.kernel, layer.stride)
    padded = pad(x, (pw, pw, ph, ph)) if ph or pw else x
    return avg_pool2d(padded, layer.kernel, layer.stride)
