"""Weight tensors of a workload: ``weights/<layer>`` NPZ loading and checking, random weights.

Shapes (docs/design.md section 4): conv ``[out_channels, in_channels / groups, kh, kw]``, linear
``[out_channels, in_channels]``. Optional ``bias/<layer>`` arrays ``[out_channels]`` are accepted
(and checked) so files of trained models load; the crossbar model ignores biases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from xbarsim.errors import XbarsimError, suggest
from xbarsim.io.npz_file import read_npz
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import Layer, LayerType

PREFIXES = ("weights/", "bias/")
"""Key prefixes a weights file may use."""

MAX_MAGNITUDE = 1e30
"""Largest absolute value accepted in a weights, inputs or basis file: far beyond any trained
network, small enough that products and sums of a few of them stay finite in float64."""

MIN_PEAK = 1e-30
"""Smallest nonzero largest-magnitude of a tensor: quantization divides by it (a tensor of only
subnormals would overflow); single tiny or subnormal values in a tensor are fine."""


def weight_shape(layer: Layer) -> tuple[int, ...]:
    """The weight tensor shape of an MVM layer (conv 4-D, linear 2-D)."""
    if layer.type is LayerType.LINEAR:
        return (layer.out_channels, layer.in_channels)
    return (layer.out_channels, layer.in_channels // layer.groups, *layer.kernel)


def load_weights(path: str | os.PathLike[str], workload: Workload) -> dict[str, np.ndarray]:
    """``weights/<layer>`` of every MVM layer, keyed by layer name, checked against the graph."""
    return _load(path, workload)["weights/"]


def load_biases(path: str | os.PathLike[str], workload: Workload) -> dict[str, np.ndarray]:
    """The optional ``bias/<layer>`` arrays present in a weights file, keyed by layer name."""
    return _load(path, workload)["bias/"]


def _load(path: str | os.PathLike[str], workload: Workload) -> dict[str, dict[str, np.ndarray]]:
    """Split a weights file by prefix and check every array."""
    file = str(path)
    found: dict[str, dict[str, np.ndarray]] = {prefix: {} for prefix in PREFIXES}
    mvm = {layer.name: layer for layer in workload.mvm_layers}
    for key, value in read_npz(path).items():
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None:
            raise XbarsimError("unexpected key (expected weights/<layer> or bias/<layer>)",
                               file=file, key=key)
        name = key[len(prefix):]
        if name not in mvm:
            raise XbarsimError(unknown_layer_message(name, workload), file=file, key=key)
        found[prefix][name] = value
    try:
        check_weights(found["weights/"], workload)
        for name, bias in found["bias/"].items():
            _check_array(bias, (mvm[name].out_channels,), f"bias/{name}")
    except XbarsimError as err:
        raise err.at(file=file) from None
    return found


def unknown_layer_message(name: str, workload: Workload) -> str:
    """Message for a key naming a layer that is not an MVM layer of the workload."""
    names = [layer.name for layer in workload.layers]
    if name in names:
        return f"layer '{name}' is not a conv or linear layer (it has no weights)"
    mvm = [layer.name for layer in workload.mvm_layers]
    return f"no conv or linear layer named '{name}' in workload {workload.name}{suggest(name, mvm)}"


def check_weights(weights: Mapping[str, np.ndarray], workload: Workload) -> None:
    """Every MVM layer has a finite real array of its weight shape; no unknown layers."""
    mvm = {layer.name for layer in workload.mvm_layers}
    for name in weights:
        if name not in mvm:
            raise XbarsimError(unknown_layer_message(name, workload), key=f"weights/{name}")
    for layer in workload.mvm_layers:
        key = f"weights/{layer.name}"
        if layer.name not in weights:
            raise XbarsimError(f"missing (expected a {list(weight_shape(layer))} array for "
                               f"every conv and linear layer)", key=key)
        _check_array(weights[layer.name], weight_shape(layer), key)


def _check_array(value: object, shape: tuple[int, ...], key: str) -> None:
    """A finite real (non-bool) numeric array of exactly ``shape``."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise XbarsimError(f"expected a real numeric array, got {kind}", key=key)
    if value.shape != shape:
        raise XbarsimError(f"shape {list(value.shape)} (expected {list(shape)})", key=key)
    check_values(value, key)


def check_values(value: np.ndarray, key: str) -> None:
    """Finite values of magnitude at most ``MAX_MAGNITUDE``, the largest 0 or at least
    ``MIN_PEAK`` (subnormal values beside larger ones are fine)."""
    if value.size == 0:
        return
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise XbarsimError("contains NaN or infinite values (expected finite numbers)", key=key)
    largest = max(abs(float(value.min())), abs(float(value.max())))
    if largest > MAX_MAGNITUDE:
        raise XbarsimError(f"contains a value of magnitude {largest:.3g} (expected at most "
                           f"{MAX_MAGNITUDE:g})", key=key)
    if 0 < largest < MIN_PEAK:
        raise XbarsimError(f"largest magnitude is {largest:.3g} (expected all zeros or a largest "
                           f"magnitude of at least {MIN_PEAK:g}: quantizing smaller values "
                           "overflows)", key=key)


MAX_RANDOM_WEIGHTS = 2**28
"""Most weights drawn at random for a network (1 GiB as float32, about 3 GiB while a basis is
fitted to them); VGG-16 ImageNet, the zoo's largest, has 138 M."""


def check_random_size(workload: Workload) -> None:
    """Refuse a network too large to draw random weights for (``MAX_RANDOM_WEIGHTS``)."""
    if workload.total_params > MAX_RANDOM_WEIGHTS:
        raise XbarsimError(
            f"{workload.name} has {workload.total_params:,} weights: random float32 weights "
            f"would take {4 * workload.total_params / 2**30:.1f} GiB (expected at most "
            f"{MAX_RANDOM_WEIGHTS:,} weights; give a weights or basis file instead)",
            key="weights")


def random_weights(workload: Workload, seed: int) -> dict[str, np.ndarray]:
    """He-normal float32 weights (std sqrt(2 / K)) per MVM layer, deterministic in ``seed``.

    Each layer draws from its own generator seeded with ``(seed, layer index)``, so a layer's
    weights do not depend on the layers before it.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise XbarsimError(f"expected a non-negative integer, got {seed!r}", key="seed")
    check_random_size(workload)
    weights = {}
    for index, layer in enumerate(workload.layers):
        if layer.is_mvm:
            rng = np.random.default_rng([seed, index])
            std = np.float32(np.sqrt(2.0 / layer.fan_in))
            weights[layer.name] = rng.standard_normal(weight_shape(layer), np.float32) * std
    return weights
