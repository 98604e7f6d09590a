"""The package layout's rules, read from the imports and calls of every module.

- The timing model and the functional model never import each other.
- ``config``, ``workload``, ``mapping``, ``basis`` and ``programming`` (what both models share)
  import neither model, nor ``sweep`` or ``cli``; nothing but the CLI imports the CLI.
- Only ``io/`` opens files: no other module calls a file-system read or write.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xbarsim"
SHARED = ("config", "workload", "mapping", "basis", "programming")
MODELS = ("timing", "functional")
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "load", "save",
              "savez", "savez_compressed", "mkstemp", "replace", "read_csv", "to_csv",
              "safe_load_all", "files", "unlink", "rename", "remove", "fdopen"}
"""Calls that touch the file system (``np.load``, ``Path.open``, ``os.replace``, ...)."""
FILE_CALL_OWNERS = {"load": {"np", "numpy", "onnx", "json", "pickle", "yaml", "torch"},
                    "save": {"np", "numpy", "torch"}, "replace": {"os"}, "files": {"resources"},
                    "remove": {"os"}, "rename": {"os"}}
"""For names that are also ordinary methods: only these receivers count as file access."""


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def area(path: Path) -> str:
    """Top-level part of the package a module belongs to (``timing``, ``io``, ``errors``...)."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_areas(path: Path) -> set[str]:
    """Package areas a module imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "xbarsim" and len(parts) > 1:
                found.add(parts[1])
    return found


def file_calls(path: Path) -> list[str]:
    """``line: call`` of every call in a module that reads or writes files."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            hits.append(f"{node.lineno}: open")
        elif isinstance(func, ast.Attribute) and func.attr in FILE_CALLS:
            owners = FILE_CALL_OWNERS.get(func.attr)
            receiver = func.value.id if isinstance(func.value, ast.Name) else None
            if owners is None or receiver in owners:
                hits.append(f"{node.lineno}: {func.attr}")
    return hits


def test_the_rules_see_every_area():
    areas = {area(p) for p in modules()}
    assert {*SHARED, *MODELS, "io", "sweep", "cli"} <= areas


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_rules(path: Path):
    here, imported = area(path), imported_areas(path)
    if here in MODELS:
        other = MODELS[1 - MODELS.index(here)]
        assert other not in imported, f"the {here} model imports the {other} model"
    if here in SHARED:
        assert not imported & {*MODELS, "sweep", "cli"}, f"{here} imports {imported}"
    if here not in ("cli", "__main__"):
        assert "cli" not in imported
    if here not in ("sweep", "cli", "__main__"):
        assert "sweep" not in imported


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_io_opens_files(path: Path):
    if area(path) == "io":
        return
    assert file_calls(path) == []


def test_the_file_rule_can_fail(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom pathlib import Path\n"
                   "def f(p):\n    Path(p).read_text()\n    return np.load(p)\n", "utf-8")
    assert file_calls(bad) == ["4: read_text", "5: load"]
    assert imported_areas(bad) == set()
