"""The one error type for bad user input; the CLI turns it into a one-line message and exit 2.

User values are put into messages only through ``show`` (repr-style) or ``clip`` (plain text):
both escape newlines and control characters and stop after about 60 characters without ever
rendering the whole value, so a hostile or huge input cannot flood or split the error line.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import numbers
import typing
from collections.abc import Callable, Iterable

SHOW_LIMIT = 60
"""Characters of a user value shown in a message before it is cut with ``...``."""

NAME_MAX = 64
"""Longest workload or architecture name."""

NAME_FORBIDDEN = "/\\"
"""Printable characters a name may not contain: path separators (names become file names)."""

NAME_BAD_START = "=+@"
"""First characters a name may not have: spreadsheets read such a CSV cell as a formula."""

_SUGGEST_MAX = 100
"""Words longer than this get no "did you mean" (no valid key is that long; difflib would be
slow on a huge one)."""


class XbarsimError(ValueError):
    """Bad user input: names the file, the key path and what was expected.

    ``str(err)`` is ``"FILE: key: what is wrong (expected ...)"`` on one line (newlines and
    control characters in any part are escaped); the CLI prints it after ``error: ``.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        return ": ".join(one_line(p) for p in [*parts, self.message])

    def at(self, *, file: str | None = None, key: str | None = None) -> XbarsimError:
        """Return a copy that fills in the file and/or key when they are not set yet."""
        return XbarsimError(self.message, file=self.file or file, key=self.key or key)


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the nearest valid choice, or ``""``."""
    if len(word) > _SUGGEST_MAX:
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_line(text: str) -> str:
    """``text`` with newlines and other non-printable characters escaped as ``repr`` does."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def show(value: object, limit: int = SHOW_LIMIT) -> str:
    """A user value for a message: ``repr(value)`` when short, else cut to ``limit`` characters
    ending in ``...``; only about ``limit`` characters of the value are ever rendered."""
    text = _render(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(value: object, limit: int = SHOW_LIMIT) -> str:
    """A user string for a message without quotes (a key, a name), escaped and cut like
    ``show``; a value that is not a string is shown with ``show``."""
    if not isinstance(value, str):
        return show(value, limit)
    text = one_line(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def name_problem(name: str, *, limit: int = NAME_MAX) -> str | None:
    """Why the non-empty string ``name`` cannot name a workload, layer or architecture, or None.

    Names go into CSV cells, NPZ keys (``weights/<layer>``) and file names, so they are at most
    ``limit`` printable ASCII characters, without path separators and without a first
    character that makes a spreadsheet formula.
    """
    if len(name) > limit:
        return f"got {show(name)} ({len(name)} characters; expected at most {limit})"
    bad = next((c for c in name if not " " <= c <= "~" or c in NAME_FORBIDDEN), None)
    if bad is not None:
        return (f"got {show(name)} (contains {show(bad)}; expected printable ASCII characters "
                "other than / and \\)")
    if name[0] in NAME_BAD_START:
        return f"got {show(name)} (expected a name not starting with =, + or @)"
    return None


def _render(value: object, budget: int) -> str:
    """``repr(value)``, or a prefix of it at least ``budget`` characters long."""
    if value is None or isinstance(value, (bool, float, complex, enum.Enum)):
        return repr(value)
    if isinstance(value, int):
        # repr of a huge int is slow (and refused above 4300 digits): give its size instead.
        return repr(value) if value.bit_length() <= 256 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, (str, bytes)):
        return repr(value[:budget])
    if isinstance(value, dict):
        return _render_items("{", "}", value.items(), budget, _render_pair)
    if isinstance(value, list):
        return _render_items("[", "]", value, budget, _render)
    if isinstance(value, tuple):
        return _render_items("(", ",)" if len(value) == 1 else ")", value, budget, _render)
    if isinstance(value, (set, frozenset)):
        return _render_items("{", "}", value, budget, _render) if value else "set()"
    if isinstance(value, (datetime.date, datetime.time, numbers.Number)):
        try:
            return repr(value)  # YAML timestamps, numpy scalars: short by nature
        except ValueError:  # e.g. a Fraction of huge ints (int -> str conversion limit)
            pass
    return f"<{type(value).__name__}>"  # anything else could have an unbounded repr


def _render_items(open_: str, close: str, items: Iterable[object], budget: int,
                  render: Callable[[object, int], str]) -> str:
    """A container's items between brackets, stopping once ``budget`` characters are out."""
    out = open_
    for n, item in enumerate(items):
        if len(out) >= budget:
            return out + "..."
        out += (", " if n else "") + render(item, budget - len(out))
    return out + close


def _render_pair(item: object, budget: int) -> str:
    """``key: value`` of a mapping item."""
    key, value = typing.cast(tuple[object, object], item)
    head = _render(key, budget) + ": "
    return head + _render(value, budget - len(head)) if len(head) < budget else head

