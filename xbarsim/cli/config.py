"""The ``config`` verb of the CLI: ``xbarsim config template`` prints a commented architecture
config with every key, its unit, range and default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xbarsim.config import load_arch
from xbarsim.config.template import arch_template
from xbarsim.errors import XbarsimError

DEFAULT_ARCH = "arch_configs/isaac_like.yaml"
"""Where the template's values come from without ``--arch``: the source checkout's ISAAC-like
chip, a complete and consistent starting point."""


def register(verbs: Any) -> None:
    """Add ``config template`` to the CLI's subcommands (``verbs`` from ``add_subparsers``)."""
    config = verbs.add_parser("config", help="write your own architecture config")
    actions = config.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    template = actions.add_parser(
        "template", help="print a YAML config with every key, commented with its unit, valid "
        "range, default and meaning (xbarsim config template > my_chip.yaml)")
    template.add_argument("--arch", metavar="A",
                          help=f"take the values from this architecture YAML (default: "
                          f"{DEFAULT_ARCH})")
    template.set_defaults(handler=cmd_template)


def cmd_template(args: argparse.Namespace) -> int:
    """Print the template of ``--arch`` (or of the shipped ISAAC-like chip) on stdout."""
    path = args.arch or str(_shipped_arch())
    print(arch_template(load_arch(path), source=args.arch or DEFAULT_ARCH), end="")
    return 0


def _shipped_arch() -> Path:
    """The checkout's ``DEFAULT_ARCH``; an installed package has none, so ``--arch`` is needed."""
    path = Path(__file__).resolve().parents[2] / DEFAULT_ARCH
    if not path.is_file():
        raise XbarsimError(f"no {DEFAULT_ARCH} beside the package (an installed copy; expected "
                           "--arch A.yaml to take the values from)", file="--arch")
    return path
