"""The ``compare`` verb: every dataflow on one chip, the sensitivity of the basis/reprogram
ratios to the config's assumptions, and a tornado chart of it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xbarsim.cli.arch_args import add_arch_args
from xbarsim.cli.paths import refuse_inputs_as_outputs
from xbarsim.cli.table import table

COMPARE_FILES = ("compare.csv", "sensitivity.csv")
TOP = 5
"""Parameters of the tornado printed per ratio."""


def register(verbs: Any) -> None:
    """Add the ``compare`` subcommand to the CLI's subparsers object."""
    p = verbs.add_parser("compare", help="every dataflow on one chip, with a sensitivity "
                         "analysis of the assumptions [A]; compare.csv, sensitivity.csv, "
                         "tornado.png")
    add_arch_args(p)
    p.add_argument("--workload", required=True, metavar="W")
    p.add_argument("--batch", type=int, default=1, metavar="B")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--basis", metavar="B.npz",
                   help="basis file (default: the workload's example basis)")
    p.add_argument("--param", action="append", default=[], metavar="KEY",
                   help="also halve and double this config key (repeatable; the [A]-tagged "
                        "keys of --arch and the batch always are)")
    p.add_argument("--no-sensitivity", action="store_true",
                   help="only the comparison (no reruns, no tornado)")
    p.add_argument("--jobs", type=int, metavar="J",
                   help="local worker processes for the sensitivity runs (default: all cores)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="directory for compare.csv, sensitivity.csv and tornado.png/.svg")
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    """Run the comparison, write its files, print the table and the top of the tornado."""
    from xbarsim.io.csv_file import write_csv_set
    from xbarsim.sweep.compare import (
        COMPARE_COLUMNS,
        SENSITIVITY_COLUMNS,
        compare,
        top_parameters,
    )
    from xbarsim.sweep.plot import TORNADO_COLUMNS, plot_tornado, save_figure

    refuse_inputs_as_outputs([Path(args.out) / f for f in COMPARE_FILES],
                             {"--arch": args.arch, "--workload": args.workload,
                              "--basis": args.basis})
    result = compare(args.arch, args.workload, args.overrides, batch=args.batch, seed=args.seed,
                     basis=args.basis, sensitivity=not args.no_sensitivity, params=args.param,
                     jobs=args.jobs)
    write_csv_set(args.out, {"compare.csv": (result.rows, COMPARE_COLUMNS),
                             "sensitivity.csv": (result.sensitivity, SENSITIVITY_COLUMNS)})
    print(table([_compare_line(r) for r in result.rows if r["status"] == "ok"],
                ("dataflow", "cycles/inf", "energy/inf", "EDP/inf", "inf/s", "lifetime",
                 "failed cells", "bottleneck", "cycles vs reprogram", "energy vs reprogram")))
    for row in result.rows:
        if row["status"] != "ok":
            print(f"{row['dataflow']}: {row['error']}")
    written = ["compare.csv", "sensitivity.csv"]
    if result.sensitivity:
        for column in TORNADO_COLUMNS:
            versus, ratio = column.removeprefix("basis_vs_").split("_")
            print(f"\nbasis / {versus} {ratio}: what moves it most (x0.5 .. x2)")
            print(table([(name, _num(low), _num(high), _num(span))
                         for name, span, low, high in top_parameters(result.sensitivity, column,
                                                                     TOP)],
                        ("parameter", "at x0.5", "at x2", "span")))
        paths = save_figure(plot_tornado(result.sensitivity), Path(args.out) / "tornado")
        written += [p.name for p in paths]
    print(f"wrote {', '.join(str(Path(args.out) / w) for w in written)}")
    return 0


def _compare_line(row: dict[str, Any]) -> tuple[Any, ...]:
    lifetime = row["lifetime_h"]
    return (row["dataflow"], f"{row['cycles_per_inference']:,.0f}",
            f"{row['energy_per_inference_j'] * 1e3:.4g} mJ",
            f"{row['edp_per_inference_js']:.3g} J s", f"{row['throughput_inf_per_s']:.4g}",
            "" if lifetime is None else f"{lifetime:.3g} h", f"{row['failed_cells']:,}",
            row["bottleneck"], _num(row["cycles_vs_reprogram"]),
            _num(row["energy_vs_reprogram"]))


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
