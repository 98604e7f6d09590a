"""A naive NumPy forward pass of a Workload with its weights, the reference for import tests.

Float64 throughout; conv by sliding windows and einsum per group; biases are zero by design.
Also counts MACs from the tensors it computes (output elements x weight fan-in), independently
of ``Workload.macs``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from xbarsim.workload import INPUT, Layer, LayerType, PoolMode, Workload


def _windows(x: np.ndarray, layer: Layer, fill: float) -> np.ndarray:
    """[N, C, Ho, Wo, kh, kw] windows of the padded input."""
    ph, pw = layer.padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    win = sliding_window_view(padded, layer.kernel, axis=(2, 3))
    return win[:, :, ::layer.stride[0], ::layer.stride[1]]


def conv(x: np.ndarray, weight: np.ndarray, layer: Layer) -> np.ndarray:
    """Grouped 2-D convolution, [N, C, H, W] -> [N, O, Ho, Wo]."""
    win = _windows(x, layer, 0.0)
    cg, og = x.shape[1] // layer.groups, weight.shape[0] // layer.groups
    outs = [np.einsum("nchwij,ocij->nohw", win[:, g * cg:(g + 1) * cg],
                      weight[g * og:(g + 1) * og].astype(np.float64))
            for g in range(layer.groups)]
    return np.concatenate(outs, axis=1)


def pool(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Max (padding -inf) or average (padding counted as zeros) pooling."""
    if layer.mode is PoolMode.MAX:
        return _windows(x, layer, -np.inf).max(axis=(4, 5))
    return _windows(x, layer, 0.0).mean(axis=(4, 5))


def layer_output(layer: Layer, ins: list[np.ndarray], weight: np.ndarray | None) -> np.ndarray:
    """One layer's output from its inputs (ReLU applied when the layer says so)."""
    kind = layer.type
    if kind is LayerType.CONV:
        out = conv(ins[0], weight, layer)
    elif kind is LayerType.LINEAR:
        out = ins[0].reshape(len(ins[0]), -1) @ weight.astype(np.float64).T
    elif kind is LayerType.POOL:
        out = pool(ins[0], layer)
    elif kind is LayerType.ADD:
        out = np.sum(ins, axis=0)
    elif kind is LayerType.CONCAT:
        out = np.concatenate(ins, axis=1)
    else:
        out = ins[0].reshape(len(ins[0]), -1)
    return np.maximum(out, 0.0) if layer.relu else out


def forward(workload: Workload, weights: dict[str, np.ndarray],
            x: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """Every layer's output for a batch ``x`` and the MACs of one sample."""
    acts = {INPUT: x.astype(np.float64)}
    macs = 0
    for layer in workload.layers:
        weight = weights.get(layer.name)
        out = layer_output(layer, [acts[s] for s in layer.inputs], weight)
        if weight is not None:
            macs += out[0].size * int(np.prod(weight.shape[1:]))
        acts[layer.name] = out
    return acts, macs
