"""The ``workload`` verb of the CLI: ``xbarsim workload from-onnx`` (docs/design.md sections 4 and
8)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xbarsim.cli.paths import refuse_inputs_as_outputs
from xbarsim.errors import XbarsimError
from xbarsim.io.atomic import atomic_write_text
from xbarsim.io.npz_file import write_npz
from xbarsim.workload import dump_workload
from xbarsim.workload.importers.onnx_import import import_onnx
from xbarsim.workload.weights import load_weights


def register(verbs: Any) -> None:
    """Add ``workload from-onnx`` to the CLI's subcommands (``verbs`` from ``add_subparsers``)."""
    workload = verbs.add_parser("workload", help="import workloads from other formats")
    actions = workload.add_subparsers(dest="workload_action", required=True, metavar="ACTION")
    onnx = actions.add_parser("from-onnx", help="convert an ONNX model to a workload YAML "
                              "(and its weights NPZ)")
    onnx.add_argument("model", metavar="MODEL.onnx")
    onnx.add_argument("-o", "--out", required=True, metavar="W.yaml", help="workload YAML")
    onnx.add_argument("--weights-out", metavar="W.npz",
                      help="write weights/<layer> arrays (batch-norm folded, float32)")
    onnx.add_argument("--input-shape", metavar="C,H,W",
                      help="input size per sample, needed when the model's sizes are symbolic")
    onnx.add_argument("--name", help="workload name (default: the model file's stem)")
    onnx.add_argument("--check-weights", metavar="W.npz",
                      help="also check that an existing weights NPZ fits the imported workload")
    onnx.set_defaults(handler=cmd_from_onnx)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"3,32,32"`` -> (3, 32, 32); ``"784"`` -> (784,)."""
    if text is None:
        return None
    try:
        sizes = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        sizes = ()
    if len(sizes) not in (1, 3) or min(sizes) <= 0:
        raise XbarsimError(f"got {text!r} (expected C,H,W or K: positive integers)",
                           key="--input-shape")
    return sizes


def cmd_from_onnx(args: argparse.Namespace) -> int:
    """Import, optionally check a weights file, write the YAML (and NPZ), print a summary."""
    shape = parse_shape(args.input_shape)
    inputs = {"model": args.model, "--check-weights": args.check_weights}
    refuse_inputs_as_outputs([args.out], inputs)
    refuse_inputs_as_outputs([args.weights_out], inputs, flag="--weights-out")
    if args.name is not None and not args.name.strip():
        raise XbarsimError("expected a non-empty name", key="--name")
    try:
        result = import_onnx(args.model, input_shape=shape, name=args.name)
    except XbarsimError as err:
        if err.key != "input_shape":
            raise
        raise XbarsimError(err.message, file=err.file, key="--input-shape") from None
    workload = result.workload
    if args.check_weights:
        load_weights(args.check_weights, workload)
    header = (f"# Imported from {Path(args.model).name} by `xbarsim workload from-onnx` "
              "(batch-norm and ReLU folded, biases ignored).\n")
    atomic_write_text(args.out, dump_workload(workload, header=header))
    if args.weights_out:
        write_npz(args.weights_out, {f"weights/{k}": v for k, v in result.weights.items()})
    mvm = len(workload.mvm_layers)
    print(f"{workload.name}: {len(workload.layers)} layers ({mvm} conv/linear), input "
          f"{list(workload.input_shape)}, {workload.total_macs:,} MACs, "
          f"{workload.total_params:,} weights")
    for note in result.notes:
        print(f"note: {note}")
    if args.check_weights:
        print(f"{args.check_weights}: ok (fits all {mvm} conv/linear layers)")
    wrote = [args.out] + ([args.weights_out] if args.weights_out else [])
    print(f"wrote {' and '.join(wrote)}")
    return 0
