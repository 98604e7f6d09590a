"""Data files shipped inside the package (``xbarsim/data/``)."""

from __future__ import annotations

from importlib import resources


def read_package_text(name: str) -> str:
    """The text of ``xbarsim/data/<name>``."""
    return resources.files("xbarsim.data").joinpath(name).read_text(encoding="utf-8")
