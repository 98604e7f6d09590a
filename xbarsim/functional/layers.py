"""The digital side of a functional run: im2col, pooling, add, concat, flatten and the
unsigned re-quantization of activations before each crossbar layer.

Activations are ``[N, C, H, W]`` arrays throughout (linear and flatten outputs are
``[N, O, 1, 1]``), so every layer reads the same layout. Pooling follows the workload's shape rule
floor((H + 2p - k) / s) + 1: max pooling pads with -inf, average pooling counts zero padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from xbarsim.workload import Layer, LayerType, PoolMode


def windows(x: np.ndarray, layer: Layer, fill: float = 0) -> np.ndarray:
    """[N, C, Ho, Wo, kh, kw] windows of the padded input (a view where no padding is needed)."""
    ph, pw = layer.padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    win = sliding_window_view(x, layer.kernel, axis=(2, 3))
    return win[:, :, :: layer.stride[0], :: layer.stride[1]]


def im2col(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Patches [G, N * P, K] of an MVM layer's input [N, C, H, W]; fan-in ordered c, i, j per
    group as ``group_matrices`` orders weights (linear: G = P = 1, K = C*H*W)."""
    N = x.shape[0]
    if layer.type is LayerType.LINEAR:
        return x.reshape(1, N, -1)
    win = windows(x, layer)
    G = layer.groups
    _, C, Ho, Wo, kh, kw = win.shape
    win = win.reshape(N, G, C // G, Ho, Wo, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    return win.reshape(G, N * Ho * Wo, -1)


def col2im(y: np.ndarray, layer: Layer, n_images: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Per-group outputs [G, N * P, O / G] -> [N, O, Ho, Wo] (channel o = g * O/G + j)."""
    G, _, og = y.shape
    ho, wo = out_hw
    return y.reshape(G, n_images, ho, wo, og).transpose(1, 0, 4, 2, 3).reshape(
        n_images, G * og, ho, wo
    )


def pool(x: np.ndarray, layer: Layer) -> np.ndarray:
    """Max (padding -inf) or average (zero padding counted) pooling."""
    if layer.mode is PoolMode.MAX:
        return windows(x, layer, -np.inf).max(axis=(4, 5))
    return windows(x, layer, 0.0).mean(axis=(4, 5))


def apply_layer(layer: Layer, ins: Sequence[np.ndarray]) -> np.ndarray:
    """Output of a pool, add, concat or flatten layer (no ReLU)."""
    kind = layer.type
    if kind is LayerType.POOL:
        return pool(ins[0], layer)
    if kind is LayerType.ADD:
        return np.sum(ins, axis=0)
    if kind is LayerType.CONCAT:
        return np.concatenate(ins, axis=1)
    if kind is LayerType.FLATTEN:
        return ins[0].reshape(len(ins[0]), -1, 1, 1)
    raise ValueError(f"apply_layer handles pool/add/concat/flatten, not {kind.value}")


def activation_scale(calibration: np.ndarray, bits: int) -> float:
    """Real value of one input step: max |x| of the calibration activations / (2**bits - 1),
    so the largest calibration magnitude maps to the top code; 1.0 when all are zero."""
    peak = float(np.max(np.abs(calibration))) if calibration.size else 0.0
    return peak / ((1 << bits) - 1) if peak > 0 else 1.0


def quantize_unsigned(x: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """round(x / scale) clipped to [0, 2**bits - 1] as int64 (negative values become 0)."""
    return np.clip(np.rint(x / scale), 0, (1 << bits) - 1).astype(np.int64)


def weight_scale(w: np.ndarray, w_int: np.ndarray) -> float:
    """Real value of one integer weight step: max |w| / max |w_int| (``integer_weights`` maps
    the largest magnitude to the top code); 0.0 for an all-zero layer."""
    top = int(np.max(np.abs(w_int))) if w_int.size else 0
    return float(np.max(np.abs(w))) / top if top else 0.0
