"""One layer of a workload: its type, its fields, their checks and its output-shape rule.

Batch-norm is assumed folded into the preceding conv and biases are ignored, so ``params`` counts
weights only. Errors raised here carry the field name as key; callers prefix the layer's path.
Sizes are bounded (``MAX_*``) so that an absurd layer is a one-line error at load time rather
than an overflow or an endless run later.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from xbarsim.errors import XbarsimError, name_problem, show

Shape = tuple[int, int, int]
"""A tensor shape (C, H, W); vectors are (N, 1, 1)."""

INPUT = "input"
"""The name by which layers refer to the network input."""

LAYER_NAME_MAX = 128
"""Longest layer name. Longer than a workload name (64) because importers derive layer names
from ONNX node paths: torchvision's EfficientNet already gives 61-character names such as
``features_features.1_features.1.0_block_block.0_block.0.0_Conv``."""

MAX_CHANNELS = 2**20
"""Largest channel count (conv and pool channels, linear outputs, groups, network input)."""

MAX_FEATURES = 2**31
"""Largest linear ``in_channels``: a flattened C*H*W, so it may exceed ``MAX_CHANNELS``."""

MAX_KERNEL = 2**10
"""Largest kernel and padding per axis."""

MAX_SPATIAL = 2**16
"""Largest height or width of any tensor, and largest stride."""

MAX_WEIGHTS = 2**34
"""Largest weight count of one layer (VGG-16's largest, fc1, has about 2**26.6)."""


class LayerType(enum.Enum):
    """What a layer computes."""

    CONV = "conv"
    """2-D convolution, an MVM layer (batch-norm folded in, bias ignored)."""
    LINEAR = "linear"
    """Fully connected MVM layer; ``in_channels`` is the flattened input size C*H*W."""
    POOL = "pool"
    """Max or average pooling over kernel windows; keeps the channel count."""
    ADD = "add"
    """Element-wise sum of two or more inputs of the same shape (residual connections)."""
    CONCAT = "concat"
    """Channel concatenation of two or more inputs with the same height and width."""
    FLATTEN = "flatten"
    """Reshape (C, H, W) to (C*H*W, 1, 1); a linear layer flattens implicitly anyway."""


class PoolMode(enum.Enum):
    """How a pool layer reduces a window."""

    MAX = "max"
    """Maximum of the window."""
    AVG = "avg"
    """Mean of the window (global average pooling: kernel = spatial size)."""


MVM_TYPES = frozenset({LayerType.CONV, LayerType.LINEAR})
"""Layer types computed as matrix-vector multiplications on crossbars."""

MULTI_INPUT_TYPES = frozenset({LayerType.ADD, LayerType.CONCAT})
"""Layer types that take two or more inputs; all others take exactly one."""


def layer_key(index: int, name: object, attr: str | None = None) -> str:
    """Key path of a layer in errors: ``layers[3](conv3)``, ``layers[3](conv3).kernel``."""
    base = f"layers[{index}]({name})" if isinstance(name, str) else f"layers[{index}]"
    return f"{base}.{attr}" if attr else base


def default_relu(kind: LayerType) -> bool:
    """Whether a ReLU follows by default: yes after conv and linear, no after the others."""
    return kind in MVM_TYPES


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer; fields irrelevant to its type keep their defaults (checked on construction)."""

    name: str
    """Unique name; ``"input"`` is reserved for the network input."""
    type: LayerType
    """What the layer computes."""
    inputs: tuple[str, ...]
    """Names of the producing layers (or ``"input"``), all earlier in the workload."""
    relu: bool
    """Whether a ReLU follows the output (YAML default: ``default_relu(type)``)."""
    in_channels: int = 0
    """Input channels (conv), flattened input size (linear); 0 = inferred (pool, optional)."""
    out_channels: int = 0
    """Output channels (conv) or features (linear); 0 = inferred (pool, optional)."""
    kernel: tuple[int, int] = (1, 1)
    """Window (height, width) of conv and pool."""
    stride: tuple[int, int] = (1, 1)
    """Step (height, width) of conv and pool (pool default in YAML: the kernel)."""
    padding: tuple[int, int] = (0, 0)
    """Zero padding (height, width) added on each side, conv and pool."""
    groups: int = 1
    """Conv groups; divides in_channels and out_channels (depthwise: groups = channels)."""
    mode: PoolMode = PoolMode.MAX
    """Pool reduction (left at max for every other type)."""

    def __post_init__(self) -> None:
        check_layer(self)

    @property
    def is_mvm(self) -> bool:
        """Whether the layer runs on crossbars (conv or linear)."""
        return self.type in MVM_TYPES

    @property
    def fan_in(self) -> int:
        """K = (in_channels / groups) * kh * kw, the length of a weight column; 0 if not MVM."""
        if not self.is_mvm:
            return 0
        return self.in_channels // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def out_per_group(self) -> int:
        """O = out_channels / groups, weight columns per group; 0 if not MVM."""
        return self.out_channels // self.groups if self.is_mvm else 0

    @property
    def params(self) -> int:
        """Weights, out_channels * K (biases and batch-norm ignored); 0 if not MVM."""
        return self.out_channels * self.fan_in


def _fail(key: str, message: str) -> XbarsimError:
    return XbarsimError(message, key=key)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_layer(layer: Layer) -> None:
    """Check field types and values that do not depend on the input shape."""
    if not isinstance(layer.name, str) or not layer.name:
        raise _fail("name", f"expected a non-empty string, got {show(layer.name)}")
    problem = name_problem(layer.name, limit=LAYER_NAME_MAX)
    if problem:
        raise _fail("name", problem)
    if layer.name == INPUT:
        raise _fail("name", f"'{INPUT}' is reserved for the network input")
    if not isinstance(layer.type, LayerType):
        raise _fail("type", f"expected a LayerType, got {show(layer.type)}")
    if not isinstance(layer.relu, bool):
        raise _fail("relu", f"expected true or false, got {show(layer.relu)}")
    if not isinstance(layer.mode, PoolMode):
        raise _fail("mode", f"expected a PoolMode, got {show(layer.mode)}")
    _check_inputs(layer)
    _check_pair(layer.kernel, "kernel", minimum=1, maximum=MAX_KERNEL)
    _check_pair(layer.stride, "stride", minimum=1, maximum=MAX_SPATIAL)
    _check_pair(layer.padding, "padding", minimum=0, maximum=MAX_KERNEL)
    _check_channels(layer)
    _check_unused(layer)
    _check_weights(layer)


def _check_inputs(layer: Layer) -> None:
    inputs = layer.inputs
    if not isinstance(inputs, tuple) or not all(isinstance(s, str) and s for s in inputs):
        raise _fail("inputs", f"expected a tuple of layer names, got {show(inputs)}")
    if layer.type in MULTI_INPUT_TYPES and len(inputs) < 2:
        raise _fail("inputs", f"{layer.type.value} needs at least 2 inputs, got {len(inputs)}")
    if layer.type not in MULTI_INPUT_TYPES and len(inputs) != 1:
        raise _fail("inputs", f"{layer.type.value} takes exactly 1 input, got {len(inputs)}")


def _check_pair(value: object, key: str, *, minimum: int, maximum: int) -> None:
    """An (h, w) pair of integers in ``minimum..maximum``."""
    if (not isinstance(value, tuple) or len(value) != 2 or not all(_is_int(v) for v in value)
            or min(value) < minimum):
        what = "positive" if minimum > 0 else "non-negative"
        raise _fail(key, f"expected {what} integers (h, w), got {show(value)}")
    if max(value) > maximum:
        raise _fail(key, f"got {show(list(value))} (expected <= {maximum} per axis)")


def _check_channels(layer: Layer) -> None:
    """Channels and groups: positive for MVM layers, optional (0) for pool, absent otherwise."""
    floor = 1 if layer.is_mvm else 0
    for key in ("in_channels", "out_channels", "groups"):
        value = getattr(layer, key)
        if not _is_int(value) or value < (1 if key == "groups" else floor):
            raise _fail(key, f"expected a positive integer, got {show(value)}")
        flat = key == "in_channels" and layer.type is LayerType.LINEAR
        ceiling = MAX_FEATURES if flat else MAX_CHANNELS
        if value > ceiling:
            raise _fail(key, f"got {show(value)} (expected <= {ceiling})")
    if layer.type is LayerType.CONV:
        for key in ("in_channels", "out_channels"):
            if getattr(layer, key) % layer.groups:
                raise _fail("groups", f"groups {layer.groups} does not divide {key} "
                            f"{getattr(layer, key)} (expected a common divisor)")
    elif layer.groups != 1:
        raise _fail("groups", f"groups apply to conv only, got {layer.groups} on "
                    f"{layer.type.value}")


def _check_weights(layer: Layer) -> None:
    """A layer's weight count, out_channels * K, must stay below ``MAX_WEIGHTS``."""
    if layer.params > MAX_WEIGHTS:
        raise _fail("out_channels", f"out_channels {layer.out_channels} x fan-in {layer.fan_in} "
                    f"= {layer.params} weights (expected at most {MAX_WEIGHTS} per layer)")


def _check_unused(layer: Layer) -> None:
    """Fields that do not apply to the layer's type must keep their defaults."""
    kind = layer.type
    if kind not in (LayerType.CONV, LayerType.POOL):
        for key, default in (("kernel", (1, 1)), ("stride", (1, 1)), ("padding", (0, 0))):
            if getattr(layer, key) != default:
                raise _fail(key, f"{key} applies to conv and pool only, not {kind.value}")
    if kind not in MVM_TYPES and kind is not LayerType.POOL:
        for key in ("in_channels", "out_channels"):
            if getattr(layer, key):
                raise _fail(key, f"{key} does not apply to {kind.value} (it is inferred)")
    if kind is not LayerType.POOL and layer.mode is not PoolMode.MAX:
        raise _fail("mode", f"mode applies to pool only, not {kind.value}")


def infer_shape(layer: Layer, in_shapes: Sequence[Shape]) -> Shape:
    """Output (C, H, W) of ``layer`` given its input shapes; raises on any mismatch."""
    first = in_shapes[0]
    kind = layer.type
    if kind is LayerType.CONV:
        _expect_channels(layer, "in_channels", layer.in_channels, first[0])
        return (layer.out_channels, *_window_out(layer, first))
    if kind is LayerType.POOL:
        _expect_channels(layer, "in_channels", layer.in_channels, first[0])
        _expect_channels(layer, "out_channels", layer.out_channels, first[0])
        return (first[0], *_window_out(layer, first))
    if kind is LayerType.LINEAR:
        flat = first[0] * first[1] * first[2]
        if layer.in_channels != flat:
            raise _fail("in_channels", f"in_channels is {layer.in_channels} but "
                        f"{_source(layer.inputs[0])} has shape {list(first)}, flattened size "
                        f"{flat} (expected {flat})")
        return (layer.out_channels, 1, 1)
    if kind is LayerType.FLATTEN:
        return (first[0] * first[1] * first[2], 1, 1)
    return _merge_shape(layer, in_shapes)


def _expect_channels(layer: Layer, key: str, declared: int, actual: int) -> None:
    if declared and declared != actual:
        raise _fail(key, f"{key} is {declared} but {_source(layer.inputs[0])} outputs "
                    f"{actual} channels (expected {actual})")


def _source(name: str) -> str:
    """How an input is named in messages."""
    return "the network input" if name == INPUT else f"layer '{name}'"


def _window_out(layer: Layer, shape: Shape) -> tuple[int, int]:
    """Output height and width: floor((H + 2*padding - kernel) / stride) + 1 per axis."""
    out = []
    for axis, size in enumerate(shape[1:]):
        padded = size + 2 * layer.padding[axis]
        kernel = layer.kernel[axis]
        if kernel > padded:
            raise _fail("kernel", f"kernel {list(layer.kernel)} is larger than the padded input "
                        f"{shape[1] + 2 * layer.padding[0]}x{shape[2] + 2 * layer.padding[1]} "
                        "(output size would be < 1; expected kernel <= size + 2*padding)")
        out.append((padded - kernel) // layer.stride[axis] + 1)
    return out[0], out[1]


def _merge_shape(layer: Layer, in_shapes: Sequence[Shape]) -> Shape:
    """Output of add (all shapes equal) and concat (equal H, W; channels summed)."""
    first = in_shapes[0]
    for src, shape in zip(layer.inputs[1:], in_shapes[1:], strict=True):
        same = shape == first if layer.type is LayerType.ADD else shape[1:] == first[1:]
        if not same:
            what = "shape" if layer.type is LayerType.ADD else "height and width"
            raise _fail("inputs", f"{layer.type.value} needs inputs of equal {what}: "
                        f"{_source(layer.inputs[0])} has shape {list(first)} but "
                        f"{_source(src)} has {list(shape)}")
    if layer.type is LayerType.ADD:
        return first
    return (sum(s[0] for s in in_shapes), first[1], first[2])
