"""A commented YAML architecture config with every key of the schema (``xbarsim config template``).

Keys come from the dataclasses of ``schema.py``, nested and ordered as there; each line's comment
gives the unit (from the key's name), the type and valid range (from the field's annotation and
its ``ge``/``gt``/``le`` metadata), the default or "required", and the field's docstring: its
first sentence, plus what leaving an optional key unset means.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from typing import Any

from xbarsim.config.loader import FLOAT_MAX, INT_MAX
from xbarsim.config.schema import Arch
from xbarsim.errors import NAME_MAX, one_line
from xbarsim.io.yaml_file import parse_yaml_value

UNITS = {"ghz": "GHz", "ns": "ns", "s": "s", "pj": "pJ", "mw": "mW", "mm2": "mm2", "kib": "KiB",
         "us": "uS", "v": "V", "ohm": "ohm", "bits": "bits", "bytes": "bytes", "gbytes": "GB",
         "ops": "ops", "cycles": "cycles"}
"""Unit of a key by the last word of its name before any ``_per_`` (``read_ns``,
``energy_pj_per_byte``: pJ/byte); ``_us`` is microsiemens (conductances), not microseconds."""

COMMENT_COLUMN = 34
"""Column where the comments start, as in the shipped configs."""

_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")
"""Where a sentence of a docstring ends: a full stop, then a capital."""


def arch_template(arch: Arch, *, source: str) -> str:
    """``arch`` as a commented YAML config: every schema key once, nested and ordered as in
    the schema, with its unit, range, default and meaning; ``source`` names where the values
    come from. Loading the text gives ``arch`` back."""
    return "\n".join([*_header(source), *_group_lines(arch, indent=0)]) + "\n"


def _header(source: str) -> list[str]:
    """The comment lines opening the template."""
    return [
        "# xbarsim architecture config: every key of the schema (xbarsim/config/schema.py).",
        f"# Values: those of {one_line(source)} (whose comments give their sources).",
        "# Each comment: unit; type and valid range; default or \"required\"; meaning. Keys with",
        f"# a default may be left out. Integers are also at most {INT_MAX} and other numbers",
        f"# at most {FLOAT_MAX:g} in magnitude. `xbarsim validate FILE` lists every error.",
    ]


def _group_lines(group: Any, indent: int) -> list[str]:
    """The lines of one dataclass instance's keys, its groups' keys indented below them."""
    cls = type(group)
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    lines = []
    for fld in dataclasses.fields(group):
        value = getattr(group, fld.name)
        if dataclasses.is_dataclass(value):
            lines.append(_line(indent, f"{fld.name}:", _group_comment(fld, type(value))))
            lines.extend(_group_lines(value, indent + 2))
        elif value is None and _optional_group(hints[fld.name]):
            cls = _optional_group(hints[fld.name])
            lines.append(_line(indent, f"{fld.name}: null", _group_comment(fld, cls)))
            lines.extend(_absent_group_lines(cls, indent + 2))
        else:
            comment = _key_comment(fld, hints[fld.name], docs.get(fld.name, ""))
            lines.append(_line(indent, f"{fld.name}: {_yaml_scalar(value)}", comment))
    return lines


def _optional_group(hint: Any) -> Any:
    """The dataclass of an optional group's hint (``GlobalBuffer | None``), else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return None


def _absent_group_lines(cls: type, indent: int) -> list[str]:
    """The keys of an absent optional group, commented out (``# key:``): kept in the template
    so that every schema key is documented, without giving the group values."""
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    return ["#" + _line(indent, f"{fld.name}:",
                        _key_comment(fld, hints[fld.name], docs.get(fld.name, "")))[1:]
            for fld in dataclasses.fields(cls)]


def _line(indent: int, text: str, comment: str) -> str:
    """``text`` indented, then ``# comment`` at ``COMMENT_COLUMN`` (or two spaces after)."""
    head = " " * indent + text
    return f"{head.ljust(COMMENT_COLUMN - 2)}  # {comment}"


def _group_comment(fld: dataclasses.Field[Any], cls: type) -> str:
    """Comment of a group key: required or optional, and what the group is."""
    need = ("required" if _is_required(fld)
            else "optional, null (none) or the keys below (commented out when null)"
            if fld.default is None else "optional, every key has a default")
    return f"group, {need}. {_first_sentence(inspect.getdoc(cls) or '')}"


def _key_comment(fld: dataclasses.Field[Any], hint: Any, doc: str) -> str:
    """Comment of a value key: unit; type and range; default; meaning."""
    default = "required" if _is_required(fld) else f"default {_yaml_scalar(fld.default)}"
    parts = [unit(fld.name), _kind(hint, fld.metadata), default]
    return "; ".join(p for p in parts if p) + ". " + description(doc)


def unit(name: str) -> str:
    """The unit a key's name ends with (``energy_pj_per_byte``: ``pJ/byte``), or ``""``."""
    head, *per = name.split("_per_")
    base = UNITS.get(head.rsplit("_", 1)[-1], "")
    return "/".join([base, *per]) if base else ""


def _kind(hint: Any, limits: typing.Mapping[str, Any]) -> str:
    """What values a key takes: an integer or number in its range, true or false, one of
    the choices, text; or null."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return f"{_kind(inner, limits)} or null"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(m.value for m in hint)
    kinds = {int: "integer", float: "number", bool: "true or false",
             str: f"text of at most {NAME_MAX} printable ASCII characters"}
    return kinds[hint] + _range(limits)


def _range(limits: typing.Mapping[str, Any]) -> str:
    """The field's ``ge``/``gt``/``le`` limits as `` in [a, b]``, `` > a`` or `` <= b``."""
    low = ("[", limits["ge"]) if "ge" in limits else ("(", limits["gt"]) if "gt" in limits else None
    high = limits.get("le")
    if low is not None and high is not None:
        return f" in {low[0]}{low[1]!r}, {high!r}]"
    if low is not None:
        return f" {'>=' if low[0] == '[' else '>'} {low[1]!r}"
    return f" <= {high!r}" if high is not None else ""


def _is_required(fld: dataclasses.Field[Any]) -> bool:
    """Whether a field has neither a default nor a default factory."""
    return fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING


def _yaml_scalar(value: Any) -> str:
    """A config value as YAML that reads back as the same value (floats exactly)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str):
        plain = parse_yaml_value(value, file="template") == value
        return value if plain else json.dumps(value)  # a JSON string is a YAML string
    return repr(value)


def description(doc: str) -> str:
    """A field docstring on one line: its first sentence, and the sentence saying what an
    unset optional key means (``Unset: ...``) when there is one."""
    sentences = _SENTENCE_END.split(" ".join(doc.replace("``", "").split()))
    unset = [s for s in sentences[1:] if s.startswith("Unset")]
    return " ".join(sentences[:1] + unset)


def _first_sentence(doc: str) -> str:
    """The first sentence of a class docstring, on one line."""
    return _SENTENCE_END.split(" ".join(doc.split()))[0]


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string after its annotation) by field name, read from the
    class's source: Python keeps no attribute docstrings at run time."""
    body = typing.cast(ast.ClassDef, ast.parse(inspect.getsource(cls)).body[0])
    docs = {}
    for node, after in zip(body.body, body.body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = after.value.value
    return docs
