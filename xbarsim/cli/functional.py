"""The ``functional`` verb of the CLI (docs/design.md sections 8 and 9): run a workload's layers
on real inputs, exactly in integers and through the analog crossbar kernel; report per-layer
error and accuracy."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from xbarsim.basis import BasisSet, load_basis
from xbarsim.cli.paths import refuse_inputs_as_outputs
from xbarsim.cli.table import table
from xbarsim.config import load_arch
from xbarsim.errors import XbarsimError
from xbarsim.functional.datasets import resolve_dataset
from xbarsim.functional.kernel.compile_progress import compile_progress
from xbarsim.functional.lossless import workload_lossless_bits
from xbarsim.functional.network import LAYER_COLUMNS, SUMMARY_COLUMNS, run_functional
from xbarsim.io.csv_file import write_csv_set
from xbarsim.mapping.encoding import Encoding
from xbarsim.workload import Workload, load_workload
from xbarsim.workload.weights import load_biases, load_weights


def register(verbs: Any) -> None:
    """Add ``functional`` to the CLI's subcommands (``verbs`` from ``add_subparsers``)."""
    p = verbs.add_parser("functional", help="run real inputs through exact and analog crossbars; "
                                            "per-layer error and accuracy")
    p.add_argument("--arch", required=True, metavar="A", help="architecture YAML")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config value, e.g. crossbar.adc.bits=6 (repeatable)")
    p.add_argument("--workload", required=True, metavar="W", help="workload YAML")
    p.add_argument("--weights", metavar="W.npz",
                   help="weights/<layer> (and optional bias/<layer>, added digitally)")
    p.add_argument("--basis", metavar="B.npz",
                   help="basis file: what the basis hardware computes (--dataflow basis), or "
                        "the weights it reconstructs (static/reprogram without --weights)")
    p.add_argument("--dataflow", default="static", choices=[*DATAFLOWS, "all"],
                   help="static and reprogram: weights on the cells; basis: the basis on the "
                        "cells, projections combined with the coefficients; all: each of them "
                        "(default: static)")
    p.add_argument("--inputs", required=True, metavar="X",
                   help="an NPZ with x [N, C, H, W] or [N, C*H*W] float, optional y [N] int "
                        "labels; or digits / fashion-mnist (their test split)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="device randomness (default 0)")
    p.add_argument("--limit", type=int, metavar="N", help="run only the first N images")
    p.add_argument("--out", metavar="DIR",
                   help="directory for functional.csv and functional_summary.csv")
    p.set_defaults(handler=cmd_functional)


DATAFLOWS = ("static", "reprogram", "basis")
"""What ``--dataflow`` accepts besides ``all``. Static and reprogram compute the same thing (the
same weights written with the same write policy); they differ in time and energy only."""
CSV_LAYER_COLUMNS = ("dataflow", *LAYER_COLUMNS)
"""Columns of ``functional.csv``: one row per dataflow and layer."""
CSV_SUMMARY_COLUMNS = ("dataflow", *SUMMARY_COLUMNS)
"""Columns of ``functional_summary.csv``: one row per dataflow."""
FILES = ("functional.csv", "functional_summary.csv")
"""What ``functional --out DIR`` writes, as a set."""


def cmd_functional(args: argparse.Namespace) -> int:
    """Load, run each dataflow asked for, write the two CSVs atomically, print short tables."""
    flows = DATAFLOWS if args.dataflow == "all" else (args.dataflow,)
    if args.weights is None and args.basis is None:
        raise XbarsimError("give --weights W.npz, --basis B.npz or both (expected weights to run)",
                           key="functional")
    if "basis" in flows and args.basis is None:
        raise XbarsimError("the basis dataflow needs --basis B.npz (expected a basis file)",
                           key="--dataflow")
    if args.seed < 0:
        raise XbarsimError(f"expected a non-negative integer, got {args.seed}", key="--seed")
    if args.limit is not None and args.limit < 1:
        raise XbarsimError(f"expected a positive integer, got {args.limit}", key="--limit")
    if args.out:
        refuse_inputs_as_outputs([args.out, *(Path(args.out) / name for name in FILES)],
                                 {"--arch": args.arch, "--workload": args.workload,
                                  "--weights": args.weights, "--basis": args.basis,
                                  "--inputs": args.inputs})
    arch = load_arch(args.arch, args.overrides)
    workload = load_workload(args.workload)
    basis = None if args.basis is None else load_basis(args.basis, workload)
    weights, biases = _weights(args, workload, basis)
    data = resolve_dataset(args.inputs, "test", workload)
    n = len(data.x) if args.limit is None else min(args.limit, len(data.x))
    labels = None if data.y is None else data.y[:n]
    layer_rows, summary_rows = [], []
    for flow in flows:
        with compile_progress():
            result = run_functional(arch, workload, weights, data.x[:n], labels, biases=biases,
                                    seed=args.seed, basis=basis if flow == "basis" else None)
        layer_rows += [{"dataflow": flow, **row} for row in result.layers]
        summary_rows.append({"dataflow": flow, **result.summary})
        source = args.basis if flow == "basis" or args.weights is None else args.weights
        print(f"{workload.name} on {arch.name}, dataflow {flow}, {result.images} images, "
              f"{'basis' if flow == 'basis' else 'weights'} from {source}, seed {args.seed}: "
              "analog vs exact per layer (real units)")
        print(table([tuple(row[c] for c in LAYER_COLUMNS) for row in result.layers],
                    LAYER_COLUMNS))
        if labels is not None:
            acc = result.accuracy
            print(f"accuracy: float {acc['float']:.4f}, exact {acc['exact']:.4f}, "
                  f"analog {acc['analog']:.4f}")
    if args.out:
        write_csv_set(args.out, dict(zip(FILES, ((layer_rows, CSV_LAYER_COLUMNS),
                                                 (summary_rows, CSV_SUMMARY_COLUMNS)))))
        print(f"wrote {args.out}/functional.csv and {args.out}/functional_summary.csv")
    return 0


def _weights(args: argparse.Namespace, workload: Workload, basis: BasisSet | None
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Weights (from --weights, else reconstructed from the basis) and the optional biases."""
    if args.weights is not None:
        return load_weights(args.weights, workload), load_biases(args.weights, workload)
    assert basis is not None  # checked by the caller: one of the two is given
    return {layer.name: basis.reconstruct(layer.name, workload)
            for layer in workload.mvm_layers}, {}


def with_lossless_bits(rows: list[tuple[Any, ...]], header: tuple[str, ...], workload: Workload,
                       weights: Mapping[str, np.ndarray],
                       enc: Encoding) -> tuple[list[tuple[Any, ...]], tuple[str, ...]]:
    """``info`` rows (one per MVM layer, then a total row) with a ``lossless_adc_bits`` column:
    the fewest calibrated-ADC bits that keep every column sum of the layer exact."""
    bits = workload_lossless_bits(workload, weights, enc)
    extended = [(*row, bits[row[0]]) for row in rows[:-1]] + [(*rows[-1], "")]
    return extended, (*header, "lossless_adc_bits")
