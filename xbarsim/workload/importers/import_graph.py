"""Assembling a Workload from an imported graph (ONNX or torch.fx), shared by both importers.

The importers walk their graph in topological order and call one method per operation. This
module names layers, tracks shapes, folds ReLU and batch-norm into the producing layer and keeps
the weights (docs/design.md section 4: conv ``[O, C/groups, kh, kw]``, linear ``[O, K]``, float32).
Biases are ignored, as everywhere in xbarsim; a note lists the layers whose bias was not zero.
Folding is checked: a tensor read both before and after a folded ReLU/batch-norm is an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from xbarsim.errors import XbarsimError
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import (
    INPUT,
    LAYER_NAME_MAX,
    Layer,
    LayerType,
    PoolMode,
    Shape,
    infer_shape,
)


@dataclass(frozen=True)
class Value:
    """An imported tensor: the layer producing it (or ``"input"``) at a given folding version."""

    layer: str
    """Producing layer name, or ``"input"`` for the network input."""
    version: int
    """How many ReLU/batch-norm folds the layer had when this tensor was made."""
    flat: bool
    """Whether the tensor is a [N, K] vector (after a flatten or a linear layer)."""


@dataclass
class ImportResult:
    """What an import yields: the workload, its weights and notes about what was approximated."""

    workload: Workload
    """The checked layer graph."""
    weights: dict[str, np.ndarray]
    """``layer name -> float32 weights`` for every conv and linear layer."""
    notes: list[str] = field(default_factory=list)
    """One-line remarks (ignored biases, ReLU6 treated as ReLU, ...), for the CLI to show."""


UNIQUE_SUFFIX = 7
"""Characters kept free for ``_unique``'s ``_<n>`` suffix."""


def sanitize(label: str, limit: int = LAYER_NAME_MAX) -> str:
    """A name from an ONNX/torch name: ``[A-Za-z0-9_.-]`` only, never empty or "input", at
    most ``limit`` characters (a longer one keeps its start and ends in a hash of the whole,
    so distinct long names stay distinct)."""
    name = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.-]", "_", label)).strip("_.-")
    name = name or "layer"
    name = f"{name}_" if name == INPUT else name
    if len(name) > limit:
        digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[:limit - len(digest) - 1]}-{digest}"
    return name


class GraphBuilder:
    """Accumulates layers with unique names, shapes, weights and fold bookkeeping."""

    def __init__(self, name: str, input_shape: Shape, *, flat_input: bool = False) -> None:
        self.name = name
        self.input_shape = input_shape
        self.input = Value(INPUT, 0, flat_input)
        """The network input."""
        self._layers: dict[str, Layer] = {}
        self._shapes: dict[str, Shape] = {INPUT: input_shape}
        self._version: dict[str, int] = {INPUT: 0}
        self._flat: dict[str, bool] = {INPUT: flat_input}
        self._read: set[tuple[str, int]] = set()
        self._biased: list[str] = []
        self.weights: dict[str, np.ndarray] = {}
        self.notes: list[str] = []

    def shape(self, value: Value) -> Shape:
        """(C, H, W) of a tensor ([K, 1, 1] when flat)."""
        return self._shapes[value.layer]

    def conv(self, label: str, src: Value, weight: np.ndarray, *, stride: tuple[int, int],
             padding: tuple[int, int], groups: int) -> Value:
        """Append a conv reading ``src`` with weights ``[O, C/groups, kh, kw]``."""
        channels = self.shape(src)[0]
        if weight.ndim != 4:
            raise XbarsimError(f"expected 4-D conv weights [O, C/groups, kh, kw], got shape "
                               f"{list(weight.shape)} (only 2-D convolutions are supported)")
        if weight.shape[1] * groups != channels:
            raise XbarsimError(f"weights {list(weight.shape)} with groups {groups} expect "
                               f"{weight.shape[1] * groups} input channels, the input has "
                               f"{channels}")
        layer = Layer(name=self._unique(label), type=LayerType.CONV, inputs=(self._use(src),),
                      relu=False, in_channels=channels, out_channels=weight.shape[0],
                      kernel=(weight.shape[2], weight.shape[3]), stride=stride, padding=padding,
                      groups=groups)
        return self._append(layer, weight)

    def linear(self, label: str, src: Value, weight: np.ndarray) -> Value:
        """Append a fully connected layer reading the flat tensor ``src``, weights ``[O, K]``."""
        if not src.flat:
            raise XbarsimError(f"input has shape {list(self.shape(src))}, not a flat vector "
                               "(expected a Flatten or a Reshape to [N, -1] before it)")
        size = self.shape(src)[0]
        if weight.ndim != 2 or weight.shape[1] != size:
            raise XbarsimError(f"weights have shape {list(weight.shape)} but the input has "
                               f"{size} features (expected [out, {size}])")
        layer = Layer(name=self._unique(label), type=LayerType.LINEAR, inputs=(self._use(src),),
                      relu=False, in_channels=size, out_channels=weight.shape[0])
        return self._append(layer, weight, flat=True)

    def pool(self, label: str, src: Value, *, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int], mode: PoolMode, ceil_mode: bool = False) -> Value:
        """Append a pool; ``ceil_mode`` is accepted only where it gives the floor size."""
        self._spatial(src)
        layer = Layer(name=self._unique(label), type=LayerType.POOL, inputs=(self._use(src),),
                      relu=False, kernel=kernel, stride=stride, padding=padding, mode=mode)
        if ceil_mode:
            _check_ceil(layer, self.shape(src))
        return self._append(layer)

    def global_pool(self, label: str, src: Value, mode: PoolMode) -> Value:
        """Append a pool whose kernel is the whole spatial size (output C x 1 x 1)."""
        _, h, w = self._spatial(src)
        return self.pool(label, src, kernel=(h, w), stride=(h, w), padding=(0, 0), mode=mode)

    def merge(self, label: str, kind: LayerType, srcs: Sequence[Value]) -> Value:
        """Append an add or a channel concat of ``srcs`` (a single source passes through)."""
        if len(srcs) == 1:
            return srcs[0]
        flat = all(s.flat for s in srcs)
        if kind is LayerType.CONCAT and any(s.flat for s in srcs) and not flat:
            raise XbarsimError("cannot concatenate a flat vector with a feature map")
        names = tuple(self._use(s) for s in srcs)
        return self._append(Layer(name=self._unique(label), type=kind, inputs=names,
                                  relu=False), flat=flat)

    def flatten(self, label: str, src: Value) -> Value:
        """Append a flatten to [C*H*W] (nothing to do when ``src`` is already flat)."""
        if src.flat:
            return src
        return self._append(Layer(name=self._unique(label), type=LayerType.FLATTEN,
                                  inputs=(self._use(src),), relu=False), flat=True)

    def relu(self, src: Value) -> Value:
        """Fold a ReLU into the layer producing ``src`` (its ``relu: true``)."""
        layer = self._foldable(src, "a ReLU")
        return self._refold(dataclasses.replace(layer, relu=True))

    def scale_channels(self, src: Value, scale: np.ndarray, shift: np.ndarray) -> Value:
        """Fold a per-channel affine map (batch-norm) into the conv/linear producing ``src``.

        Weights of output channel o are multiplied by ``scale[o]``; ``shift`` is a bias (ignored).
        """
        layer = self._pre_activation(src, "a batch-norm")
        if scale.shape != (layer.out_channels,):
            raise XbarsimError(f"batch-norm has {scale.size} channels, layer '{layer.name}' "
                               f"outputs {layer.out_channels}")
        shape = (-1,) + (1,) * (self.weights[layer.name].ndim - 1)
        self.weights[layer.name] = (self.weights[layer.name] * scale.reshape(shape)).astype(
            np.float32)
        self.note_bias(layer.name, shift)
        return self._refold(layer)

    def fold_bias(self, src: Value, bias: np.ndarray) -> Value:
        """Fold a bias added to a conv/linear output (ignored; noted when nonzero)."""
        layer = self._pre_activation(src, "a bias")
        self.note_bias(layer.name, bias)
        return self._refold(layer)

    def note_bias(self, layer: str, bias: np.ndarray | None) -> None:
        """Record that ``layer`` had a bias, which xbarsim ignores (noted when nonzero)."""
        if bias is not None and np.any(bias != 0) and layer not in self._biased:
            self._biased.append(layer)

    def build(self) -> ImportResult:
        """The finished workload and weights (re-checked by ``Workload``)."""
        notes = list(self.notes)
        if self._biased:
            notes.append(f"biases ignored (xbarsim models weights only) in {len(self._biased)} "
                         f"layer(s): {', '.join(self._biased)}")
        workload = Workload(self.name, self.input_shape, tuple(self._layers.values()))
        return ImportResult(workload, dict(self.weights), notes)

    def _unique(self, label: str) -> str:
        """A sanitized, unused layer name: ``name``, then ``name_2``, ``name_3``, ..."""
        base = sanitize(label, LAYER_NAME_MAX - UNIQUE_SUFFIX)
        name, n = base, 1
        while name in self._shapes:
            n += 1
            name = f"{base}_{n}"
        return name

    def _use(self, src: Value) -> str:
        """Mark ``src`` as read by a new layer; refuse a tensor from before a later fold."""
        if src.version != self._version[src.layer]:
            raise XbarsimError(f"reads the output of layer '{src.layer}' from before the "
                               "ReLU/batch-norm folded into that layer (cannot fold it; "
                               "expected the un-activated tensor to have no other readers)")
        self._read.add((src.layer, src.version))
        return src.layer

    def _foldable(self, src: Value, what: str) -> Layer:
        """The layer producing ``src``, if a ReLU/batch-norm on ``src`` may be folded into it."""
        if src.layer == INPUT:
            raise XbarsimError(f"cannot fold {what} applied to the network input (expected it "
                               "after a layer)")
        if (src.layer, src.version) in self._read or src.version != self._version[src.layer]:
            raise XbarsimError(f"cannot fold {what} into layer '{src.layer}': its output is "
                               f"also read without {what} (expected a single reader)")
        return self._layers[src.layer]

    def _pre_activation(self, src: Value, what: str) -> Layer:
        """The conv/linear layer producing ``src`` before its ReLU, to fold ``what`` into."""
        layer = self._foldable(src, what)
        if not layer.is_mvm or layer.relu:
            where = "after its ReLU" if layer.relu else f"after a {layer.type.value} layer"
            raise XbarsimError(f"cannot fold {what} {where} (expected it right after a conv "
                               "or linear layer)")
        return layer

    def _refold(self, layer: Layer) -> Value:
        """Store a folded layer and return its new output version."""
        self._layers[layer.name] = layer
        self._version[layer.name] += 1
        return Value(layer.name, self._version[layer.name], self._flat[layer.name])

    def _spatial(self, src: Value) -> Shape:
        """Shape of a feature-map tensor; flat vectors cannot be pooled."""
        if src.flat:
            raise XbarsimError(f"expected a feature map [N, C, H, W], got a flat vector of "
                               f"{self.shape(src)[0]} features")
        return self.shape(src)

    def _append(self, layer: Layer, weight: np.ndarray | None = None, *,
                flat: bool = False) -> Value:
        self._shapes[layer.name] = infer_shape(layer, [self._shapes[s] for s in layer.inputs])
        self._layers[layer.name] = layer
        self._version[layer.name] = 0
        if weight is not None:
            self.weights[layer.name] = np.ascontiguousarray(weight, dtype=np.float32)
        self._flat[layer.name] = flat
        return Value(layer.name, 0, flat)


def _check_ceil(layer: Layer, shape: Shape) -> None:
    """Refuse ceil_mode pooling when it would give a larger output than the floor rule."""
    for axis, size in enumerate(shape[1:]):
        span = size + 2 * layer.padding[axis] - layer.kernel[axis]
        if span % layer.stride[axis]:
            raise XbarsimError("ceil_mode gives a larger output than xbarsim's floor rule for "
                               f"input {shape[1]}x{shape[2]} (expected ceil_mode off, or sizes "
                               "where both agree)")
