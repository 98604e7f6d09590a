"""The cache of generated files (example bases): ``$XBARSIM_CACHE`` or ``~/.cache/xbarsim``.

Files here are written only when a caller asks for one explicitly; names carry a hash of what
they were made from, so a stale file is never reused.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where generated files go: ``$XBARSIM_CACHE`` or ``~/.cache/xbarsim``."""
    return Path(os.environ.get("XBARSIM_CACHE") or Path.home() / ".cache" / "xbarsim")


def cached_file(name: str) -> Path | None:
    """``cache_dir() / name`` if it exists, else None."""
    path = cache_dir() / name
    return path if path.is_file() else None
