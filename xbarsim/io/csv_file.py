"""CSV files: text with exact float round-trips, atomic writes, an append-only row log, reading,
and what a sweep keeps beside its CSV (a writer's lock, content hashes of its inputs)."""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import importlib
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from xbarsim.errors import XbarsimError
from xbarsim.io.atomic import _umask, atomic_write_text

FORMULA_STARTS = "=+-@"
"""First characters that make a spreadsheet read a text cell as a formula."""

NUMBER_RE = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|infinity|nan)",
                       re.IGNORECASE)
"""A plain decimal number, infinity or NaN, as ``repr`` and users write them."""

TEXT_COLUMNS = ("workload", "arch", "dataflow", "status", "error")
"""Columns of xbarsim CSVs that hold text (names, messages): read as strings, never as NaN."""


def format_value(value: Any) -> str:
    """CSV cell text: floats in repr form (round-trips exactly), None as empty, text that a
    spreadsheet would run as a formula behind a ``'`` (``escape_text``)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return escape_text(str(value))
    return str(value)


def escape_text(text: str) -> str:
    """``text`` with a leading ``'`` when it starts (after any ``'``) with ``=``, ``+``, ``-`` or
    ``@`` and is not a number such as ``-1.5`` or ``-inf``; ``unescape_text`` undoes it."""
    if text.lstrip("'")[:1] in tuple(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def unescape_text(text: str) -> str:
    """A cell written by ``escape_text`` back to the text it was given."""
    if text.startswith("'") and text.lstrip("'")[:1] in tuple(FORMULA_STARTS):
        return text[1:]
    return text


def _is_number(text: str) -> bool:
    """Whether ``text`` is a plain number such as ``-1.5``, ``+2e-3`` or ``-inf`` (spreadsheets
    show numbers, they do not run them)."""
    return NUMBER_RE.fullmatch(text) is not None


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


Table = tuple[Iterable[Mapping[str, Any]], Sequence[str]]
"""Rows and columns of one CSV file."""


def write_csv_set(directory: str | Path, tables: Mapping[str, Table]) -> None:
    """Write several CSVs (file name -> rows, columns) into ``directory`` as a set: all are
    written into a temporary directory first, then moved into place (a new directory is renamed
    whole; in an existing one the old files are set aside and put back if a move fails), so a
    failure leaves the old set or the new set, never a mix. Other files are left alone."""
    directory = Path(directory)
    fresh = not os.path.lexists(directory)
    if fresh:
        directory.parent.mkdir(parents=True, exist_ok=True)
    elif not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name or 'out'}.", suffix=".tmp",
                                    dir=directory.parent if fresh else directory))
    try:
        for name, (rows, columns) in tables.items():
            write_csv(staging / name, rows, columns)
        if not (fresh and _rename_new_directory(staging, directory)):
            _replace_files(staging, directory, list(tables))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _rename_new_directory(staging: Path, directory: Path) -> bool:
    """Rename ``staging`` (beside it) to ``directory``; False when ``directory`` appeared
    meanwhile."""
    os.chmod(staging, 0o777 & ~_umask())
    try:
        os.rename(staging, directory)
    except OSError:
        if os.path.lexists(directory):
            return False
        raise
    return True


def _replace_files(staging: Path, directory: Path, names: Sequence[str]) -> None:
    """Move ``names`` from ``staging`` over ``directory``'s; on failure restore the old ones."""
    for name in names:
        if (directory / name).is_dir() and not (directory / name).is_symlink():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(directory / name))
    old = staging / ".old"
    old.mkdir()
    set_aside: list[str] = []
    placed: list[str] = []
    try:
        for name in names:
            if os.path.lexists(directory / name):
                os.replace(directory / name, old / name)
                set_aside.append(name)
            os.replace(staging / name, directory / name)
            placed.append(name)
    except BaseException:
        _restore(old, directory, placed, set_aside)
        raise


def _restore(old: Path, directory: Path, placed: Sequence[str], set_aside: Sequence[str]) -> None:
    """Undo ``_replace_files``: remove the new files placed, put the old ones back."""
    for name in placed:
        (directory / name).unlink(missing_ok=True)
    for name in set_aside:
        os.replace(old / name, directory / name)


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
        return frame_from_text(read_text(path))
    except FileNotFoundError:
        raise XbarsimError("file not found", file=str(path)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise XbarsimError(f"not a CSV ({type(exc).__name__})", file=str(path)) from None


def frame_from_text(text: str) -> pd.DataFrame:
    """CSV text (already in memory) as a DataFrame: numbers parsed as pandas does, the
    ``TEXT_COLUMNS`` kept as the strings written (a name ``NA`` or ``nan`` stays a name; only an
    empty cell is missing) with ``escape_text`` undone."""
    frame = pd.read_csv(io.StringIO(text))
    text_columns = [c for c in TEXT_COLUMNS if c in frame.columns]
    if not text_columns:
        return frame
    texts = pd.read_csv(io.StringIO(text), usecols=text_columns, dtype=str,
                        keep_default_na=False, na_values=[""])
    for column in text_columns:
        frame[column] = texts[column].map(unescape_text, na_action="ignore")
    return frame


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes; an unreadable file is a user error naming it."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise XbarsimError(f"cannot read ({exc.strerror or exc})", file=str(path)) from None


def check_unchanged(files: Sequence[tuple[str | None, str | None]]) -> None:
    """Refuse a file whose SHA-256 differs from the one the sweep was set up with (no
    record: no check): a file edited while a sweep runs fails the points that would read it."""
    for path, was in files:
        if path is not None and was:
            now = file_sha256(path)
            if now != was:
                raise XbarsimError(f"changed while the sweep ran (sha256 {now[:12]}, was "
                                   f"{was[:12]}): restore it, or start the sweep again",
                                   file=path)


def remove_file(path: str | os.PathLike[str]) -> None:
    """Delete a file if it exists."""
    Path(path).unlink(missing_ok=True)


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


WINDOWS = sys.platform == "win32"
"""Lock with ``msvcrt`` byte ranges instead of ``flock``."""

PID_OFFSET = 1
"""Where the holder's pid is written in a lock file: after byte 0, the byte Windows locks (a
locked byte cannot be read there, so the pid must lie outside it)."""


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s lock file while the block runs, or refuse at once
    (one line naming the holder's pid) when another process holds it: ``flock`` on POSIX, a
    one-byte ``msvcrt.locking`` on Windows. The lock file is removed on the way out; one left
    by a killed process is harmless (the operating system released its lock)."""
    fd = _take_lock(Path(path))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # Windows: another process has it open; harmless
            lock_path(path).unlink(missing_ok=True)  # still held: a waiter re-checks the inode
        _release(fd)
        os.close(fd)


def _take_lock(path: Path) -> int:
    """Lock ``lock_path(path)`` (never through a symlink) and write our pid in it; return its
    descriptor."""
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):  # a holder that removes the file as we open it: take the new one
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_BINARY", 0), 0o666)
            try:
                locked = _try_lock(fd)
            except OSError:
                os.close(fd)
                raise
            if not locked:
                os.lseek(fd, PID_OFFSET, os.SEEK_SET)
                holder = os.read(fd, 32).decode("ascii", "replace").strip("\0\n ")
                os.close(fd)
                raise XbarsimError("is being written by another sweep (pid "
                                   f"{holder if holder.isdigit() else 'unknown'})",
                                   file=str(path)) from None
            if _same_file(fd, lock):
                os.ftruncate(fd, PID_OFFSET)
                os.lseek(fd, PID_OFFSET, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                return fd
            _release(fd)
            os.close(fd)
    except OSError as exc:
        raise XbarsimError(f"cannot create its lock file {lock.name} ({exc.strerror or exc})",
                           file=str(path)) from None
    raise XbarsimError(f"cannot lock it ({lock.name} keeps being replaced)", file=str(path))


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock of an open lock file without waiting; False if another process
    holds it."""
    if WINDOWS:
        msvcrt: Any = importlib.import_module("msvcrt")  # typed for Windows only
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks from the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:  # EACCES (or EDEADLOCK): another process holds the byte
            if exc.errno in (errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)):
                return False
            raise
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _release(fd: int) -> None:
    """Give up the lock of ``fd`` (closing it would too on POSIX; Windows wants it explicit)."""
    if WINDOWS:
        msvcrt: Any = importlib.import_module("msvcrt")
        os.lseek(fd, 0, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open descriptor is still the file at ``path`` (not removed or replaced)."""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
