"""Functional runs (docs/design.md section 9): a workload's layers on real inputs, three ways in
lockstep.

- ``float``: float weights and activations (the reference the network was trained as).
- ``exact``: what an ideal integer accelerator computes: weights quantized per layer by
  ``integer_weights`` (weight_bits), activations re-quantized to ``input_bits`` unsigned at the
  input of every conv/linear layer, integer products exact.
- ``analog``: the same integers through the crossbar kernel (per layer, per group), with this
  architecture's device, DAC, cells and ADC (``device_config.analog_crossbar``).

Re-quantization: the input of MVM layer l is coded as ``clip(round(x / s_l), 0, 2**b - 1)`` with
``s_l = max |x|`` over the first ``CALIBRATION_IMAGES`` images of the *exact* path's activations
/ (2**b - 1): a fixed, deterministic per-layer calibration shared by the exact and analog paths
(later images may clip). A layer whose exact input has negative values (no ReLU before it) runs
twice, on the positive and the negated negative part (``y = W x+ - W x-``), as DACs are unsigned;
both paths follow the exact path's choice (an analog input's stray negatives then clip to 0).
Outputs return to real units as ``y_int * s_l * s_w`` (s_w from ``weight_scale``); biases, when
given, are added digitally; ReLU follows when the layer says so. Pool, add, concat and flatten
run in float on real values (layers.py).

Errors (``layer_error``): per layer, the analog path's output vs the exact path's output of that
layer, both in real units and after ReLU; each path propagates its own activations, so a layer's
error includes what earlier layers passed on (as on the chip). RMSE and max |error| over all
output elements of all images; SNR = 10 log10(mean(exact**2) / mean(error**2)) dB, +inf when the
outputs are equal. Accuracy: argmax of the last layer's output against the labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from xbarsim.basis.basis_set import BasisSet
from xbarsim.config.schema import Arch
from xbarsim.errors import XbarsimError
from xbarsim.functional.basis_path import (
    analog_basis_matmul,
    exact_basis_matmul,
    prepare_basis_layer,
)
from xbarsim.functional.dataset import check_dataset
from xbarsim.functional.device_config import analog_crossbar
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.functional.kernel.wrapper import Method, crossbar_mvm, exact_mvm
from xbarsim.functional.layers import (
    activation_scale,
    apply_layer,
    col2im,
    im2col,
    quantize_unsigned,
    weight_scale,
)
from xbarsim.functional.seeds import derive_seed
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.weights_map import group_matrices, integer_weights
from xbarsim.workload import INPUT, Layer, Workload

CALIBRATION_IMAGES = 64
"""Images whose exact activations fix each layer's input scale."""
CHUNK_ELEMENTS = 1 << 22
"""im2col elements per kernel call (32 MB of int64): large calls, bounded memory."""
PATHS = ("float", "exact", "analog")
"""The three forward passes, in the order they run for each layer."""
LAYER_COLUMNS = ("layer", "rmse", "max_abs_err", "snr_db")
"""Columns of ``functional.csv``."""
SUMMARY_COLUMNS = ("accuracy_exact", "accuracy_analog", "images", "accuracy_float")
"""Columns of ``functional_summary.csv`` (accuracies empty without labels)."""

MatMul = Callable[[np.ndarray, Any, tuple[int, ...]], np.ndarray]
"""(x [M, K], w [K, O] or a BasisGroup, (group, chunk, part)) -> y [M, O]."""


class Prepared(NamedTuple):
    """One MVM layer's weights in every form the paths need."""

    float_groups: list[np.ndarray]
    """Per group, float weights [K, O/G]."""
    int_groups: list[Any]
    """Per group, what the integer paths multiply by: integer weights [K, O/G]
    (``integer_weights``), or a ``basis_path.BasisGroup`` for the basis dataflow."""
    scale: float | np.ndarray
    """Real value of one integer output step: a float, or one per output channel [O]."""
    bias: np.ndarray | None
    """[O] added digitally after the product, or None."""


@dataclass(frozen=True)
class FunctionalResult:
    """Per-layer errors, accuracies and the last layer's outputs of one functional run."""

    layers: tuple[dict[str, Any], ...]
    """One row per workload layer with ``LAYER_COLUMNS``."""
    accuracy: dict[str, float | None]
    """Top-1 accuracy (fraction) per path; None without labels."""
    outputs: dict[str, np.ndarray]
    """Last layer's output [N, classes] per path, real units."""
    images: int
    """Images run."""

    @property
    def summary(self) -> dict[str, Any]:
        """The ``functional_summary.csv`` row."""
        return {"accuracy_exact": self.accuracy["exact"],
                "accuracy_analog": self.accuracy["analog"], "images": self.images,
                "accuracy_float": self.accuracy["float"]}


def run_functional(arch: Arch, workload: Workload, weights: Mapping[str, np.ndarray],
                   x: np.ndarray, labels: np.ndarray | None = None, *,
                   biases: Mapping[str, np.ndarray] | None = None, seed: int = 0,
                   method: str | Method = Method.AUTO,
                   basis: BasisSet | None = None) -> FunctionalResult:
    """Run ``workload`` on images ``x`` ([N, C, H, W] or [N, C*H*W]) in float, exact integers
    and through the analog kernel; deterministic for a given ``seed``. With ``basis`` the MVM
    layers compute as the basis hardware does (``basis_path``) and ``weights`` may be empty."""
    xbar = analog_crossbar(arch)
    data = check_dataset(x, labels, workload)
    last = workload.layers[-1].name
    _check_labels(data.y, workload, last)
    if basis is None:
        _check_bits(workload, xbar.enc)
        prepared = {layer.name: _prepare(layer, weights[layer.name],
                                         (biases or {}).get(layer.name), xbar.enc)
                    for layer in workload.mvm_layers}
        exact: MatMul = _exact_matmul
    else:
        _check_basis_bits(xbar.enc, basis)
        prepared = {layer.name: _prepare_basis(layer, basis, workload, arch,
                                               (biases or {}).get(layer.name))
                    for layer in workload.mvm_layers}
        exact = exact_basis_matmul
    acts: dict[str, dict[str, np.ndarray]] = {p: {INPUT: data.x} for p in PATHS}
    last_use = _last_use(workload)
    rows = []
    for index, layer in enumerate(workload.layers):
        ins = {p: [acts[p][s] for s in layer.inputs] for p in PATHS}
        if layer.is_mvm:
            analog = (_analog_matmul(xbar, seed, index, method) if basis is None else
                      analog_basis_matmul(xbar, basis.basis_bits, seed, index, method))
            outs = _mvm_paths(layer, ins, prepared[layer.name], xbar.enc, workload, exact,
                              analog)
        else:
            outs = {p: apply_layer(layer, ins[p]) for p in PATHS}
        for p in PATHS:
            acts[p][layer.name] = np.maximum(outs[p], 0.0) if layer.relu else outs[p]
        rows.append(layer_error(layer.name, acts["exact"][layer.name],
                                acts["analog"][layer.name]))
        for name in [n for n, i in last_use.items() if i == index and n not in workload.outputs]:
            for p in PATHS:
                del acts[p][name]
    outputs = {p: acts[p][last].reshape(len(data.x), -1) for p in PATHS}
    accuracy = {p: _accuracy(outputs[p], data.y) for p in PATHS}
    return FunctionalResult(tuple(rows), accuracy, outputs, len(data.x))


def layer_error(name: str, exact: np.ndarray, analog: np.ndarray) -> dict[str, Any]:
    """RMSE, max |error| and SNR (dB) of ``analog`` against ``exact`` (same units)."""
    diff = (np.asarray(analog, np.float64) - exact).ravel()
    mse = float(np.mean(diff**2))
    signal = float(np.mean(np.square(exact, dtype=np.float64)))
    snr = _snr_db(signal, mse)
    return {"layer": name, "rmse": math.sqrt(mse), "max_abs_err": float(np.max(np.abs(diff))),
            "snr_db": snr}


def _snr_db(signal: float, noise: float) -> float:
    """10 log10(signal / noise); +inf without noise, -inf with noise but no signal."""
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


def _mvm_paths(layer: Layer, ins: dict[str, list[np.ndarray]], prep: Prepared, enc: Encoding,
               workload: Workload, exact: MatMul, analog: MatMul) -> dict[str, np.ndarray]:
    """One conv/linear layer on the three paths (before ReLU), real units."""
    out_hw = workload.output_shape(layer.name)[1:]
    exact_in = ins["exact"][0]
    bits = enc.input_bits
    scale = activation_scale(exact_in[:CALIBRATION_IMAGES], bits)
    signed = bool((exact_in < 0).any())

    def integer_path(x: np.ndarray, matmul: MatMul) -> np.ndarray:
        parts = [x, -x] if signed else [x]
        total = sum((1 - 2 * k) * _grouped(quantize_unsigned(part, scale, bits), layer,
                                           prep.int_groups, matmul, out_hw, k)
                    for k, part in enumerate(parts))
        return np.asarray(total) * (scale * _per_channel(prep.scale))

    outs = {
        "float": _grouped(ins["float"][0], layer, prep.float_groups, _float_matmul, out_hw, 0),
        "exact": integer_path(exact_in, exact),
        "analog": integer_path(ins["analog"][0], analog),
    }
    if prep.bias is not None:
        outs = {p: y + prep.bias[None, :, None, None] for p, y in outs.items()}
    return outs


def _grouped(x: np.ndarray, layer: Layer, groups: list[np.ndarray], matmul: MatMul,
             out_hw: tuple[int, int], part: int) -> np.ndarray:
    """[N, O, Ho, Wo] = per group, im2col(x) @ w, over image chunks of ~CHUNK_ELEMENTS."""
    pixels = out_hw[0] * out_hw[1]
    per_chunk = max(1, CHUNK_ELEMENTS // (pixels * layer.fan_in))
    outs = []
    for chunk, n0 in enumerate(range(0, len(x), per_chunk)):
        xs = x[n0:n0 + per_chunk]
        cols = im2col(xs, layer)
        y = np.stack([matmul(cols[g], w, (g, chunk, part)) for g, w in enumerate(groups)])
        outs.append(col2im(y, layer, len(xs), out_hw))
    return np.concatenate(outs)


def _float_matmul(x: np.ndarray, w: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
    return x @ w


def _exact_matmul(x: np.ndarray, w: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
    return exact_mvm(x, w)


def _analog_matmul(xbar: AnalogCrossbar, seed: int, index: int, method: str | Method) -> MatMul:
    """Kernel calls of layer ``index``: group g is one programmed array (its cells drawn from
    (seed, index, g)); each chunk and signed part draws fresh read noise."""
    def matmul(x: np.ndarray, w: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
        return crossbar_mvm(x, w, xbar, seed=derive_seed(seed, index, key[0]),
                            read_seed=derive_seed(seed, index, *key), method=method)
    return matmul


def _prepare(layer: Layer, w: np.ndarray, bias: np.ndarray | None, enc: Encoding) -> Prepared:
    w = np.asarray(w, dtype=np.float64)
    w_int = integer_weights(w, enc)
    return Prepared(group_matrices(w, layer), group_matrices(w_int, layer),
                    weight_scale(w, w_int), None if bias is None else np.asarray(bias, float))


def _prepare_basis(layer: Layer, basis: BasisSet, workload: Workload, arch: Arch,
                   bias: np.ndarray | None) -> Prepared:
    b = prepare_basis_layer(layer, basis, workload, Encoding.from_arch(arch), arch.basis.combine)
    return Prepared(b.float_groups, list(b.groups), b.scale,
                    None if bias is None else np.asarray(bias, float))


def _per_channel(scale: float | np.ndarray) -> float | np.ndarray:
    """A per-output-channel scale shaped to multiply [N, O, H, W]."""
    return scale if np.ndim(scale) == 0 else np.asarray(scale)[None, :, None, None]


def _last_use(workload: Workload) -> dict[str, int]:
    """Index of the last layer reading each activation (the input included)."""
    last: dict[str, int] = {}
    for index, layer in enumerate(workload.layers):
        for src in layer.inputs:
            last[src] = index
    return last


def _check_bits(workload: Workload, enc: Encoding) -> None:
    """Integer sums must stay exact in float64: input_bits + weight_bits + ceil(log2 K) <= 50."""
    for layer in workload.mvm_layers:
        need = enc.input_bits + enc.weight_bits + math.ceil(math.log2(layer.fan_in))
        if need > 50:
            raise XbarsimError(f"input_bits + weight_bits + ceil(log2 K) = {need} for layer "
                               f"{layer.name} (expected <= 50 so integer sums stay exact)",
                               key="precision")


def _check_basis_bits(enc: Encoding, basis: BasisSet) -> None:
    """Projections stay exact in float64: input_bits + basis_bits + ceil(log2 L) <= 50."""
    need = enc.input_bits + basis.basis_bits + math.ceil(math.log2(max(2, basis.length)))
    if need > 50:
        raise XbarsimError(f"input_bits + basis_bits + ceil(log2 L) = {need} (expected <= 50 so "
                           "projections stay exact)", key="basis_bits")


def _check_labels(y: np.ndarray | None, workload: Workload, last: str) -> None:
    classes = int(np.prod(workload.output_shape(last)))
    if y is not None and (y.min() < 0 or y.max() >= classes):
        raise XbarsimError(f"labels {y.min()}..{y.max()} (expected 0..{classes - 1}, the outputs "
                           f"of layer {last})", key="y")


def _accuracy(logits: np.ndarray, y: np.ndarray | None) -> float | None:
    return None if y is None else float(np.mean(np.argmax(logits, axis=1) == y))
