"""Zoo networks by name: ``--workload resnet18_cifar100`` finds the network's YAML file.

A name that is not a path resolves to the shipped ``workloads/NAME.yaml`` beside the package (a
source checkout) or, when that folder is absent (an installed package), to a copy generated in
the cache (``io.cache``) from ``workload/zoo.py``, written once, atomically.
"""

from __future__ import annotations

from pathlib import Path

from xbarsim.errors import XbarsimError, show
from xbarsim.io.atomic import atomic_write_text
from xbarsim.io.cache import cache_dir
from xbarsim.workload.loader import dump_workload
from xbarsim.workload.zoo import ZOO

SHIPPED = Path(__file__).resolve().parents[2] / "workloads"
"""The source checkout's workload folder."""


def resolve_workload(arg: str, *, key: str = "--workload") -> str:
    """``arg`` when it names an existing file or looks like a path, else the file of the zoo
    network of that name; an unknown name is an error listing the zoo."""
    path = Path(arg)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return arg
    if arg not in ZOO:
        raise XbarsimError(f"no file {show(arg)} and no zoo network of that name (zoo: "
                           f"{', '.join(sorted(ZOO))}; or give a workload YAML path)", key=key)
    shipped = SHIPPED / f"{arg}.yaml"
    if shipped.is_file():
        return str(shipped)
    generated = cache_dir() / "zoo" / f"{arg}.yaml"
    if not generated.is_file():
        atomic_write_text(generated, dump_workload(ZOO[arg]()))
    return str(generated)
