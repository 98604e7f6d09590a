"""CSV files: text with exact float round-trips, atomic writes, an append-only row log, reading,
and what a sweep keeps beside its CSV (a writer's lock, content hashes of its inputs)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes; an unreadable file is a user error naming it."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise XbarsimError(f"cannot read ({exc.strerror or exc})", file=str(path)) from None


def remove_file(path: str | os.PathLike[str]) -> None:
    """Delete a file if it exists."""
    Path(path).unlink(missing_ok=True)


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``'s lock file while the block runs, or refuse at once
    (one line naming the holder's pid) when another process holds it. The lock file is removed on
    the way out; one left by a killed process is harmless (the kernel released its lock)."""
    if sys.platform == "win32":  # no flock: no protection, as before
        yield
        return
    fd = _take_lock(Path(path))
    try:
        yield
    finally:
        lock_path(path).unlink(missing_ok=True)  # still held: a waiter re-checks the inode
        os.close(fd)


def _take_lock(path: Path) -> int:
    """Lock ``lock_path(path)`` (never through a symlink) and write our pid in it; return its
    descriptor."""
    import fcntl

    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):  # a holder that removes the file as we open it: take the new one
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise XbarsimError("is being written by another sweep (pid "
                                   f"{holder if holder.isdigit() else 'unknown'})",
                                   file=str(path)) from None
            except OSError:
                os.close(fd)
                raise
            if _same_file(fd, lock):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                return fd
            os.close(fd)
    except OSError as exc:
        raise XbarsimError(f"cannot create its lock file {lock.name} ({exc.strerror or exc})",
                           file=str(path)) from None
    raise XbarsimError(f"cannot lock it ({lock.name} keeps being replaced)", file=str(path))


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open descriptor is still the file at ``path`` (not removed or replaced)."""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
