"""Reading YAML input files safely: a ``yaml.SafeLoader`` subclass with errors that name the file.

Inputs are plain data, so the loader refuses what only hostile or careless files need: anchors
and aliases (a "billion laughs" alias bomb is refused at its first anchor, before anything is
expanded), nesting deeper than ``MAX_DEPTH``, documents over ``MAX_BYTES``, duplicate mapping
keys (PyYAML keeps the last one silently) and integer literals long enough to be slow to
convert. It also reads YAML 1.2 floats such as ``1e6`` and ``2e-3`` as numbers: PyYAML's
YAML 1.1 resolver needs a dot and a signed exponent and reads them as strings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

import yaml

from xbarsim.errors import XbarsimError, clip, show

MAX_BYTES = 10 * 2**20
"""Largest YAML document read (10 MiB; the biggest shipped workload is about 20 KiB)."""

MAX_DEPTH = 64
"""Deepest nesting of collections (shipped files nest at most 4 deep)."""

MAX_INT_CHARS = 100
"""Longest integer literal: far beyond any valid value, short enough to convert instantly
(Python refuses to convert more than 4300 digits at all)."""

FLOAT_TAG = "tag:yaml.org,2002:float"
MERGE_TAG = "tag:yaml.org,2002:merge"

FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)
    |[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9]+[eE][-+]?[0-9]+)$""",
    re.X,
)
"""Plain scalars read as floats: PyYAML's YAML 1.1 float pattern (first five lines, unchanged:
underscores, sexagesimal, ``.inf``, ``.nan``) or YAML 1.2's core-schema float with a dot or an
exponent (the last two lines; 1.2's pattern also matches integers, which stay ints)."""


class _Refused(yaml.YAMLError):
    """Valid YAML that xbarsim does not accept; the message already names the line."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors, aliases, deep nesting, duplicate keys or huge
    integers, and with YAML 1.2 floats (``FLOAT_RE``)."""

    # Copy the resolver table with only the float pattern replaced: yaml.SafeLoader itself (used
    # by other libraries in the same process) keeps its own.
    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, Any]]]] = {
        first: [(tag, FLOAT_RE if tag == FLOAT_TAG else regexp) for tag, regexp in resolvers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing anchors and aliases and counting nested collections."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(f"{_where(event.start_mark)}: anchors and aliases are not supported "
                           "(expected plain values)")
        if not isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            return super().compose_node(parent, index)
        # Composing recurses once per level: stop well before Python's recursion limit.
        if self._depth >= MAX_DEPTH:
            raise _Refused(f"{_where(event.start_mark)}: nested more than {MAX_DEPTH} levels "
                           f"deep (expected at most {MAX_DEPTH})")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Construct a mapping, refusing a key that appears twice."""
        first: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue  # a merge may override keys: that is what it is for
            key = self.construct_object(key_node, deep=deep)  # cached: built once
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: SafeLoader raises its own error for it
            if seen is not key_node:
                raise _Refused(f"{_where(key_node.start_mark)}: duplicate key {show(key)}, first "
                               f"at line {seen.start_mark.line + 1} (expected unique keys)")
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> Any:
        """An integer, refusing literals too long to be a sane value."""
        if len(node.value) > MAX_INT_CHARS:
            raise _Refused(f"{_where(node.start_mark)}: integer of {len(node.value)} "
                           f"characters (expected at most {MAX_INT_CHARS})")
        return super().construct_yaml_int(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file; a missing, unreadable or oversized file or bad YAML is a user error."""
    return parse_yaml(read_yaml_text(path), file=str(path))


def read_yaml_text(path: str | os.PathLike[str]) -> str:
    """A YAML file's text (comments included); missing, unreadable or oversized files are
    user errors."""
    file = str(path)
    try:
        with Path(path).open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:  # a regular file: refused by its size, before reading it
                raise _too_big(f"{size:,} bytes", file)
            data = stream.read(MAX_BYTES + 1)  # a pipe or device: read no more than allowed
    except FileNotFoundError:
        raise XbarsimError("file not found", file=file) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise XbarsimError(f"cannot read file ({type(exc).__name__})", file=file) from None
    if len(data) > MAX_BYTES:
        raise _too_big(f"more than {MAX_BYTES:,} bytes", file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise XbarsimError("cannot read file (UnicodeDecodeError)", file=file) from None


def parse_yaml(text: str, *, file: str) -> Any:
    """Parse YAML text with ``StrictLoader``; any problem is a one-line error naming ``file``."""
    return _parse(text, file, lenient=False)


def parse_yaml_value(text: str, *, file: str) -> Any:
    """A command-line value (``--set key=1e-3``) parsed as YAML; text that is not valid YAML
    stays a string, but refused YAML (an alias, deep nesting, a huge value) is an error."""
    return _parse(text, file, lenient=True)


def _parse(text: str, file: str, *, lenient: bool) -> Any:
    """``StrictLoader`` on ``text``; invalid YAML is an error, or with ``lenient`` the text."""
    if len(text) > MAX_BYTES:
        raise _too_big(f"{len(text):,} characters", file)
    try:
        return _load(text)
    except _Refused as exc:
        raise XbarsimError(str(exc), file=file) from None
    except yaml.YAMLError as exc:
        if lenient:
            return text
        raise _syntax_error(exc, file) from None


def _load(text: str) -> Any:
    """The single document in ``text``, read with ``StrictLoader``."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _too_big(size: str, file: str) -> XbarsimError:
    return XbarsimError(f"document is {size} (expected at most {MAX_BYTES:,} bytes, 10 MiB)",
                        file=file)


def _syntax_error(exc: yaml.YAMLError, file: str) -> XbarsimError:
    """PyYAML's error as ``YAML syntax error at line L, column C: problem``."""
    mark = getattr(exc, "problem_mark", None)
    where = _where(mark) if mark else "unknown line"
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        # A character YAML forbids (NUL, most control characters): PyYAML gives no line.
        return XbarsimError(f"YAML syntax error at character {exc.position + 1}: character "
                            f"#x{exc.character:04x} is not allowed", file=file)
    problem = clip(getattr(exc, "problem", None) or "invalid YAML", 200)
    return XbarsimError(f"YAML syntax error at {where}: {problem}", file=file)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"

