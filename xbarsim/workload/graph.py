"""The workload graph: layers in topological order, inferred shapes, MAC and weight counts.

Batch-norm is assumed folded into the preceding conv and biases are ignored, so parameters are
weights only. No I/O here: ``loader.py`` reads and writes YAML. Errors are ``XbarsimError`` with
a key path such as ``layers[3](conv3).in_channels``; the loader adds the file name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from xbarsim.errors import XbarsimError, clip, name_problem, show, suggest
from xbarsim.workload.layer import (
    INPUT,
    MAX_CHANNELS,
    MAX_SPATIAL,
    Layer,
    LayerType,
    Shape,
    infer_shape,
    layer_key,
)

MAX_LAYERS = 10_000
"""Most layers in a workload (the zoo's largest, DenseNet-121 on ImageNet, has 184)."""

MAX_LAYER_MACS = 2**44
"""Most multiply-accumulates of one layer per inference (1.8e13; the zoo's largest, VGG-16
ImageNet's conv1_2, has 1.85e9). Keeps every counter of a batch exact in int64 and float64."""

MAX_NETWORK_MACS = 2**48
"""Most multiply-accumulates of one inference over all layers (2.8e14)."""


@dataclass(frozen=True)
class Workload:
    """A network: input shape and layers in topological order, with shapes inferred and checked."""

    name: str
    """Workload name (the zoo uses the file stem)."""
    input_shape: Shape
    """Network input (C, H, W)."""
    layers: tuple[Layer, ...]
    """Layers in topological order; each reads only earlier layers or ``"input"``."""
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _shapes: dict[str, Shape] = field(init=False, repr=False, compare=False)
    _consumers: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        _check_header(self)
        index: dict[str, int] = {}
        shapes: dict[str, Shape] = {INPUT: self.input_shape}
        consumers: dict[str, list[str]] = {INPUT: []}
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise XbarsimError(f"expected a Layer, got {type(layer).__name__}",
                                   key=f"layers[{i}]")
            _check_names(i, layer, index, self.layers)
            try:
                shapes[layer.name] = _bounded(infer_shape(layer, [shapes[s] for s in layer.inputs]))
            except XbarsimError as exc:
                raise XbarsimError(exc.message, key=layer_key(i, layer.name, exc.key)) from None
            index[layer.name] = i
            consumers[layer.name] = []
            for src in dict.fromkeys(layer.inputs):
                consumers[src].append(layer.name)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_shapes", shapes)
        object.__setattr__(self, "_consumers", {k: tuple(v) for k, v in consumers.items()})
        for i, layer in enumerate(self.layers):
            _check_macs(i, layer, self.out_pixels(layer.name), self.macs(layer.name))
        if self.total_macs > MAX_NETWORK_MACS:
            raise XbarsimError(f"{self.total_macs:.3g} multiply-accumulates per inference "
                               f"(expected at most {MAX_NETWORK_MACS:.3g})", key="layers")

    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        return self.layers[self._position(name)]

    def output_shape(self, name: str) -> Shape:
        """(C, H, W) produced by layer ``name`` (or the network input); linear gives (O, 1, 1)."""
        self._check_known(name)
        return self._shapes[name]

    def input_shapes(self, name: str) -> tuple[Shape, ...]:
        """Shapes of the inputs of layer ``name``, in the order of its ``inputs``."""
        return tuple(self._shapes[s] for s in self.layer(name).inputs)

    def input_shape_of(self, name: str) -> Shape:
        """Shape of the first (for conv/linear/pool/flatten: only) input of layer ``name``."""
        return self.input_shapes(name)[0]

    def out_pixels(self, name: str) -> int:
        """P = H_out * W_out output pixels of an MVM layer (1 for linear); 0 if not MVM."""
        layer = self.layer(name)
        if layer.type is LayerType.LINEAR:
            return 1
        _, h, w = self._shapes[name]
        return h * w if layer.is_mvm else 0

    def macs(self, name: str) -> int:
        """Multiply-accumulates of one inference of layer ``name``: P * out_channels * K."""
        layer = self.layer(name)
        return self.out_pixels(name) * layer.out_channels * layer.fan_in

    def consumers(self, name: str) -> tuple[str, ...]:
        """Names of the layers that read the output of ``name`` (or of ``"input"``)."""
        self._check_known(name)
        return self._consumers[name]

    def readers(self, name: str, views: Collection[LayerType]) -> list[str]:
        """The layers that read the output of ``name``, each once, in order, looking through
        the consumers of the kinds ``views`` that are themselves read: such a view moves no
        data, so what it shows goes to whoever reads it."""
        readers: list[str] = []
        for consumer in self.consumers(name):
            through = self.layer(consumer).type in views and self.consumers(consumer)
            for reader in self.readers(consumer, views) if through else [consumer]:
                if reader not in readers:
                    readers.append(reader)
        return readers

    @property
    def outputs(self) -> tuple[str, ...]:
        """Layers whose output nobody reads: the network outputs."""
        return tuple(la.name for la in self.layers if not self._consumers[la.name])

    @property
    def mvm_layers(self) -> tuple[Layer, ...]:
        """The conv and linear layers, in order."""
        return tuple(la for la in self.layers if la.is_mvm)

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of one inference over all MVM layers."""
        return sum(self.macs(la.name) for la in self.mvm_layers)

    @property
    def total_params(self) -> int:
        """Weights of all MVM layers (biases and batch-norm ignored)."""
        return sum(la.params for la in self.layers)

    def _check_known(self, name: str) -> None:
        if name != INPUT:
            self._position(name)

    def _position(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            hint = suggest(name, self._index)
            raise XbarsimError(f"no layer named '{clip(name)}'{hint}", key=self.name) from None


def _check_header(workload: Workload) -> None:
    """Check the name, the input shape and that there are layers."""
    if not isinstance(workload.name, str) or not workload.name:
        raise XbarsimError(f"expected a non-empty string, got {show(workload.name)}", key="name")
    problem = name_problem(workload.name)
    if problem:
        raise XbarsimError(problem, key="name")
    shape = workload.input_shape
    if len(shape) != 3 or not all(_is_pos_int(v) for v in shape):
        raise XbarsimError(f"expected [C, H, W], three positive integers, got {show(list(shape))}",
                           key="input")
    if shape[0] > MAX_CHANNELS or max(shape[1:]) > MAX_SPATIAL:
        raise XbarsimError(f"got {show(list(shape))} (expected C <= {MAX_CHANNELS}, H and W <= "
                           f"{MAX_SPATIAL})", key="input")
    if not workload.layers:
        raise XbarsimError("expected at least one layer, got an empty list", key="layers")
    if len(workload.layers) > MAX_LAYERS:
        raise XbarsimError(f"got {len(workload.layers)} layers (expected at most {MAX_LAYERS})",
                           key="layers")


def _bounded(shape: Shape) -> Shape:
    """``shape`` if its height and width are within ``MAX_SPATIAL``; only padding makes a
    layer's output larger than its input, so a larger one is reported against ``padding``."""
    if max(shape[1:]) > MAX_SPATIAL:
        raise XbarsimError(f"output would be {shape[1]}x{shape[2]} (expected height and width "
                           f"<= {MAX_SPATIAL})", key="padding")
    return shape


def _check_macs(i: int, layer: Layer, pixels: int, macs: int) -> None:
    """A layer's MACs per inference (output pixels x weights) must stay below
    ``MAX_LAYER_MACS``."""
    if macs > MAX_LAYER_MACS:
        raise XbarsimError(f"{pixels} output pixels x {layer.params} weights = {macs:.3g} "
                           f"multiply-accumulates per inference (expected at most "
                           f"{MAX_LAYER_MACS:.3g} per layer)", key=layer_key(i, layer.name))


def _check_names(i: int, layer: Layer, index: dict[str, int], layers: Sequence[Layer]) -> None:
    """Reject duplicate names and inputs that are unknown or not earlier in the list."""
    if layer.name in index:
        first = index[layer.name]
        raise XbarsimError(f"duplicate layer name '{layer.name}' (first used by "
                           f"{layer_key(first, layer.name)}; expected unique names)",
                           key=layer_key(i, layer.name, "name"))
    for src in layer.inputs:
        if src == INPUT or src in index:
            continue
        key = layer_key(i, layer.name, "inputs")
        if src == layer.name:
            raise XbarsimError(f"layer reads its own output '{src}' (expected an earlier layer)",
                               key=key)
        later = {la.name: j for j, la in enumerate(layers) if j > i}
        if src in later:
            raise XbarsimError(f"input '{src}' is defined later, at {layer_key(later[src], src)} "
                               "(expected layers in topological order)", key=key)
        hint = suggest(src, [INPUT, *index])
        raise XbarsimError(f"input '{clip(src)}' is not a layer defined before this one{hint}",
                           key=key)


def _is_pos_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
