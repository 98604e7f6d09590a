"""PyTorch import: an ``nn.Module`` -> a Workload and its weights, via ``torch.fx``.

``torch`` is optional and imported only here, when called. The model is traced symbolically
(``torch.fx.symbolic_trace``: no forward pass, no ONNX exporter), so layer names are the module
paths (``layer1.0.conv1``) and parameters are read straight from the modules. Batch-norm (running
statistics) and ReLU fold into the preceding layer and biases are ignored, as in the ONNX import
(``import_graph``). Errors name the module or graph node and its type.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from xbarsim.errors import XbarsimError
from xbarsim.workload.graph import Workload
from xbarsim.workload.importers.import_graph import GraphBuilder, ImportResult, Value
from xbarsim.workload.layer import LayerType, PoolMode

MISSING_TORCH = "PyTorch import needs the 'torch' package (install it: pip install torch)"
"""Message when torch is not installed."""

BATCH = "batch"
"""Stands for ``x.size(0)`` so that ``x.view(x.size(0), -1)`` is recognized as a flatten."""


def from_torch(model: Any, input_shape: Sequence[int],
               name: str = "model") -> tuple[Workload, dict[str, np.ndarray]]:
    """Import a PyTorch model for inputs of shape ``(C, H, W)`` (or ``(K,)``) per sample."""
    result = import_torch(model, input_shape, name=name)
    return result.workload, result.weights


def import_torch(model: Any, input_shape: Sequence[int], *, name: str = "model") -> ImportResult:
    """Like ``from_torch``, also returning notes on what was ignored (biases, ReLU6 bounds)."""
    torch = require_torch()
    shape = [int(v) for v in input_shape]
    if len(shape) not in (1, 3) or min(shape) <= 0:
        raise XbarsimError(f"expected (C, H, W) or (K,) positive sizes, got {list(input_shape)}",
                           key="input_shape")
    flat = len(shape) == 1
    builder = GraphBuilder(name, (shape[0], 1, 1) if flat else (shape[0], shape[1], shape[2]),
                           flat_input=flat)
    traced = _trace(torch, model)
    ctx = _Context(torch, builder, dict(traced.named_modules()), {})
    for node in traced.graph.nodes:
        try:
            ctx.env[node] = _convert(ctx, node)
        except XbarsimError as exc:
            message = f"{exc.key}: {exc.message}" if exc.key else exc.message
            raise XbarsimError(message, key=_describe(ctx, node)) from None
    return builder.build()


def require_torch() -> ModuleType:
    """The ``torch`` module, or a one-line error saying how to install it."""
    try:
        import torch
        import torch.fx
    except ImportError:
        raise XbarsimError(MISSING_TORCH) from None
    return torch


def _trace(torch: ModuleType, model: Any) -> Any:
    """``torch.fx.symbolic_trace`` of the model; tracing failures become one-line errors."""
    if not isinstance(model, torch.nn.Module):
        raise XbarsimError(f"expected a torch.nn.Module, got {type(model).__name__}")
    try:
        return torch.fx.symbolic_trace(model)
    except Exception as exc:  # data-dependent control flow and the like
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise XbarsimError(f"torch.fx cannot trace {type(model).__name__} "
                           f"({type(exc).__name__}: {first})") from None


@dataclass
class _Context:
    """Tracing state: torch, the builder, the model's modules, fx node -> imported value."""

    torch: ModuleType
    builder: GraphBuilder
    modules: dict[str, Any]
    env: dict[Any, Any]

    def value(self, arg: Any) -> Value:
        """The imported tensor for an fx node argument."""
        value = self.env.get(arg) if hasattr(arg, "op") else None
        if not isinstance(value, Value):
            raise XbarsimError(f"expected a tensor computed from the input, got {arg!r}")
        return value


def _describe(ctx: _Context, node: Any) -> str:
    """How a node is named in errors: module path and class, or function/method name."""
    if node.op == "call_module":
        return f"module '{node.target}' ({type(ctx.modules[node.target]).__name__})"
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__",
                                                                      str(node.target))
    return f"node '{node.name}' ({target})"


def _convert(ctx: _Context, node: Any) -> Any:
    """Import one fx node; returns its value (a tensor, BATCH, or None for the output)."""
    if node.op == "placeholder":
        if any(isinstance(v, Value) for v in ctx.env.values()):
            raise XbarsimError("models with more than one input are not supported")
        return ctx.builder.input
    if node.op == "output":
        return None
    if node.op == "call_module":
        return _module(ctx, node, ctx.modules[node.target])
    if node.op == "call_function":
        return _function(ctx, node)
    if node.op == "call_method":
        return _method(ctx, node)
    raise XbarsimError(f"{node.op} nodes are not supported (parameters used outside modules)")


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _array(tensor: Any) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


def _module(ctx: _Context, node: Any, module: Any) -> Any:
    """Dispatch on the module class (subclasses match their base)."""
    for kind, handler in _module_handlers(ctx.torch.nn).items():
        if isinstance(module, kind):
            return handler(ctx, node.target, module, ctx.value(node.args[0]))
    raise XbarsimError(f"unsupported module type {type(module).__name__} (supported: Conv2d, "
                       "Linear, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, BatchNorm1d/2d, ReLU, "
                       "ReLU6, Flatten, Identity, Dropout)")


def _conv(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    if _pair(m.dilation) != (1, 1):
        raise XbarsimError(f"dilation {list(_pair(m.dilation))} is not supported (expected 1)")
    if m.padding_mode != "zeros":
        raise XbarsimError(f"padding_mode {m.padding_mode!r} is not supported (expected 'zeros')")
    kernel = _pair(m.kernel_size)
    padding = m.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if any(k % 2 == 0 for k in kernel):
            raise XbarsimError(f"padding 'same' with kernel {list(kernel)} is asymmetric "
                               "(expected odd kernels)")
        padding = (kernel[0] // 2, kernel[1] // 2)
    out = ctx.builder.conv(label, src, _array(m.weight), stride=_pair(m.stride),
                           padding=_pair(padding), groups=m.groups)
    ctx.builder.note_bias(out.layer, None if m.bias is None else _array(m.bias))
    return out


def _linear(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    out = ctx.builder.linear(label, src, _array(m.weight))
    ctx.builder.note_bias(out.layer, None if m.bias is None else _array(m.bias))
    return out


def _pool(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    is_max = isinstance(m, ctx.torch.nn.MaxPool2d)
    if is_max and (_pair(m.dilation) != (1, 1) or m.return_indices):
        raise XbarsimError("dilation and return_indices are not supported")
    if not is_max and m.divisor_override:
        raise XbarsimError("divisor_override is not supported")
    kernel = _pair(m.kernel_size)
    stride = kernel if m.stride is None or m.stride == () else _pair(m.stride)
    out = ctx.builder.pool(label, src, kernel=kernel, stride=stride, padding=_pair(m.padding),
                           mode=PoolMode.MAX if is_max else PoolMode.AVG, ceil_mode=m.ceil_mode)
    if not is_max and any(_pair(m.padding)) and not m.count_include_pad:
        ctx.builder.notes.append(f"pool '{out.layer}': padding excluded from the average "
                                 "(count_include_pad=False) is not recorded in the workload")
    return out


def _adaptive(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    """Adaptive pooling to sizes dividing the input: an exact fixed-window pool."""
    mode = PoolMode.MAX if isinstance(m, ctx.torch.nn.AdaptiveMaxPool2d) else PoolMode.AVG
    _, h, w = ctx.builder.shape(src)
    size = m.output_size
    oh, ow = (size, size) if isinstance(size, int) else (size[0] or h, size[1] or w)
    if h % oh or w % ow:
        raise XbarsimError(f"output size {[oh, ow]} does not divide the input {h}x{w} (expected "
                           "a divisor, e.g. 1 for global pooling)")
    kernel = (h // oh, w // ow)
    return ctx.builder.pool(label, src, kernel=kernel, stride=kernel, padding=(0, 0), mode=mode)


def _batchnorm(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    if m.running_mean is None or m.running_var is None:
        raise XbarsimError("track_running_stats=False (expected running statistics to fold)")
    mean = m.running_mean.detach().cpu().double().numpy()
    var = m.running_var.detach().cpu().double().numpy()
    gamma = np.ones_like(mean) if m.weight is None else m.weight.detach().cpu().double().numpy()
    beta = np.zeros_like(mean) if m.bias is None else m.bias.detach().cpu().double().numpy()
    scale = gamma / np.sqrt(var + m.eps)
    return ctx.builder.scale_channels(src, scale, beta - mean * scale)


def _relu(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    out = ctx.builder.relu(src)
    if isinstance(m, ctx.torch.nn.ReLU6):
        ctx.builder.notes.append(f"ReLU6 '{label}' folded as a plain ReLU into '{out.layer}' "
                                 "(upper bound ignored)")
    return out


def _flatten(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    _check_flatten(m.start_dim, m.end_dim)
    return ctx.builder.flatten(label, src)


def _check_flatten(start: int, end: int) -> None:
    if start != 1 or end != -1:
        raise XbarsimError(f"flatten dims {start}..{end} (expected start_dim 1, end_dim -1)")


def _passthrough(ctx: _Context, label: str, m: Any, src: Value) -> Value:
    return src


def _module_handlers(nn: Any) -> dict[Any, Callable[[_Context, str, Any, Value], Value]]:
    """Module class -> handler (ReLU6 is a Hardtanh subclass, so it is listed by name)."""
    return {nn.Conv2d: _conv, nn.Linear: _linear, (nn.MaxPool2d, nn.AvgPool2d): _pool,
            (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d): _adaptive,
            (nn.BatchNorm1d, nn.BatchNorm2d): _batchnorm, (nn.ReLU, nn.ReLU6): _relu,
            nn.Flatten: _flatten, (nn.Identity, nn.Dropout, nn.Dropout2d): _passthrough}


def _arg(node: Any, index: int, key: str, default: Any) -> Any:
    """Positional argument ``index`` or keyword ``key`` of an fx node."""
    return node.args[index] if len(node.args) > index else node.kwargs.get(key, default)


def _function(ctx: _Context, node: Any) -> Any:
    """torch/functional calls: add, cat, flatten, relu."""
    torch, fn = ctx.torch, node.target
    if fn in (operator.add, operator.iadd, torch.add):
        if _arg(node, 2, "alpha", 1) != 1:
            raise XbarsimError("add with alpha != 1 is not supported")
        srcs = [ctx.value(a) for a in node.args[:2]]
        return ctx.builder.merge(node.name, LayerType.ADD, srcs)
    if fn in (torch.cat, torch.concat):
        dim = _arg(node, 1, "dim", 0)
        if dim != 1:
            raise XbarsimError(f"cat along dim {dim} (expected 1, the channel axis)")
        return ctx.builder.merge(node.name, LayerType.CONCAT, [ctx.value(a) for a in node.args[0]])
    if fn is torch.flatten:
        _check_flatten(_arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        return ctx.builder.flatten(node.name, ctx.value(node.args[0]))
    if fn in (torch.relu, torch.relu_, torch.nn.functional.relu):
        return ctx.builder.relu(ctx.value(node.args[0]))
    raise XbarsimError("unsupported function (supported: add, cat, flatten, relu)")


def _method(ctx: _Context, node: Any) -> Any:
    """Tensor methods: relu, flatten, size(0), and view/reshape(x.size(0), -1)."""
    name, args = node.target, node.args
    if name in ("relu", "relu_"):
        return ctx.builder.relu(ctx.value(args[0]))
    if name == "flatten":
        _check_flatten(_arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        return ctx.builder.flatten(node.name, ctx.value(args[0]))
    if name == "size" and _arg(node, 1, "dim", None) == 0:
        return BATCH
    if name in ("view", "reshape"):
        shape = list(args[1]) if len(args) == 2 and isinstance(args[1], tuple | list) else list(
            args[1:])
        first = ctx.env.get(shape[0]) if hasattr(shape[0], "op") else shape[0]
        if len(shape) != 2 or first not in (BATCH, -1, 1) or shape[1] != -1:
            raise XbarsimError(f"{name} to {shape} is not supported (expected "
                               f"x.{name}(x.size(0), -1), a flatten)")
        return ctx.builder.flatten(node.name, ctx.value(args[0]))
    raise XbarsimError(f"unsupported tensor method .{name}() (supported: relu, flatten, "
                       "view/reshape(x.size(0), -1))")
