"""The architecture options every simulating verb shares."""

from __future__ import annotations

import argparse


def add_arch_args(parser: argparse.ArgumentParser) -> None:
    """``--arch``, repeatable ``--set key.path=value`` and ``--crossbars N`` (its shorthand,
    turned into ``--set chip.crossbars=N`` by ``cli.main``)."""
    parser.add_argument("--arch", required=True, metavar="A", help="architecture YAML")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a config value, e.g. crossbar.adc.bits=6 (repeatable)",
    )
    parser.add_argument("--crossbars", type=int, metavar="N", dest="crossbars_flag",
                        help="chip crossbars: shorthand for --set chip.crossbars=N")
