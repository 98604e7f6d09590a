"""Output paths the command line refuses: an output that is one of the command's inputs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from xbarsim.errors import XbarsimError, clip

PATH_SHOWN = 300
"""Characters of a path shown in a message."""


def refuse_inputs_as_outputs(outputs: Iterable[str | os.PathLike[str] | None],
                             inputs: Mapping[str, str | Sequence[str] | None],
                             flag: str = "--out") -> None:
    """Refuse (naming ``flag``) an output path of a command that is one of its input files
    (``inputs``: flag -> path, paths or None), compared as the same file or resolved path."""
    for out in outputs:
        if out is None:
            continue
        for name, paths in inputs.items():
            for path in [paths] if isinstance(paths, str) else paths or ():
                if _same_path(out, path):
                    raise XbarsimError(f"{clip(str(out), PATH_SHOWN)} is the {name} input "
                                       "(expected an output path that is none of the "
                                       "command's inputs)", file=flag)


def _same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (hard links and symlinks included)."""
    try:
        if os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b):
            return True
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, ValueError, RuntimeError):
        return False


def refuse_existing(path: str | os.PathLike[str], key: str, remedy: str) -> None:
    """An output that would overwrite an existing file is an error, unless the user said so."""
    if Path(path).exists():
        raise XbarsimError(f"{clip(str(path), PATH_SHOWN)} exists ({remedy})", key=key)
