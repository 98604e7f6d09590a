"""Command-line interface (docs/design.md section 8): thin wrappers that parse, call the library and
write results. User-input errors print one line ``error: ...`` and exit 2; bugs exit 1."""

from __future__ import annotations

import argparse
import sys
import traceback
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

from xbarsim import __version__
from xbarsim.basis import example_basis
from xbarsim.basis.copies import BasisFootprint, basis_encoding
from xbarsim.basis.timing_spec import BasisSpec
from xbarsim.cli.arch_args import add_arch_args
from xbarsim.cli.basis import register as register_basis
from xbarsim.cli.compare import register as register_compare
from xbarsim.cli.config import register as register_config
from xbarsim.cli.functional import register as register_functional
from xbarsim.cli.functional import with_lossless_bits
from xbarsim.cli.paths import refuse_inputs_as_outputs
from xbarsim.cli.sweep import register as register_sweep
from xbarsim.cli.table import table
from xbarsim.cli.workload import register as register_workload
from xbarsim.config import Arch, is_arch_document, read_yaml
from xbarsim.config.loader import arch_errors, arch_from_dict
from xbarsim.errors import XbarsimError
from xbarsim.inputs import load_run_inputs
from xbarsim.io.csv_file import write_csv_set
from xbarsim.io.zoo_files import resolve_workload
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.weights_map import map_weights
from xbarsim.timing.dataflows.pipeline import plan_copies
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.energy import ENERGY_COLUMNS
from xbarsim.timing.simulate import (
    AREA_COLUMNS,
    LAYER_COLUMNS,
    SUMMARY_COLUMNS,
    UTILIZATION_COLUMNS,
    Granularity,
    RunOptions,
    simulate,
)
from xbarsim.workload import (
    ZOO,
    Workload,
    is_workload_document,
    workload_from_dict,
    write_zoo,
)

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xbarsim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    shorthand = getattr(args, "crossbars_flag", None)
    if shorthand is not None:  # --crossbars N is --set chip.crossbars=N
        args.overrides = [*args.overrides, f"chip.crossbars={shorthand}"]
    try:
        workload = getattr(args, "workload", None)  # a zoo name stands for its YAML file
        if isinstance(workload, str):
            args.workload = resolve_workload(workload)
        elif isinstance(workload, list):
            args.workload = [resolve_workload(w) for w in workload]
        return handler(args)
    except XbarsimError as err:
        print(f"error: {as_flag(err, shorthand is not None)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as err:  # an output path the user gave cannot be written
        print(f"error: {os_error(err, args)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:  # what the size limits and work estimates did not foresee
        print(f"error: xbarsim {args.verb}: out of memory (the inputs are too large for this "
              "machine: reduce the batch, the chip or the network)", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: show it so it can be reported
        traceback.print_exc()
        print("internal error: please report this with the command that caused it", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def os_error(err: OSError, args: argparse.Namespace) -> XbarsimError:
    """``FILE: reason`` of a file-system error, naming the file it reports or else the output
    path the command was writing (a full disk reports no file name), never an empty name."""
    name = err.filename or err.filename2 or getattr(args, "out", None) or f"xbarsim {args.verb}"
    return XbarsimError(str(err.strerror or err), file=str(name))


FLAGS = {"chip.crossbars": "--crossbars", "batch": "--batch", "seed": "--seed",
         "basis": "--basis"}
"""Library error keys (config keys and ``RunOptions`` fields) that the CLI spells as flags."""


def as_flag(err: XbarsimError, crossbars_given: bool) -> XbarsimError:
    """Library errors name config keys; the CLI names the flag the user typed instead: a bad
    ``--set chip.crossbars`` stays a ``--set`` error unless ``--crossbars`` gave the value."""
    flag = FLAGS.get(err.key or "")
    if flag is None or err.file not in (None, "--set"):
        return err
    if err.file == "--set" and not (crossbars_given and flag == "--crossbars"):
        return err
    return XbarsimError(err.message, file=flag)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one ``error: ...`` line and exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per verb."""
    parser = _Parser(prog="xbarsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xbarsim {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    validate = verbs.add_parser("validate", help="check architecture or workload files")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=cmd_validate)

    info = verbs.add_parser("info", help="per-layer crossbar footprint of a workload")
    add_arch_args(info)
    info.add_argument("--workload", required=True, metavar="W")
    info.add_argument("--weights", metavar="W.npz", help="prune all-zero blocks and columns")
    info.add_argument("--basis", metavar="B.npz", help="also show the basis dataflow's footprint")
    info.set_defaults(handler=cmd_info)

    run = verbs.add_parser("run", help="simulate one dataflow; print per-inference figures, "
                           "write summary.csv, layers.csv, utilization.csv and area.csv")
    add_arch_args(run)
    run.add_argument("--workload", required=True, metavar="W")
    run.add_argument("--dataflow", required=True, choices=[d.value for d in Dataflow])
    run.add_argument("--batch", type=int, default=1, metavar="B")
    run.add_argument("--seed", type=int, default=0, metavar="S")
    run.add_argument("--granularity", default=Granularity.WORK_ITEM.value,
                     choices=[g.value for g in Granularity])
    run.add_argument("--overlap", action="store_true",
                     help="reprogram: each tile writes its next round as soon as its own blocks "
                     "of the previous round have computed (no chip-wide barrier)")
    run.add_argument("--weights", metavar="W.npz",
                     help="real weights: prune all-zero blocks/columns, write real levels")
    run.add_argument("--basis", metavar="B.npz",
                     help="basis file for --dataflow basis (default: the workload's example)")
    run.add_argument("--force", action="store_true",
                     help="run even when the estimated work exceeds the limit (a static "
                     "pipeline of more than 1,000,000 layer x image x chunk steps)")
    run.add_argument("--out", metavar="DIR",
                     help="directory for summary.csv, layers.csv, utilization.csv, area.csv")
    run.set_defaults(handler=cmd_run)

    zoo = verbs.add_parser("zoo", help="list or regenerate the standard workloads (any "
                           "--workload accepts a zoo name)")
    zoo.add_argument("--out", default="workloads", metavar="DIR")
    zoo.add_argument("--list", action="store_true",
                     help="list the zoo's networks (layers, MVM layers, weights, MACs) only")
    zoo.set_defaults(handler=cmd_zoo)
    register_basis(verbs)
    register_sweep(verbs)
    register_compare(verbs)
    register_workload(verbs)
    register_functional(verbs)
    register_config(verbs)
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate each file as an architecture or a workload, detected by content: one line per
    error (every error of an architecture, the first of a workload), then the next file."""
    failed = False
    for file in args.files:
        try:
            errors = validate_file(file)
        except XbarsimError as err:
            errors = [err]
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        failed = failed or bool(errors)
    return EXIT_USER_ERROR if failed else 0


def validate_file(file: str) -> list[XbarsimError]:
    """Print ``FILE: ok (...)`` for a valid file, else return an architecture's errors (a
    workload's first error is raised)."""
    data = read_yaml(file)
    if is_workload_document(data):
        workload = workload_from_dict(data, file=file)
        print(f"{file}: ok (workload {workload.name}, {len(workload.layers)} layers)")
        return []
    if not is_arch_document(data):
        raise XbarsimError(
            "not an architecture (needs a 'crossbar' key) nor a workload "
            "(needs a 'layers' key)",
            file=file,
        )
    errors = arch_errors(data, file=file)
    if not errors:
        print(f"{file}: ok (architecture {arch_from_dict(data, file=file).name})")
    return errors


def cmd_info(args: argparse.Namespace) -> int:
    """Print the per-layer footprint table and totals."""
    inputs = load_run_inputs(args.arch, args.workload, args.overrides, args.basis,
                             weights_path=args.weights)
    arch, workload = inputs.arch, inputs.workload
    enc = Encoding.from_arch(arch)
    maps = map_weights(workload, enc, inputs.weights)
    rows: list[tuple[object, ...]] = [
        (m.name, m.K, m.O * m.G, m.G, m.P, m.mapped_blocks, m.mapped_cells, m.macs) for m in maps]
    header: tuple[str, ...] = ("layer", "K", "out", "G", "P", "blocks", "cells", "MACs")
    total_blocks = sum(m.mapped_blocks for m in maps)
    rows.append(("total", "", "", "", "", total_blocks, sum(m.mapped_cells for m in maps),
                 sum(m.macs for m in maps)))
    if inputs.weights is not None:
        rows, header = with_lossless_bits(rows, header, workload, inputs.weights, enc)
    print(f"{workload.name} on {arch.name}: {enc.rows}x{enc.cols} crossbars, "
          f"{enc.s} slices x {enc.d} per weight, {enc.t} reads per vector")
    print(table(rows, header))
    if inputs.weights is not None:
        dense_blocks, dense_cells = sum(m.blocks for m in maps), sum(m.cells for m in maps)
        print(f"pruning saves {dense_blocks - total_blocks:,} of {dense_blocks:,} blocks and "
              f"{dense_cells - sum(m.mapped_cells for m in maps):,} of {dense_cells:,} cells")
    fits = total_blocks <= arch.chip.crossbars
    print(f"crossbars needed to hold the whole network: {total_blocks:,} "
          f"(chip has {arch.chip.crossbars:,}: {'fits' if fits else 'does not fit'})")
    if fits:
        copies = plan_copies(arch, maps, enc)
        used = sum(m.mapped_blocks * copies[m.name] for m in maps)
        print(f"static copies for one image (mapping.replication: "
              f"{arch.mapping.replication.value}; a batch may get more, in lanes): "
              + ", ".join(f"{m.name} x{copies[m.name]}" for m in maps if copies[m.name] > 1)
              + (", " if used > total_blocks else "all layers x1, ")
              + f"{used:,} crossbars used")
    if inputs.basis is not None:
        print_basis_info(arch, workload, enc, inputs.basis)
    return 0


def print_basis_info(arch: Arch, workload: Workload, enc: Encoding, basis: BasisSpec) -> None:
    """Basis copies on the chip and, per layer, projections and combination work."""
    f = BasisFootprint(basis.length, basis.size, basis_encoding(enc, basis.basis_bits))
    layout = (f"{f.copies_per_crossbar} copies per crossbar, {f.parallel_per_crossbar} read in "
              "parallel" if f.copies_per_crossbar else
              f"one copy spans {f.crossbars_per_copy} crossbars")
    print(f"\nbasis L={f.length} x B={f.size}: a copy is {f.length} rows x {f.cols_per_copy} "
          f"columns; {layout}; {f.total_copies(arch.chip.crossbars):,} copies on the chip")
    rows: list[tuple[object, ...]] = []
    projections = macs = 0
    for layer in workload.mvm_layers:
        pixels = workload.out_pixels(layer.name)
        segments = basis.segments[layer.name]
        projections += pixels * layer.groups * segments
        macs += pixels * basis.nnz[layer.name]
        rows.append((layer.name, segments, pixels * layer.groups * segments,
                     pixels * basis.nnz[layer.name]))
    rows.append(("total", "", projections, macs))
    print(table(rows, ("layer", "S", "projections", "combine MACs")))


RUN_FILES = ("summary.csv", "layers.csv", "utilization.csv", "area.csv")
"""What ``run --out DIR`` writes (docs/design.md section 7)."""


def cmd_run(args: argparse.Namespace) -> int:
    """Simulate one run and write its CSVs atomically, as a set."""
    if args.out:
        refuse_inputs_as_outputs([args.out, *(Path(args.out) / name for name in RUN_FILES)],
                                 {"--arch": args.arch, "--workload": args.workload,
                                  "--weights": args.weights, "--basis": args.basis})
    dataflow = Dataflow(args.dataflow)
    basis_path = args.basis
    if basis_path is None and dataflow is Dataflow.BASIS:
        basis_path = example_basis(args.workload)
    inputs = load_run_inputs(args.arch, args.workload, args.overrides, basis_path,
                             weights_path=args.weights)
    options = RunOptions(
        dataflow=dataflow, batch=args.batch, seed=args.seed,
        granularity=Granularity(args.granularity), overlap=args.overlap, basis=inputs.basis,
        weights=inputs.weights, force=args.force,
    )
    result = simulate(inputs.arch, inputs.workload, options)
    if args.out:
        write_csv_set(args.out, dict(zip(RUN_FILES, (
            ([result.summary], SUMMARY_COLUMNS), (result.layers, LAYER_COLUMNS),
            (result.utilization, UTILIZATION_COLUMNS), (result.area, AREA_COLUMNS)))))
    if args.basis is None and basis_path is not None:  # named once nothing can fail, so that
        print(f"using the example basis {basis_path}", file=sys.stderr)  # an error is one line
    print_run(result.summary, result.layers, result.utilization)
    if args.out:
        print(f"wrote {args.out}/summary.csv, layers.csv, utilization.csv and area.csv")
    return 0


def print_run(s: dict[str, typing.Any], layers: list[dict[str, typing.Any]],
              utilization: list[dict[str, typing.Any]]) -> None:
    """Per-inference figures, the energy breakdown, the slowest layers and the busiest
    hardware of one run."""
    n = s["batch"]
    print(f"{s['workload']} on {s['arch']} ({s['crossbars']:,} crossbars, "
          f"{s['area_mm2']:.4g} mm²), dataflow {s['dataflow']}, batch {n}")
    per_inference = [
        ("cycles per inference", f"{s['cycles_per_inference']:,.0f}"),
        ("image latency", f"{s['image_latency_s'] * 1e6:,.4g} us"),
        ("throughput", f"{s['throughput_inf_per_s']:,.4g} inferences/s"),
        ("energy per inference", f"{s['energy_per_inference_j'] * 1e6:,.4g} uJ"),
        ("EDP per inference", f"{s['edp_per_inference_js']:.4g} J s"),
        ("TOPS", f"{s['tops']:.4g}"), ("TOPS/W", f"{s['tops_per_w']:.4g}"),
        ("TOPS/mm²", f"{s['tops_per_mm2']:.4g}"), ("pJ/MAC", f"{s['pj_per_mac']:.4g}"),
        ("setup (one-time write)", f"{s['setup_cycles']:,} cycles, "
                                   f"{s['setup_energy_j'] * 1e3:.4g} mJ"),
        ("cells written per batch", f"{s['cells_written']:,}"),
    ]
    if s["cells_written"]:
        per_inference.append(("failed cells per batch", f"{s['failed_cells']:,}"))
    if s["lifetime_h"] is not None:
        per_inference.append(("lifetime (endurance)", f"{s['lifetime_h']:.4g} h"))
    print(table(per_inference, ("per inference", "value")))
    parts = [(k.removeprefix("energy_").removesuffix("_j"), s[k]) for k in
             (*ENERGY_COLUMNS, "energy_static_j")]
    total = s["energy_j"] or 1.0
    print(table([(name, f"{value / n * 1e6:.4g} uJ", f"{100 * value / total:.1f}%")
                 for name, value in sorted(parts, key=lambda p: -p[1])],
                ("energy per inference", "", "share")))
    span = max((row["end_cycle"] for row in layers), default=0) or 1
    slowest = sorted(layers, key=lambda row: -row["cycles"])[:3]
    print(table([(row["layer"], f"{row['cycles']:,}", f"{100 * row['cycles'] / span:.1f}%")
                 for row in slowest], ("slowest layers", "cycles", "span, % of run")))
    busiest = [(u["resource"], f"{100 * u['utilization']:.1f}%") for u in utilization[:4]]
    print(table(busiest, ("busiest hardware", "busy")))


def cmd_zoo(args: argparse.Namespace) -> int:
    """List the zoo, or regenerate its workloads as YAML files."""
    if args.list:
        rows = []
        for name in sorted(ZOO):
            w = ZOO[name]()
            rows.append((name, len(w.layers), len(w.mvm_layers), w.total_params, w.total_macs))
        print(table(rows, ("workload", "layers", "MVM layers", "weights", "MACs")))
        return 0
    paths = write_zoo(Path(args.out))
    print(f"wrote {len(paths)} workloads to {args.out}/ ({', '.join(sorted(ZOO))})")
    return 0
