"""Reading ONNX model files (the ``onnx`` module is passed in: it is an optional extra)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from xbarsim.errors import XbarsimError


def read_onnx(onnx: ModuleType, path: str | os.PathLike[str]) -> Any:
    """Parse and check the model file; anything that is not a valid ONNX model names the file."""
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise XbarsimError("file not found" if not p.exists() else "not a file", file=file)
    try:
        model = onnx.load(file)
    except Exception as exc:  # protobuf DecodeError, external-data errors, ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise XbarsimError(f"not an ONNX model (cannot parse it: {first})", file=file) from None
    if not model.HasField("graph") or not model.graph.node:
        raise XbarsimError("not an ONNX model (no graph nodes; expected a .onnx file)", file=file)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise XbarsimError(f"invalid ONNX model: {first}", file=file) from None
    return model
