"""The one error type for bad user input; the CLI turns it into a one-line message and exit 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class XbarsimError(ValueError):
    """Bad user input: names the file, the key path and what was expected.

    ``str(err)`` is ``"FILE: key: what is wrong (expected ...)"``; the CLI prints it after
    ``error: ``.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        return ": ".join([*parts, self.message])

    def at(self, *, file: str | None = None, key: str | None = None) -> XbarsimError:
        """Return a copy that fills in the file and/or key when they are not set yet."""
        return XbarsimError(self.message, file=self.file or file, key=self.key or key)


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the nearest valid choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
