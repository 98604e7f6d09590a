"""One atomic write for every output file: written beside the target, then renamed over it.

A reader never sees a half-written file, and an interrupted write leaves the old file (or none).
``mkstemp`` creates files readable by the owner only; outputs get the permissions an ordinary
``open`` would give (0666 less the umask, i.e. 0644 by default).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], produce: Callable[[Path], None]) -> Path:
    """Create ``path`` by calling ``produce(tmp)`` on a temp file beside it, then renaming."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        produce(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    def produce(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return atomic_write(path, produce)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    def produce(tmp: Path) -> None:
        tmp.write_bytes(data)
    return atomic_write(path, produce)
