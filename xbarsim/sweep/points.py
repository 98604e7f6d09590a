"""Sweep points: parsing the axes (crossbar counts, dataflows, ``--vary``) and their product.

Everything here runs before any point does, so bad input fails fast with an ``XbarsimError``.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xbarsim.basis import example_basis
from xbarsim.config import apply_override, load_arch
from xbarsim.errors import XbarsimError, clip, show, suggest
from xbarsim.inputs import load_run_inputs
from xbarsim.io.csv_file import file_sha256
from xbarsim.sweep.accuracy import AccuracySpec
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions
from xbarsim.workload import load_workload

MAX_AXIS = 10_000
"""Most values one range may expand to (a typo like ``1:1e9:+1`` fails instead of hanging)."""

_RANGE = re.compile(r"^(\d+):(\d+):([x+])(\d+)$")


@dataclass(frozen=True)
class Point:
    """One independent simulation: what a worker needs, plus the names that label its row."""

    arch: str
    """Absolute path of the architecture YAML."""
    overrides: tuple[str, ...]
    """``key=value`` overrides from ``--vary``, applied in order."""
    workload: str
    """Absolute path of the workload YAML."""
    basis: str | None
    """Absolute path of the basis file (basis dataflow only)."""
    crossbars: int
    """``chip.crossbars`` of this point (the sweep axis)."""
    options: RunOptions
    varied: tuple[str, ...]
    """The varied values as given by the user, one per varied key."""
    arch_name: str
    workload_name: str
    sha256: tuple[str, str, str | None] = ("", "", None)
    """SHA-256 of the arch, workload and basis files when the sweep was set up: a worker
    refuses files that differ (``io.csv_file.check_unchanged``); empty skips the check."""
    accuracy: AccuracySpec | None = None
    """Weights and inputs to measure the point's accuracy on (``sweep --accuracy``)."""

    @property
    def key(self) -> tuple[str, ...]:
        """Identity of the point in the CSV: workload, dataflow, crossbars, varied, batch, seed."""
        o = self.options
        return (self.workload_name, o.dataflow.value, str(self.crossbars), *self.varied,
                str(o.batch), str(o.seed))


def key_columns(vary_keys: Sequence[str]) -> tuple[str, ...]:
    """CSV columns that make up ``Point.key``, in the same order."""
    return ("workload", "dataflow", "crossbars", *vary_keys, "batch", "seed")


def parse_crossbars(spec: str | int | Iterable[int]) -> list[int]:
    """``8,16,64``, ``8:1024:x2`` (geometric) or ``8:64:+8`` (arithmetic); ends inclusive."""
    if isinstance(spec, int):
        spec = str(spec)
    items = spec.split(",") if isinstance(spec, str) else [str(v) for v in spec]
    counts: list[int] = []
    for item in items:
        counts.extend(_crossbar_item(item.strip()))
    if not counts:
        raise XbarsimError("no crossbar counts given (expected e.g. 8,16 or 8:1024:x2)",
                           key="--crossbars")
    _no_duplicates(counts, "--crossbars", "crossbar count")
    return counts


def _crossbar_item(item: str) -> list[int]:
    """One comma-separated item of ``--crossbars``."""
    if item.isdigit():
        return [_positive(int(item), item)]
    match = _RANGE.match(item)
    if not match:
        raise XbarsimError(f"'{item}' is not a count or a range (expected N, START:END:xFACTOR "
                           "or START:END:+STEP)", key="--crossbars")
    start, end, op, step = (int(match[1]), int(match[2]), match[3], int(match[4]))
    _positive(start, item)
    if end < start:
        raise XbarsimError(f"'{item}' is empty (end {end} is below start {start})",
                           key="--crossbars")
    if op == "x":
        if step < 2:
            raise XbarsimError(f"'{item}': factor x{step} (expected x2 or more)",
                               key="--crossbars")
        values = [start]
        while values[-1] * step <= end and len(values) <= MAX_AXIS:
            values.append(values[-1] * step)
    else:
        if step < 1:
            raise XbarsimError(f"'{item}': step +{step} (expected +1 or more)", key="--crossbars")
        if (end - start) // step >= MAX_AXIS:
            raise XbarsimError(f"'{item}' has more than {MAX_AXIS} values", key="--crossbars")
        values = list(range(start, end + 1, step))
    return values


def _positive(value: int, item: str) -> int:
    if value < 1:
        raise XbarsimError(f"'{item}': got {value} (expected a positive count)",
                           key="--crossbars")
    return value


def parse_dataflows(spec: str | Dataflow | Iterable[str | Dataflow]) -> list[Dataflow]:
    """Dataflow names, comma-separated or as a list; unknown names get a suggestion."""
    if isinstance(spec, (str, Dataflow)):
        spec = [spec]
    names: list[str] = []
    for item in spec:
        names.extend([item.value] if isinstance(item, Dataflow) else item.split(","))
    choices = [d.value for d in Dataflow]
    flows = []
    for name in (n.strip() for n in names):
        if name not in choices:
            raise XbarsimError(f"unknown dataflow '{name}'{suggest(name, choices)} "
                               f"(expected one of {', '.join(choices)})", key="--dataflow")
        flows.append(Dataflow(name))
    if not flows:
        raise XbarsimError("no dataflow given", key="--dataflow")
    _no_duplicates([f.value for f in flows], "--dataflow", "dataflow")
    return flows


def parse_vary(spec: Mapping[str, Sequence[Any]] | Sequence[str] | None) -> dict[str, list[str]]:
    """``key=v1,v2`` items (or a mapping) -> {key: [values as text]}, keys checked on the schema."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        pairs = [(k, v.split(",") if isinstance(v, str) else v) for k, v in spec.items()]
    else:
        pairs = [_split_vary(s) for s in spec]
    vary: dict[str, list[str]] = {}
    for key, values in pairs:
        key = key.strip()
        texts = [_value_text(v) for v in values]
        if key in vary:
            raise XbarsimError("given twice (expected each key once)", file="--vary", key=key)
        if key == "chip.crossbars":
            raise XbarsimError("is the --crossbars axis (use --crossbars)", file="--vary", key=key)
        if not texts or any(not t for t in texts):
            raise XbarsimError("empty value (expected key=v1,v2,...)", file="--vary", key=key)
        _no_duplicates(texts, f"--vary: {key}", "value")
        try:
            apply_override({}, f"{key}={texts[0]}", file="--vary")
        except XbarsimError as err:
            raise XbarsimError(err.message, file="--vary", key=err.key or key) from None
        vary[key] = texts
    return vary


def _split_vary(item: str) -> tuple[str, list[str]]:
    key, sep, values = item.partition("=")
    if not sep or not key.strip():
        raise XbarsimError(f"'{item}' (expected key.path=v1,v2,...)", key="--vary")
    return key, [v.strip() for v in values.split(",")]


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _no_duplicates(values: Sequence[Any], key: str, what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise XbarsimError(f"{what} {value} given twice (each point must be unique)", key=key)
        seen.add(value)


def build_points(arch: str | Path, workloads: Sequence[str | Path], dataflows: Sequence[Dataflow],
                 crossbars: Sequence[int], vary: Mapping[str, Sequence[str]],
                 batch: int = 1, seed: int = 0, basis: str | Path | None = None,
                 accuracy: AccuracySpec | None = None) -> list[Point]:
    """Validate every input (files, varied values) and list the points in a fixed order.

    Order: workload, then varied values (cartesian, first key outermost), dataflow, crossbars.
    The basis dataflow uses ``basis`` (one workload only) or each workload's example basis.
    """
    if batch < 1:
        raise XbarsimError(f"got {batch} (expected >= 1)", key="--batch")
    if seed < 0:
        raise XbarsimError(f"got {seed} (expected >= 0)", key="--seed")
    load_arch(arch)  # errors about the file itself name the file, not --vary
    combos = list(itertools.product(*vary.values()))
    archs = [_combo_arch(arch, list(vary), combo) for combo in combos]
    _distinct_settings(list(vary), combos, archs)
    names = [a.name for a in archs]
    loaded = [(_absolute(w), load_workload(w).name) for w in workloads]
    if not loaded:
        raise XbarsimError("no workload given", key="--workload")
    _no_duplicates([name for _, name in loaded], "--workload", "workload named")
    bases = _bases(arch, [w for w, _ in loaded], basis, Dataflow.BASIS in dataflows)
    digest = functools.cache(file_sha256)
    points = []
    for (w_path, w_name), (combo, a_name) in itertools.product(loaded, zip(combos, names)):
        overrides = tuple(f"{k}={v}" for k, v in zip(vary, combo))
        for flow, count in itertools.product(dataflows, crossbars):
            options = RunOptions(dataflow=flow, batch=batch, seed=seed)
            b_path = bases[w_path] if flow is Dataflow.BASIS else None
            sha256 = (digest(_absolute(arch)), digest(w_path),
                      None if b_path is None else digest(b_path))
            points.append(Point(_absolute(arch), overrides, w_path, b_path, count, options,
                                tuple(combo), a_name, w_name, sha256, accuracy))
    return points


def _distinct_settings(keys: Sequence[str], combos: Sequence[tuple[str, ...]],
                       archs: Sequence[Any]) -> None:
    """Refuse two values of a key that load as the same setting (``6`` and ``06``, ``10`` and
    ``10.0``): their points would be one point under two names."""
    for j, key in enumerate(keys):
        seen: dict[str, Any] = {}
        for combo, arch in zip(combos, archs):
            if combo[j] in seen:
                continue
            value = functools.reduce(getattr, key.split("."), arch)
            same = next((text for text, v in seen.items() if _equal(v, value)), None)
            if same is not None:
                raise XbarsimError(f"values {clip(same)} and {clip(combo[j])} are both "
                                   f"{show(value)} (each point must be unique)",
                                   key=f"--vary: {clip(key)}")
            seen[combo[j]] = value


def _equal(a: Any, b: Any) -> bool:
    """``a == b`` as a plain bool (False when the comparison is not a bool)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _absolute(path: str | Path) -> str:
    return str(Path(path).resolve())


def _bases(arch: str | Path, workloads: Sequence[str], basis: str | Path | None,
           needed: bool) -> dict[str, str]:
    """Basis file of each workload, checked against it now (a given file always is)."""
    if basis is not None and len(workloads) > 1:
        raise XbarsimError("one basis file fits one workload (give a single --workload, or "
                           "leave out --basis to use each workload's example basis)",
                           key="--basis")
    if not needed and basis is None:
        return {}
    paths = {w: str(basis) if basis is not None else str(example_basis(w)) for w in workloads}
    for workload, path in paths.items():
        load_run_inputs(arch, workload, (), path)  # errors name the file as the user gave it
    return {w: _absolute(p) for w, p in paths.items()}


def _combo_arch(arch: str | Path, keys: list[str], combo: tuple[str, ...]) -> Any:
    """Load the architecture with one combination of varied values; bad values name --vary."""
    overrides = [f"{k}={v}" for k, v in zip(keys, combo)]
    try:
        return load_arch(arch, overrides)
    except XbarsimError as err:
        raise XbarsimError(f"{err.message} (with {', '.join(overrides)})", file="--vary",
                           key=err.key) from None

