"""ONNX op handlers: one function per supported op type, driving a ``GraphBuilder``.

Imports ``onnx``, so only ``onnx_import`` imports this module, after checking onnx is installed.
Each handler reads its node's inputs (tensors or constant initializers) and attributes, and binds
its output names to imported tensors. Errors carry no node; the caller adds it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from xbarsim.errors import XbarsimError
from xbarsim.workload.importers.import_graph import GraphBuilder, Value
from xbarsim.workload.layer import LayerType, PoolMode

Node = onnx.NodeProto


@dataclass
class OnnxContext:
    """The builder plus the ONNX tensor names bound so far (computed tensors and constants)."""

    builder: GraphBuilder
    values: dict[str, Value]
    """Tensor name -> imported tensor computed from the network input."""
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    """Tensor name -> constant (initializers and Constant nodes)."""

    def value(self, name: str) -> Value:
        """The computed tensor called ``name``."""
        if name in self.values:
            return self.values[name]
        if name in self.consts:
            raise XbarsimError(f"input '{name}' is a constant where a tensor computed from the "
                               "network input was expected")
        raise XbarsimError(f"input '{name}' is produced by no supported node")

    def const(self, name: str, what: str) -> np.ndarray:
        """The constant called ``name`` (weights and other parameters must be constants)."""
        if name in self.consts:
            return self.consts[name]
        raise XbarsimError(f"{what} '{name}' is not a constant initializer (expected constant "
                           f"{what})")

    def optional(self, node: Node, index: int, what: str) -> np.ndarray | None:
        """Optional constant input ``index`` of ``node``, None when absent."""
        if len(node.input) > index and node.input[index]:
            return self.const(node.input[index], what)
        return None


def attributes(node: Node) -> dict[str, Any]:
    """The node's attributes as Python values (strings decoded)."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}


def _pair(values: list[int] | None, default: int, what: str) -> tuple[int, int]:
    """A 2-D attribute (strides, kernel_shape) as (h, w)."""
    if values is None:
        return (default, default)
    if len(values) != 2:
        raise XbarsimError(f"{what} {list(values)} (expected 2 values; only 2-D ops supported)")
    return (int(values[0]), int(values[1]))


def _no_dilation(attrs: dict[str, Any]) -> None:
    dilations = attrs.get("dilations")
    if dilations is not None and any(d != 1 for d in dilations):
        raise XbarsimError(f"dilations {list(dilations)} are not supported (expected all 1)")


def _padding(attrs: dict[str, Any], size: tuple[int, int], kernel: tuple[int, int],
             stride: tuple[int, int]) -> tuple[int, int]:
    """Symmetric (h, w) padding from ``pads`` or ``auto_pad``; asymmetric padding is an error."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return (0, 0)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        totals = [max((math.ceil(n / s) - 1) * s + k - n, 0)
                  for n, k, s in zip(size, kernel, stride)]
        pads = [t // 2 for t in totals] + [t - t // 2 for t in totals]
    else:
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise XbarsimError(f"pads {pads} (expected 4 values [top, left, bottom, right])")
    if pads[:2] != pads[2:]:
        raise XbarsimError(f"asymmetric padding pads={pads} is not supported (expected "
                           "begin == end per axis)")
    return (int(pads[0]), int(pads[1]))


def conv(ctx: OnnxContext, node: Node, label: str) -> None:
    """Conv: groups, strides, symmetric pads; bias ignored."""
    attrs = attributes(node)
    _no_dilation(attrs)
    src = ctx.value(node.input[0])
    weight = ctx.const(node.input[1], "weights")
    stride = _pair(attrs.get("strides"), 1, "strides")
    kernel = (weight.shape[-2], weight.shape[-1]) if weight.ndim == 4 else (1, 1)
    padding = _padding(attrs, ctx.builder.shape(src)[1:], kernel, stride)
    out = ctx.builder.conv(label, src, weight, stride=stride, padding=padding,
                           groups=int(attrs.get("group", 1)))
    ctx.builder.note_bias(out.layer, ctx.optional(node, 2, "bias"))
    ctx.values[node.output[0]] = out


def gemm(ctx: OnnxContext, node: Node, label: str) -> None:
    """Gemm: Y = alpha * A @ B' (+ bias, ignored); transB handled, alpha folded into weights."""
    attrs = attributes(node)
    if attrs.get("transA", 0):
        raise XbarsimError("transA=1 is not supported (expected the input as A, untransposed)")
    weight = ctx.const(node.input[1], "weights")
    if weight.ndim != 2:
        raise XbarsimError(f"weights have shape {list(weight.shape)} (expected 2-D)")
    weight = weight if attrs.get("transB", 0) else weight.T
    out = ctx.builder.linear(label, ctx.value(node.input[0]), weight * attrs.get("alpha", 1.0))
    bias = ctx.optional(node, 2, "bias")
    ctx.builder.note_bias(out.layer, None if bias is None else bias * attrs.get("beta", 1.0))
    ctx.values[node.output[0]] = out


def matmul(ctx: OnnxContext, node: Node, label: str) -> None:
    """MatMul of a flat tensor [N, K] by constant weights [K, O]."""
    weight = ctx.const(node.input[1], "weights")
    if weight.ndim != 2:
        raise XbarsimError(f"weights have shape {list(weight.shape)} (expected 2-D [K, O])")
    ctx.values[node.output[0]] = ctx.builder.linear(label, ctx.value(node.input[0]), weight.T)


def pool(ctx: OnnxContext, node: Node, label: str) -> None:
    """MaxPool / AveragePool: kernel, strides (ONNX default 1), symmetric pads, ceil_mode."""
    attrs = attributes(node)
    _no_dilation(attrs)
    src = ctx.value(node.input[0])
    kernel = _pair(attrs.get("kernel_shape"), 0, "kernel_shape")
    stride = _pair(attrs.get("strides"), 1, "strides")
    padding = _padding(attrs, ctx.builder.shape(src)[1:], kernel, stride)
    mode = PoolMode.MAX if node.op_type == "MaxPool" else PoolMode.AVG
    out = ctx.builder.pool(label, src, kernel=kernel, stride=stride, padding=padding, mode=mode,
                           ceil_mode=bool(attrs.get("ceil_mode", 0)))
    if mode is PoolMode.AVG and any(padding) and not attrs.get("count_include_pad", 0):
        ctx.builder.notes.append(f"pool '{out.layer}': padding excluded from the average "
                                 "(count_include_pad=0) is not recorded in the workload")
    ctx.values[node.output[0]] = out


def global_pool(ctx: OnnxContext, node: Node, label: str) -> None:
    """GlobalAveragePool / GlobalMaxPool: a pool whose kernel is the spatial size."""
    mode = PoolMode.AVG if node.op_type == "GlobalAveragePool" else PoolMode.MAX
    ctx.values[node.output[0]] = ctx.builder.global_pool(label, ctx.value(node.input[0]), mode)


def add(ctx: OnnxContext, node: Node, label: str) -> None:
    """Add / Sum of tensors; adding a constant to a conv/linear output is a bias (ignored)."""
    tensors = [name for name in node.input if name not in ctx.consts]
    consts = [ctx.consts[name] for name in node.input if name in ctx.consts]
    if consts and len(tensors) == 1 and node.op_type == "Add":
        ctx.values[node.output[0]] = ctx.builder.fold_bias(ctx.value(tensors[0]), consts[0])
        return
    if consts:
        raise XbarsimError("adding a constant is supported only as the bias of a conv or "
                           "linear layer")
    srcs = [ctx.value(name) for name in tensors]
    ctx.values[node.output[0]] = ctx.builder.merge(label, LayerType.ADD, srcs)


def concat(ctx: OnnxContext, node: Node, label: str) -> None:
    """Concat along channels (axis 1)."""
    srcs = [ctx.value(name) for name in node.input]
    rank = 2 if srcs[0].flat else 4
    axis = attributes(node).get("axis")
    if axis not in (1, 1 - rank):
        raise XbarsimError(f"axis {axis} is not supported (expected 1, the channel axis)")
    ctx.values[node.output[0]] = ctx.builder.merge(label, LayerType.CONCAT, srcs)


def flatten(ctx: OnnxContext, node: Node, label: str) -> None:
    """Flatten with axis 1: [N, C, H, W] -> [N, C*H*W]."""
    src = ctx.value(node.input[0])
    axis = attributes(node).get("axis", 1)
    if axis not in (1, 1 - (2 if src.flat else 4)):
        raise XbarsimError(f"axis {axis} is not supported (expected 1: keep the batch axis)")
    ctx.values[node.output[0]] = ctx.builder.flatten(label, src)


def reshape(ctx: OnnxContext, node: Node, label: str) -> None:
    """Reshape to [N, -1] (a flatten); any other target shape is an error."""
    src = ctx.value(node.input[0])
    target = [int(v) for v in ctx.const(node.input[1], "shape").reshape(-1)]
    c, h, w = ctx.builder.shape(src)
    ok = len(target) == 2 and target[0] in (0, 1, -1) and target[1] in (-1, c * h * w)
    if not ok or target == [-1, -1]:
        raise XbarsimError(f"reshape to {target} is not supported (expected [N, -1], a "
                           "flatten)")
    ctx.values[node.output[0]] = ctx.builder.flatten(label, src)


def relu(ctx: OnnxContext, node: Node, label: str) -> None:
    """Relu: folded into the producing layer."""
    ctx.values[node.output[0]] = ctx.builder.relu(ctx.value(node.input[0]))


def clip(ctx: OnnxContext, node: Node, label: str) -> None:
    """Clip with min 0 (ReLU, ReLU6): folded as a ReLU; an upper bound is noted and ignored."""
    attrs = attributes(node)
    low_in, high_in = ctx.optional(node, 1, "min"), ctx.optional(node, 2, "max")
    low = attrs.get("min") if low_in is None else float(low_in)
    high = attrs.get("max") if high_in is None else float(high_in)
    if low != 0:
        raise XbarsimError(f"Clip with min {low} is not supported (expected min 0, a ReLU)")
    out = ctx.builder.relu(ctx.value(node.input[0]))
    if high is not None and math.isfinite(high):
        ctx.builder.notes.append(f"Clip '{label}' (max {high:g}) folded as a plain ReLU into "
                                 f"'{out.layer}' (upper bound ignored)")
    ctx.values[node.output[0]] = out


def batchnorm(ctx: OnnxContext, node: Node, label: str) -> None:
    """BatchNormalization (inference): w' = w * gamma / sqrt(var + eps); the shift is a bias."""
    attrs = attributes(node)
    if attrs.get("training_mode", 0):
        raise XbarsimError("training_mode=1 is not supported (expected an inference model)")
    gamma, beta, mean, var = (ctx.const(node.input[i], what).astype(np.float64).reshape(-1)
                              for i, what in enumerate(("scale", "bias", "mean", "var"), 1))
    scale = gamma / np.sqrt(var + attrs.get("epsilon", 1e-5))
    out = ctx.builder.scale_channels(ctx.value(node.input[0]), scale, beta - mean * scale)
    ctx.values[node.output[0]] = out


def passthrough(ctx: OnnxContext, node: Node, label: str) -> None:
    """Identity / Dropout (inference): the output is the input."""
    name = node.input[0]
    if name in ctx.consts:
        ctx.consts[node.output[0]] = ctx.consts[name]
    else:
        ctx.values[node.output[0]] = ctx.value(name)


def constant(ctx: OnnxContext, node: Node, label: str) -> None:
    """Constant: binds its value for later nodes (reshape targets, weights)."""
    attrs = {a.name: a for a in node.attribute}
    if "value" in attrs:
        ctx.consts[node.output[0]] = numpy_helper.to_array(attrs["value"].t)
    elif attrs:
        ctx.consts[node.output[0]] = np.asarray(attributes(node)[next(iter(attrs))])
    else:
        raise XbarsimError("Constant without a value")


Handler = Callable[[OnnxContext, Node, str], None]

HANDLERS: dict[str, Handler] = {
    "Conv": conv, "Gemm": gemm, "MatMul": matmul, "MaxPool": pool, "AveragePool": pool,
    "GlobalAveragePool": global_pool, "GlobalMaxPool": global_pool, "Add": add, "Sum": add,
    "Concat": concat, "Flatten": flatten, "Reshape": reshape, "Relu": relu, "Clip": clip,
    "BatchNormalization": batchnorm, "Identity": passthrough, "Dropout": passthrough,
    "Constant": constant,
}
"""ONNX op type (default domain) -> handler."""


def convert_node(ctx: OnnxContext, node: Node) -> None:
    """Import one node; unsupported op types are an error listing the supported ones."""
    handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if handler is None:
        op = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
        raise XbarsimError(f"unsupported op type {op} (supported: "
                           f"{', '.join(sorted(HANDLERS))})")
    handler(ctx, node, node.name or node.output[0])
