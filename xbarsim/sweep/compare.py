"""``compare``: every dataflow on one chip, and what decides the ratios between them.

The comparison runs ``static`` (when the network fits), ``reprogram``, ``basis`` and the
``digital`` baseline on the same chip and batch. The sensitivity analysis then halves and
doubles each number the config tags as an assumption [A] (``config.tags``; a named choice steps
to its neighbours instead, as ``_choice_cases`` says), and the batch, and
reruns ``reprogram``, ``basis`` and ``digital`` for each: the spread of the basis/reprogram and
basis/digital ratios it causes ranks the assumptions (a tornado chart). Points run on the
sweep's backends (a local process pool by default).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbarsim.basis import example_basis
from xbarsim.config import load_arch
from xbarsim.config.tags import tagged_keys
from xbarsim.errors import XbarsimError
from xbarsim.inputs import RunInputs, load_run_inputs
from xbarsim.io.yaml_file import read_yaml_text
from xbarsim.sweep.backends import Outcome, open_backend
from xbarsim.sweep.points import Point
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import SUMMARY_COLUMNS, RunOptions, simulate

RATIOS = {"cycles": "cycles_per_inference", "energy": "energy_per_inference_j",
          "edp": "edp_per_inference_js"}
"""Ratio name -> the per-inference summary column it divides."""
COMPARE_COLUMNS = (*SUMMARY_COLUMNS, "bottleneck", *(f"{r}_vs_reprogram" for r in RATIOS),
                   "status", "error")
"""``compare.csv``: a dataflow's summary, its busiest hardware, its ratios to reprogram."""
FACTORS = (0.5, 2.0)
"""Each assumption is set to half and to twice its value."""
VERSUS = (Dataflow.REPROGRAM, Dataflow.DIGITAL)
"""What the basis dataflow is measured against in the sensitivity analysis."""
RERUN = (Dataflow.BASIS, *VERSUS)
"""The dataflows each sensitivity case runs, in this order."""
SENSITIVITY_COLUMNS = ("parameter", "factor", "value", "base_value",
                       *(f"basis_vs_{v.value}_{r}" for v in VERSUS for r in RATIOS),
                       "status", "error")
"""``sensitivity.csv``: one row per parameter and factor (and a ``base`` row first)."""
FUNCTIONAL_ONLY = ("analog.",)
"""Keys the timing model does not read (the device's errors): left out of the sensitivity, as
is ``chip.crossbars`` (the chip being compared; ``sweep`` varies it)."""


@dataclass(frozen=True)
class Comparison:
    """The rows of ``compare.csv`` and ``sensitivity.csv``."""

    rows: list[dict[str, Any]]
    sensitivity: list[dict[str, Any]]


def compare(arch: str | Path, workload: str | Path, overrides: Sequence[str] = (),
            batch: int = 1, seed: int = 0, basis: str | Path | None = None,
            sensitivity: bool = True, params: Sequence[str] = (),
            jobs: int | None = None) -> Comparison:
    """Compare the dataflows on ``arch`` (with ``overrides``); with ``sensitivity``, vary every
    [A]-tagged key of the arch file, the keys in ``params`` and the batch."""
    if batch < 1:
        raise XbarsimError(f"got {batch} (expected >= 1)", key="--batch")
    basis_path = str(Path(basis if basis is not None else example_basis(workload)).resolve())
    base = load_run_inputs(arch, workload, overrides, basis_path)
    cases = _cases(arch, overrides, params, batch, base.arch) if sensitivity else []
    rows = [_dataflow_row(base, flow, batch, seed)
            for flow in (Dataflow.STATIC, Dataflow.REPROGRAM, Dataflow.BASIS, Dataflow.DIGITAL)]
    reference = next(r for r in rows if r["dataflow"] == Dataflow.REPROGRAM.value)
    for row in rows:
        for name, column in RATIOS.items():
            row[f"{name}_vs_reprogram"] = _ratio(row, reference, column)
    if not sensitivity:
        return Comparison(rows, [])
    points = [Point(str(Path(arch).resolve()), (*overrides, *extra),
                    str(Path(workload).resolve()), basis_path if flow is Dataflow.BASIS else None,
                    base.arch.chip.crossbars, RunOptions(flow, batch=b, seed=seed), (),
                    base.arch.name, base.workload.name)
              for _, _, _, extra, b in cases for flow in RERUN]
    outcomes: dict[int, Outcome] = {}
    with open_backend(jobs) as backend:
        for i, outcome in backend.run(points):
            outcomes[i] = outcome
    table = []
    for i, (param, factor, value, _, _) in enumerate(cases):
        runs = dict(zip(RERUN, (outcomes[len(RERUN) * i + j] for j in range(len(RERUN)))))
        error = next((o.error for o in runs.values() if o.error), "")
        base_value = _base_value(param, base.arch, batch)
        entry: dict[str, Any] = {"parameter": param, "factor": factor, "value": value,
                                 "base_value": getattr(base_value, "value", base_value),
                                 "status": "error" if error else "ok", "error": error}
        for versus in VERSUS:
            for name, column in RATIOS.items():
                entry[f"basis_vs_{versus.value}_{name}"] = (
                    None if error else _ratio(runs[Dataflow.BASIS].summary or {},
                                              runs[versus].summary or {}, column))
        table.append(entry)
    return Comparison(rows, table)


def _dataflow_row(inputs: RunInputs, flow: Dataflow, batch: int, seed: int) -> dict[str, Any]:
    """One dataflow's summary and busiest hardware, or why it could not run (only the basis
    dataflow reads ``inputs.basis``)."""
    row: dict[str, Any] = dict.fromkeys(COMPARE_COLUMNS)
    row.update({"workload": inputs.workload.name, "arch": inputs.arch.name,
                "dataflow": flow.value, "crossbars": inputs.arch.chip.crossbars,
                "batch": batch, "seed": seed, "status": "ok", "error": ""})
    try:
        result = simulate(inputs.arch, inputs.workload,
                          RunOptions(flow, batch=batch, seed=seed, basis=inputs.basis))
    except XbarsimError as err:  # static on a chip that cannot hold the network
        row.update({"status": "error", "error": err.message})
        return row
    row.update(result.summary)
    row["bottleneck"] = result.utilization[0]["resource"] if result.utilization else ""
    return row


def _cases(arch: str | Path, overrides: Sequence[str], params: Sequence[str], batch: int,
           base: Any) -> list[tuple[str, float | str, Any, tuple[str, ...], int]]:
    """(parameter, factor, value, extra overrides, batch) of every sensitivity run, the
    unchanged chip first."""
    keys = [k for k in tagged_keys(read_yaml_text(arch))
            if not k.startswith(FUNCTIONAL_ONLY) and k != "chip.crossbars"]
    keys += [k for k in params if k not in keys]
    cases: list[tuple[str, float | str, Any, tuple[str, ...], int]] = [
        ("base", 1.0, "", (), batch)]
    for factor in FACTORS:
        images = max(1, round(batch * factor))
        if images != batch:
            cases.append(("batch", factor, images, (), images))
    for key in keys:
        value = _base_value(key, base, batch)
        if isinstance(value, enum.Enum):
            cases += _choice_cases(arch, overrides, key, value, batch)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
            if key in params:
                raise XbarsimError(f"{key} is {value!r} (expected a nonzero number to halve "
                                   "and double, or a named choice)", key="--param")
            continue  # flags, names and zeros have no half and double
        for factor in FACTORS:
            scaled: float | int = value * factor
            if isinstance(value, int):
                scaled = max(1, round(value * factor))
                if scaled == value:
                    continue
            override = f"{key}={scaled!r}"
            try:
                load_arch(arch, [*overrides, override])
            except XbarsimError:
                continue  # outside the key's valid range: that side has no point
            cases.append((key, factor, scaled, (override,), batch))
    return cases


def _choice_cases(arch: str | Path, overrides: Sequence[str], key: str, value: enum.Enum,
                  batch: int) -> list[tuple[str, float | str, Any, tuple[str, ...], int]]:
    """A named choice is "halved" and "doubled" by stepping to its neighbours in the choice's
    list (ordered from less to more of the thing, e.g. ``WriteCircuits``)."""
    members = list(type(value))
    at = members.index(value)
    cases: list[tuple[str, float | str, Any, tuple[str, ...], int]] = []
    for factor, step in zip(FACTORS, (-1, 1)):
        if 0 <= at + step < len(members):
            choice = members[at + step].value
            override = f"{key}={choice}"
            try:
                load_arch(arch, [*overrides, override])
            except XbarsimError:
                continue
            cases.append((key, factor, choice, (override,), batch))
    return cases


def _base_value(key: str, arch: Any, batch: int) -> Any:
    """The unchanged value of a sensitivity parameter."""
    if key == "batch":
        return batch
    if key == "base":
        return ""
    try:
        return functools.reduce(getattr, key.split("."), arch)
    except AttributeError:
        raise XbarsimError("no such key (expected a dotted config key, e.g. "
                           "tile.combiner.lanes)", key=f"--param {key}") from None


def _ratio(row: dict[str, Any], reference: dict[str, Any], column: str) -> float | None:
    """``row[column] / reference[column]``, or None when either is missing or zero."""
    a, b = row.get(column), reference.get(column)
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return None
    return float(a) / float(b)


def top_parameters(sensitivity: Sequence[Mapping[str, Any]],
                   column: str = "basis_vs_reprogram_cycles", count: int = 5
                   ) -> list[tuple[str, float, float | None, float | None]]:
    """Parameters by how far halving and doubling them moves the ratio ``column`` of
    ``sensitivity.csv``: (parameter, span, value at x0.5, value at x2), widest first."""
    base = next((r[column] for r in sensitivity if r["parameter"] == "base"), None)
    sides: dict[str, dict[float, float]] = {}
    for r in sensitivity:
        if r["parameter"] != "base" and r[column] is not None:
            sides.setdefault(r["parameter"], {})[float(r["factor"])] = r[column]
    ranked = []
    for param, by_factor in sides.items():
        values = [*by_factor.values(), *([base] if base is not None else [])]
        ranked.append((param, max(values) - min(values), by_factor.get(FACTORS[0]),
                       by_factor.get(FACTORS[1])))
    ranked.sort(key=lambda item: (-item[1], item[0]))
    return ranked[:count]
