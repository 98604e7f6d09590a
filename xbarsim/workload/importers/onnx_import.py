"""ONNX import (docs/design.md section 4): an ``.onnx`` model -> a Workload and its weights.

``onnx`` is an optional extra, imported only when a model is read. Supported ops are listed in
``onnx_ops.HANDLERS``; batch-norm and ReLU are folded into the preceding layer and biases are
ignored (see ``import_graph``). Errors are one-line ``XbarsimError`` naming the file and, for a
node, its name and op type. No files are written here: the CLI writes YAML and NPZ.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from xbarsim.errors import NAME_MAX, XbarsimError
from xbarsim.io.onnx_file import read_onnx
from xbarsim.workload.graph import Workload
from xbarsim.workload.importers.import_graph import GraphBuilder, ImportResult, sanitize
from xbarsim.workload.layer import Shape

MISSING_ONNX = "ONNX import needs the 'onnx' package (install it: pip install 'xbarsim[onnx]')"
"""Message when the optional extra is not installed."""


def from_onnx(path: str | os.PathLike[str], input_shape: Sequence[int] | None = None,
              name: str | None = None) -> tuple[Workload, dict[str, np.ndarray]]:
    """Import an ONNX model: the workload and ``layer -> float32 weights`` of its MVM layers.

    ``input_shape`` ``(C, H, W)`` (or ``(K,)`` for a vector input) is required when the model's
    input has symbolic sizes; ``name`` defaults to the file stem.
    """
    result = import_onnx(path, input_shape=input_shape, name=name)
    return result.workload, result.weights


def import_onnx(path: str | os.PathLike[str], *, input_shape: Sequence[int] | None = None,
                name: str | None = None) -> ImportResult:
    """Like ``from_onnx``, also returning notes on what was ignored (biases, ReLU6 bounds)."""
    onnx = require_onnx()
    from xbarsim.workload.importers import onnx_ops  # needs onnx

    file = str(path)
    model = read_onnx(onnx, path)
    graph = model.graph
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    try:
        in_name, shape, flat = _input(graph, consts, input_shape)
        builder = GraphBuilder(name or sanitize(Path(path).stem, NAME_MAX), shape,
                               flat_input=flat)
    except XbarsimError as exc:
        raise exc.at(file=file) from None
    ctx = onnx_ops.OnnxContext(builder, {in_name: builder.input}, consts)
    for node in graph.node:
        try:
            onnx_ops.convert_node(ctx, node)
        except XbarsimError as exc:
            message = f"{exc.key}: {exc.message}" if exc.key else exc.message
            label = node.name or (node.output[0] if node.output else "?")
            raise XbarsimError(message, file=file, key=f"node '{label}' ({node.op_type})") from None
    try:
        return builder.build()
    except XbarsimError as exc:
        raise exc.at(file=file) from None


def require_onnx() -> ModuleType:
    """The ``onnx`` module, or a one-line error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise XbarsimError(MISSING_ONNX) from None
    return onnx


def _input(graph: Any, consts: dict[str, np.ndarray],
           given: Sequence[int] | None) -> tuple[str, Shape, bool]:
    """The network input: its tensor name, (C, H, W) shape and whether it is a flat vector."""
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise XbarsimError(f"expected exactly one network input, found {len(inputs)}: {names}")
    tensor = inputs[0]
    dims = _dims(tensor)
    if given is not None:
        return tensor.name, *_given_shape(tensor.name, dims, given)
    if dims is None or any(d is None for d in dims[1:]):
        shown = "unknown" if dims is None else "[" + ", ".join(
            "?" if d is None else str(d) for d in dims) + "]"
        raise XbarsimError(f"input '{tensor.name}' has dynamic shape {shown} (expected fixed "
                           "sizes besides the batch; give input_shape, CLI --input-shape C,H,W)")
    return tensor.name, *_shape(tensor.name, [int(d) for d in dims[1:]])  # type: ignore[arg-type]


def _dims(tensor: Any) -> list[int | None] | None:
    """Declared input dimensions (None for symbolic ones), or None without a declared shape."""
    kind = tensor.type.tensor_type
    if not kind.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in kind.shape.dim]


def _given_shape(name: str, dims: list[int | None] | None,
                 given: Sequence[int]) -> tuple[Shape, bool]:
    """The user's input shape, checked against the model's fixed sizes."""
    sizes = [int(v) for v in given]
    if any(v <= 0 for v in sizes):
        raise XbarsimError(f"input shape {sizes} (expected positive sizes)", key="input_shape")
    if dims is not None:
        fixed = dims[1:]
        if len(fixed) != len(sizes) or any(d is not None and d != v
                                           for d, v in zip(fixed, sizes)):
            shown = ", ".join("?" if d is None else str(d) for d in fixed)
            raise XbarsimError(f"input shape {sizes} does not match the model's input '{name}' "
                               f"[N, {shown}]", key="input_shape")
    return _shape(name, sizes)


def _shape(name: str, sizes: list[int]) -> tuple[Shape, bool]:
    """(C, H, W) from [C, H, W] or [K] (a flat vector)."""
    if len(sizes) == 3:
        return (sizes[0], sizes[1], sizes[2]), False
    if len(sizes) == 1:
        return (sizes[0], 1, 1), True
    raise XbarsimError(f"input '{name}' has {len(sizes) + 1} dimensions (expected [N, C, H, W] "
                       "or [N, K])")
