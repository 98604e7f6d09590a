"""Reading YAML input files safely: ``yaml.safe_load`` with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from xbarsim.errors import XbarsimError


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file; a missing or unreadable file or bad syntax is a keyed user error."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise XbarsimError("file not found", file=file) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise XbarsimError(f"cannot read file ({type(exc).__name__})", file=file) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise XbarsimError(f"YAML syntax error at {where}: {problem}", file=file) from None
