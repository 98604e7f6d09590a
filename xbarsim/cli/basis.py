"""The ``basis`` verb of the CLI: ``xbarsim basis fit`` (docs/design.md section 8)."""

from __future__ import annotations

import argparse
from typing import Any

from xbarsim.basis import fit_basis, save_basis
from xbarsim.cli.paths import refuse_inputs_as_outputs
from xbarsim.cli.table import table
from xbarsim.errors import XbarsimError
from xbarsim.workload import load_workload
from xbarsim.workload.weights import load_weights, random_weights

OPTIONS = {"length": "--length", "basis_size": "--basis-size", "coeff_bits": "--coeff-bits",
           "basis_bits": "--basis-bits", "nnz": "--nnz", "seed": "--random-weights"}
"""Library parameter names -> CLI options, so errors name what the user typed."""


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
    fit.add_argument("--length", type=int, default=9, metavar="L",
                     help="basis-vector length: 9 = 3x3 kernel slices, crossbar rows = row "
                          "segments (default 9)")
    fit.add_argument("--basis-size", type=int, default=8, metavar="B",
                     help="basis vectors (default 8)")
    fit.add_argument("--coeff-bits", type=int, default=4, metavar="b", help="default 4")
    fit.add_argument("--basis-bits", type=int, default=8, metavar="b", help="default 8")
    fit.add_argument("--nnz", type=int, metavar="k",
                     help="keep at most k nonzero coefficients per segment")
    fit.add_argument("--out", required=True, metavar="basis.npz")
    fit.set_defaults(handler=cmd_basis_fit)


def cmd_basis_fit(args: argparse.Namespace) -> int:
    """Fit, write the NPZ, print per-layer relative errors and their mean."""
    refuse_inputs_as_outputs([args.out], {"--workload": args.workload, "--weights": args.weights})
    workload = load_workload(args.workload)
    seed = 0 if args.random_weights is None else args.random_weights
    try:
        weights = (load_weights(args.weights, workload) if args.weights is not None
                   else random_weights(workload, seed))
        basis_set, errors = fit_basis(
            workload, weights, length=args.length, basis_size=args.basis_size,
            coeff_bits=args.coeff_bits, basis_bits=args.basis_bits, nnz=args.nnz)
    except XbarsimError as err:
        if err.file is None and err.key in OPTIONS:
            raise XbarsimError(err.message, key=OPTIONS[err.key]) from None
        raise
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
