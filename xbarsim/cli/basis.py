"""The ``basis`` verb of the CLI: ``xbarsim basis fit`` and ``xbarsim basis train`` (docs/design.md
sections 8 and 13)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from xbarsim.basis import fit_basis, save_basis
from xbarsim.cli.paths import refuse_inputs_as_outputs
from xbarsim.cli.table import table
from xbarsim.errors import XbarsimError
from xbarsim.functional.dataset import Dataset
from xbarsim.functional.datasets import DATASET_NAMES, resolve_dataset
from xbarsim.workload import Workload, load_workload
from xbarsim.workload.weights import load_biases, load_weights, random_weights

OPTIONS = {"length": "--length", "basis_size": "--basis-size", "coeff_bits": "--coeff-bits",
           "basis_bits": "--basis-bits", "nnz": "--nnz", "seed": "--random-weights"}
"""Library parameter names -> CLI options, so errors name what the user typed."""
TRAIN_NEEDS = "basis train needs torch (expected: pip install 'xbarsim[train]')"
"""The error when the optional ``train`` extra is missing."""


def register(verbs: Any) -> None:
    """Add ``basis fit`` to the CLI's subcommands (``verbs`` from ``add_subparsers``)."""
    basis = verbs.add_parser("basis", help="fit global-basis weight files")
    actions = basis.add_subparsers(dest="basis_action", required=True, metavar="ACTION")
    fit = actions.add_parser("fit", help="fit one global basis + quantized coefficients")
    fit.add_argument("--workload", required=True, metavar="W", help="workload YAML")
    source = fit.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="W.npz", help="weights NPZ (weights/<layer>)")
    source.add_argument("--random-weights", type=int, metavar="SEED",
                        help="He-normal random weights from SEED (shape-only studies)")
    _basis_options(fit)
    fit.set_defaults(handler=cmd_basis_fit)
    train = actions.add_parser("train", help="train a basis + quantized coefficients on data "
                                             "(BasisN-style; needs the train extra: torch)")
    train.add_argument("--workload", required=True, metavar="W", help="workload YAML")
    train.add_argument("--weights", required=True, metavar="W.npz",
                       help="trained float weights (weights/<layer>, optional bias/<layer>)")
    train.add_argument("--data", required=True, metavar="D",
                       help="training data: an NPZ with x and y, or digits / fashion-mnist "
                            "(their training split)")
    train.add_argument("--eval", metavar="D", dest="eval_data",
                       help="data for the per-epoch accuracy (default: the test split of a "
                            "named dataset, none for an NPZ)")
    _basis_options(train)
    train.add_argument("--contention", type=float, default=0.0, metavar="λ",
                       help="weight of the penalty on outputs sharing basis vectors (analog "
                            "combination groups; default 0)")
    train.add_argument("--reconstruction", type=float, default=0.0, metavar="α",
                       help="weight of the distance from the float weights (default 0)")
    train.add_argument("--epochs", type=int, default=5, metavar="E", help="default 5")
    train.add_argument("--batch", type=int, default=128, metavar="N", help="default 128")
    train.add_argument("--seed", type=int, default=0, metavar="S",
                       help="minibatch order (default 0)")
    train.set_defaults(handler=cmd_basis_train)


def _basis_options(parser: argparse.ArgumentParser) -> None:
    """The options ``fit`` and ``train`` share: basis shape, bits, sparsity and output."""
    parser.add_argument("--length", type=int, default=9, metavar="L",
                        help="basis-vector length: 9 = 3x3 kernel slices, crossbar rows = row "
                             "segments (default 9)")
    parser.add_argument("--basis-size", type=int, default=8, metavar="B",
                        help="basis vectors (default 8)")
    parser.add_argument("--coeff-bits", type=int, default=4, metavar="b", help="default 4")
    parser.add_argument("--basis-bits", type=int, default=8, metavar="b", help="default 8")
    parser.add_argument("--nnz", type=int, metavar="k",
                        help="keep at most k nonzero coefficients per segment")
    parser.add_argument("--out", required=True, metavar="basis.npz")


def cmd_basis_fit(args: argparse.Namespace) -> int:
    """Fit, write the NPZ, print per-layer relative errors and their mean."""
    refuse_inputs_as_outputs([args.out], {"--workload": args.workload, "--weights": args.weights})
    workload = load_workload(args.workload)
    seed = 0 if args.random_weights is None else args.random_weights
    with _named_options():
        weights = (load_weights(args.weights, workload) if args.weights is not None
                   else random_weights(workload, seed))
        basis_set, errors = fit_basis(
            workload, weights, length=args.length, basis_size=args.basis_size,
            coeff_bits=args.coeff_bits, basis_bits=args.basis_bits, nnz=args.nnz)
    save_basis(args.out, basis_set, workload.name)
    rows = [(name, basis_set.segments(name), basis_set.coeffs[name].shape[1],
             basis_set.nnz_total(name), errors[name]) for name in basis_set.layers]
    mean = sum(errors.values()) / len(errors)
    source = args.weights or f"random weights (seed {seed})"
    print(f"{workload.name}: basis L={args.length} x B={args.basis_size} "
          f"({args.basis_bits}-bit), {args.coeff_bits}-bit coefficients, from {source}")
    print(table(rows, ("layer", "S", "out", "nnz", "rel_error")))
    print(f"mean relative error {mean:.4g}; wrote {args.out}")
    return 0


def cmd_basis_train(args: argparse.Namespace) -> int:
    """Train from the closed-form fit, print per-epoch and per-layer reports, write the NPZ."""
    try:
        from xbarsim.functional.basis_train import TrainOptions, train_basis
    except ModuleNotFoundError as err:
        if err.name != "torch":
            raise
        raise XbarsimError(TRAIN_NEEDS, key="torch") from None
    refuse_inputs_as_outputs([args.out], {"--workload": args.workload, "--weights": args.weights,
                                          "--data": args.data, "--eval": args.eval_data})
    for key, value, low in (("--epochs", args.epochs, 1), ("--batch", args.batch, 1),
                            ("--seed", args.seed, 0)):
        if value < low:
            raise XbarsimError(f"expected an integer >= {low}, got {value}", key=key)
    for key, number in (("--contention", args.contention),
                        ("--reconstruction", args.reconstruction)):
        if not (number >= 0 and math.isfinite(number)):
            raise XbarsimError(f"expected a finite number >= 0, got {number}", key=key)
    workload = load_workload(args.workload)
    weights, biases = load_weights(args.weights, workload), load_biases(args.weights, workload)
    data = resolve_dataset(args.data, "train", workload)
    if data.y is None:
        raise XbarsimError("no labels (expected y [N] integer labels to train on)",
                           file=args.data, key="y")
    evaluate = _eval_data(args.eval_data, args.data, workload)
    options = TrainOptions(length=args.length, basis_size=args.basis_size,
                           coeff_bits=args.coeff_bits, basis_bits=args.basis_bits, nnz=args.nnz,
                           contention=args.contention, reconstruction=args.reconstruction,
                           epochs=args.epochs, batch=args.batch, seed=args.seed)
    print(f"{workload.name}: training basis L={args.length} x B={args.basis_size} "
          f"({args.basis_bits}-bit), {args.coeff_bits}-bit coefficients on {len(data.x)} images "
          f"from {args.data}, {args.epochs} epochs, seed {args.seed}")
    with _named_options():
        basis_set, layers = train_basis(workload, weights, biases, data, evaluate, options,
                                        on_epoch=_print_epoch, progress=_progress_bar)
    save_basis(args.out, basis_set, workload.name)
    rows = [(r.layer, *r.relative_error, *r.nnz, *("" if s is None else s
                                                   for s in r.analog_steps)) for r in layers]
    print(table(rows, ("layer", "rel_error_fit", "rel_error_trained", "nnz_fit", "nnz_trained",
                       "analog_steps_fit", "analog_steps_trained")))
    print(f"wrote {args.out}")
    return 0


@contextmanager
def _named_options() -> Iterator[None]:
    """Re-key the library's parameter errors (``length``, ...) by the CLI option (``--length``)."""
    try:
        yield
    except XbarsimError as err:
        if err.file is None and err.key in OPTIONS:
            raise XbarsimError(err.message, key=OPTIONS[err.key]) from None
        raise


def _eval_data(spec: str | None, train_spec: str, workload: Workload) -> Dataset | None:
    """--eval if given, else a named dataset's test split, else nothing."""
    if spec is not None:
        return resolve_dataset(spec, "test", workload)
    if train_spec in DATASET_NAMES:
        return resolve_dataset(train_spec, "test", workload)
    return None


def _print_epoch(report: Any) -> None:
    """One line per epoch (an ``EpochReport``)."""
    tail = "" if report.eval_accuracy is None else f", eval accuracy {report.eval_accuracy:.4f}"
    print(f"epoch {report.epoch}: loss {report.loss:.4f}, train accuracy "
          f"{report.train_accuracy:.4f}{tail}, weight rel. error {report.relative_error:.4f}",
          flush=True)


def _progress_bar(steps: int) -> Callable[[], None]:
    """A tqdm bar over one epoch's minibatches on stderr (off when stderr is not a terminal)."""
    bar = tqdm(total=steps, desc="minibatches", file=sys.stderr, disable=None, leave=False)

    def tick() -> None:
        bar.update()
        if bar.n >= steps:
            bar.close()
    return tick
