"""CSV files: text with exact float round-trips, atomic writes, an append-only row log, reading."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from xbarsim.errors import XbarsimError
from xbarsim.io.atomic import atomic_write_text


def format_value(value: Any) -> str:
    """CSV cell text: floats in repr form (round-trips exactly), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a fixed header; every row must have exactly these columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row[c]) for c in columns])
    return out.getvalue()


def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write rows as CSV atomically."""
    atomic_write_text(path, csv_text(rows, columns))


class CsvAppender:
    """A CSV file that grows line by line: header (and any first rows) written atomically, then
    each line appended and forced to disk, so an interrupted writer leaves complete lines."""

    def __init__(self, path: str | os.PathLike[str], header_text: str) -> None:
        try:
            atomic_write_text(path, header_text)
            self.handle: IO[str] = Path(path).open(  # noqa: SIM115 (open while points run)
                "a", encoding="utf-8", newline="")
        except OSError as exc:
            raise XbarsimError(f"cannot write ({exc.strerror or exc})", file=str(path)) from None

    def append(self, line: str) -> None:
        """Write one full line (newline included) and force it to disk."""
        self.handle.write(line)
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        """Close the file (lines already written stay valid)."""
        self.handle.close()


def read_text(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file's content (``OSError`` / ``UnicodeDecodeError`` for the caller)."""
    return Path(path).read_text(encoding="utf-8")


def read_csv_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV file as a DataFrame; a missing or unparsable file is a user error naming it."""
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise XbarsimError("file not found", file=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise XbarsimError(f"not a CSV ({type(exc).__name__})", file=str(path)) from None


def frame_from_text(text: str) -> pd.DataFrame:
    """CSV text (already in memory) as a DataFrame."""
    return pd.read_csv(io.StringIO(text))
