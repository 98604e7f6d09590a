"""Source tags of a config file's numbers: which keys the YAML comments mark as assumptions.

Every number of a shipped config carries a tag in its line comment ([P] paper, [S] simulator,
[D] derived, [A] assumption; docs/parameters.md). The first tag of the comment is the number's
own; later ones qualify part of its derivation.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<value>[^#]*)"
                   r"(?:#(?P<comment>.*))?$")
_TAG = re.compile(r"\[([PSDA])\]")


def tagged_keys(text: str, tag: str = "A") -> dict[str, str]:
    """Dotted keys of a config YAML's scalar values whose comment's first tag is ``[tag]``,
    with the value as written, in file order."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing this line
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is None:
            continue
        indent, key, value = len(m["indent"]), m["key"], m["value"].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if not value:  # a mapping opens
            stack.append((indent, key))
            continue
        first = _TAG.search(m["comment"] or "")
        if first is not None and first.group(1) == tag:
            out[".".join([k for _, k in stack] + [key])] = value
    return out
