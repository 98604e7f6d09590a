"""The ``sweep`` and ``plot`` verbs of the command line (registered by ``xbarsim.cli``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from xbarsim.cli.paths import refuse_existing, refuse_inputs_as_outputs
from xbarsim.errors import XbarsimError
from xbarsim.timing.dataflows.plan import Dataflow

DEFAULT_YS = "cycles_per_inference,edp_per_inference_js"

"""Characters of a path shown in a message (paths are longer than other user values)."""


def register(verbs: Any) -> None:
    """Add the ``sweep`` and ``plot`` subcommands to the CLI's subparsers object."""
    _add_sweep(verbs.add_parser("sweep", help="simulate many points; one CSV row per point"))
    _add_plot(verbs.add_parser("plot", help="plot a sweep CSV (metrics and energy breakdown) "
                                            "or a run's layers.csv (latency and energy per "
                                            "layer)"))


def _add_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, metavar="A", help="architecture YAML")
    p.add_argument("--workload", required=True, action="append", metavar="W",
                   help="workload YAML (repeatable)")
    p.add_argument("--dataflow", required=True, action="append", metavar="D[,D...]",
                   help=f"dataflows, comma-separated ({', '.join(d.value for d in Dataflow)})")
    p.add_argument("--crossbars", required=True, metavar="SPEC",
                   help="counts: 8,16,64 or 8:1024:x2 (geometric) or 8:64:+8 (ends inclusive)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="config key and its values, e.g. crossbar.adc.bits=6,8 (repeatable)")
    p.add_argument("--set", action="append", dest="vary", metavar="KEY=VALUE",
                   help="fix a config value for every point (a one-value --vary; repeatable)")
    p.add_argument("--basis", metavar="B.npz",
                   help="basis file for --dataflow basis (one workload; default: the "
                        "workload's example basis)")
    p.add_argument("--batch", type=int, default=1, metavar="B")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--accuracy", action="store_true",
                   help="add each point's accuracy and mean layer SNR (the functional model "
                        "on --weights and --inputs; one workload)")
    p.add_argument("--weights", metavar="W.npz", help="weights for --accuracy")
    p.add_argument("--inputs", metavar="X",
                   help="labelled inputs for --accuracy: an NPZ with x and y, or digits / "
                        "fashion-mnist (their test split)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="--accuracy on the first N images only")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, metavar="J",
                       help="local worker processes (default: all cores; 1: in-process)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run points on an existing Dask distributed cluster")
    where.add_argument("--dask-local", type=int, metavar="N",
                       help="start a Dask LocalCluster of N workers on loopback")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="skip points already in --out")
    again.add_argument("--force", action="store_true",
                       help="overwrite an existing --out (without it, or --resume, an existing "
                            "CSV is an error)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, metavar="CSV", help="output CSV")
    p.set_defaults(handler=cmd_sweep)


def _add_plot(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv", metavar="CSV",
                   help="a CSV written by xbarsim sweep, or the layers.csv of xbarsim run --out "
                        "(told apart by its columns)")
    p.add_argument("--x", default="crossbars", metavar="COL", help="sweep CSV: the x axis")
    p.add_argument("--y", default=DEFAULT_YS, metavar="COL[,COL...]",
                   help=f"sweep CSV: metrics, one subplot each (default: {DEFAULT_YS})")
    p.add_argument("--by", default="dataflow", metavar="COL[,COL...]",
                   help="sweep CSV: one colour per value of these columns (default: dataflow); "
                        "every other swept column gets a marker and line style per value")
    p.add_argument("--at", action="append", default=[], metavar="COL=VALUE",
                   help="sweep CSV: rows for the energy chart (default: the largest --x value)")
    p.add_argument("--out", required=True, metavar="FIG.png",
                   help="figure; PNG and SVG are written from its stem (and PDF for a .pdf "
                        "name), plus <stem>_energy.* for a sweep CSV")
    p.set_defaults(handler=cmd_plot)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep, then say how many points ran, failed and were resumed."""
    from xbarsim.io.csv_file import lock_path
    from xbarsim.sweep import sweep
    from xbarsim.sweep.run import inputs_path

    refuse_inputs_as_outputs(
        [args.out, inputs_path(args.out), lock_path(args.out)],
        {"--arch": args.arch, "--workload": args.workload, "--basis": args.basis,
         "--weights": args.weights, "--inputs": args.inputs})
    if not (args.resume or args.force):
        refuse_existing(args.out, "--out", "use --resume to continue it or --force to "
                                           "overwrite it")
    frame = sweep(args.arch, args.workload, args.dataflow, args.crossbars, vary=args.vary,
                  batch=args.batch, seed=args.seed, jobs=args.jobs, scheduler=args.scheduler,
                  dask_local=args.dask_local, out=args.out, resume=args.resume,
                  progress=not args.quiet, basis=args.basis, accuracy=_accuracy(args))
    failed = int((frame["status"] != "ok").sum())
    resumed = frame.attrs.get("resumed", 0)
    earlier = f", {resumed} from the earlier run" if resumed else ""
    _say(f"wrote {args.out}: {len(frame)} points ({len(frame) - failed} ok, {failed} error"
         f"{earlier})")
    if failed:
        _say("failed points have status=error; the reason is in the 'error' column", err=True)
    return 0


def _accuracy(args: argparse.Namespace) -> Any:
    """The ``AccuracySpec`` of ``--accuracy`` (None without it; its options need it)."""
    from xbarsim.sweep.accuracy import accuracy_spec

    given = [f for f in ("--weights", "--inputs", "--limit")
             if getattr(args, f[2:]) is not None]
    if not args.accuracy:
        if given:
            raise XbarsimError(f"{given[0]} is for --accuracy (add --accuracy)", key=given[0])
        return None
    for flag in ("--weights", "--inputs"):
        if getattr(args, flag[2:]) is None:
            raise XbarsimError(f"--accuracy needs {flag}", key=flag)
    return accuracy_spec(args.weights, args.inputs, args.limit, args.workload)


def cmd_plot(args: argparse.Namespace) -> int:
    """Plot a sweep CSV (metrics and energy breakdown) or a layers.csv (per-layer chart);
    write PNG and SVG of each figure."""
    from xbarsim.sweep import plot

    stem = plot.figure_stem(args.out)
    refuse_inputs_as_outputs(
        [args.out, *(stem.with_name(f"{stem.name}{part}.{fmt}") for part in ("", "_energy")
                     for fmt in ("png", "svg", "pdf"))], {"CSV": args.csv})
    frame = plot.load_plottable(args.csv)
    if plot.is_layers(frame):
        figures = {"": plot.plot_layers(frame, plot.run_beside(args.csv))}
    else:
        figures = _sweep_figures(frame, args)
    # every figure is drawn before any is written
    extra = Path(args.out).suffix.lower().lstrip(".") or None
    written = [path for part, fig in figures.items()
               for path in plot.save_figure(fig, stem.with_name(f"{stem.name}{part}"), extra)]
    _say(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _sweep_figures(frame: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The metric and energy figures of a sweep CSV, by file-name suffix."""
    from xbarsim.sweep import plot

    ok, skipped = plot.ok_rows(frame)
    if skipped:
        _say(f"note: skipped {skipped} rows with status != ok", err=True)
    by = _columns(args.by)
    at = dict(_pair(item) for item in args.at)
    return {"": plot.plot_sweep(ok, args.x, _columns(args.y), by),
            "_energy": plot.plot_energy_breakdown(ok, by=by, x=args.x, at=at or None)}


def _say(text: str, err: bool = False) -> None:
    """The CLI's output (this module is part of the CLI, like ``xbarsim.cli``)."""
    print(text, file=sys.stderr if err else sys.stdout)


def _columns(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise XbarsimError(f"'{text}' names no column", key="plot")
    return names


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise XbarsimError(f"'{item}' (expected COLUMN=VALUE)", key="--at")
    return key.strip(), value.strip()
