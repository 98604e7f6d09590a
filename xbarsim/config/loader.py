"""Strict YAML -> frozen dataclass loading for architecture configs, with ``--set`` overrides.

Everything the model reads is validated here, once: types, ranges (from field metadata, then
the generic ceilings ``INT_MAX`` and ``FLOAT_MAX``), unknown keys (with the nearest valid key
suggested) and cross-field rules. Every error names the file and the dotted key path, and shows
user values only through ``errors.show``/``errors.clip`` (bounded, escaped). Loading raises the
first error; ``arch_errors`` lists them all (``xbarsim validate``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from xbarsim.config.schema import MAX_CROSSBARS, Arch
from xbarsim.errors import XbarsimError, clip, name_problem, show, suggest
from xbarsim.io.yaml_file import parse_yaml_value, read_yaml

T = TypeVar("T")

INT_MAX = 2**31
"""Largest magnitude of any integer field: no count, size or bit width of a chip comes near it,
and larger values would only overflow fixed-width arithmetic later. A field's own ``le`` bound,
when smaller, is checked first."""

FLOAT_MAX = 1e12
"""Largest magnitude of any number field: far above every physical quantity of the schema in
its unit (GHz, ns, pJ, mW, mm2, GB/s, uS, ohm, s), small enough that products of a few of them
stay finite."""


def load_arch(path: str | Path, overrides: typing.Sequence[str] = ()) -> Arch:
    """Load and validate an architecture YAML, applying ``key.path=value`` overrides."""
    data = read_yaml(path)
    return arch_from_dict(data, file=str(path), overrides=overrides)


def arch_from_dict(data: Any, *, file: str, overrides: typing.Sequence[str] = ()) -> Arch:
    """Build a validated ``Arch`` from parsed YAML (a mapping) plus overrides."""
    if not isinstance(data, dict):
        raise _not_a_mapping(data, file=file)
    overridden: list[str] = []
    for item in overrides:
        data = apply_override(data, item, file=file)
        overridden.append(item.partition("=")[0].strip())
    try:
        arch = build(Arch, data, file=file, path="")
        check_arch(arch, file=file)
    except XbarsimError as err:
        # A bad value that came from --set is reported against --set, not against the file.
        if err.key and any(err.key == k or err.key.startswith(f"{k}.") for k in overridden):
            raise XbarsimError(err.message, file="--set", key=err.key) from None
        raise
    return arch


def arch_errors(data: Any, *, file: str) -> list[XbarsimError]:
    """Every error of a parsed architecture document, for ``xbarsim validate``: each bad,
    unknown or missing key or, when every key is valid, each broken cross-field rule; empty
    when the document is valid."""
    if not isinstance(data, dict):
        return [_not_a_mapping(data, file=file)]
    errors: list[XbarsimError] = []
    try:
        arch = build(Arch, data, file=file, path="", errors=errors)
    except _IncompleteError:
        return errors
    return list(cross_field_errors(arch, file=file))


def _not_a_mapping(data: Any, *, file: str) -> XbarsimError:
    """The error of a document that is not a mapping of keys."""
    return XbarsimError(f"expected a mapping of architecture keys, got {_kind(data)}", file=file)


def with_crossbars(arch: Arch, crossbars: int) -> Arch:
    """``arch`` with ``chip.crossbars`` replaced (the usual sweep axis), range-checked like
    ``--set chip.crossbars=N``."""
    if crossbars < 1:
        raise XbarsimError(f"got {show(crossbars)} (expected > 0)", file="--set",
                           key="chip.crossbars")
    if crossbars > MAX_CROSSBARS:
        raise XbarsimError(f"got {show(crossbars)} (expected <= {MAX_CROSSBARS})", file="--set",
                           key="chip.crossbars")
    return dataclasses.replace(arch, chip=dataclasses.replace(arch.chip, crossbars=crossbars))


def is_arch_document(data: Any) -> bool:
    """Whether parsed YAML looks like an architecture (for ``xbarsim validate``): a mapping
    without ``layers`` that has at least two architecture keys (so one misspelt key still gets
    the architecture's errors and suggestions)."""
    if not isinstance(data, dict) or "layers" in data:
        return False
    arch_keys = {f.name for f in dataclasses.fields(Arch)} - {"name"}
    return len(arch_keys & set(data)) >= 2


def apply_override(data: dict[str, Any], item: str, *, file: str) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` set; the path must exist in the schema."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise XbarsimError(f"--set {show(item)}: expected key.path=value", file="--set")
    cls: Any = Arch
    parts = key.split(".")
    for depth, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            where = ".".join(parts[:depth]) or "top level"
            raise XbarsimError(f"no such key '{clip(part)}' under {clip(where)}"
                               f"{suggest(part, fields)}", file="--set", key=clip(key))
        hint = _optional_inner(_hints(cls)[part])
        if depth < len(parts) - 1:
            if not _is_dataclass_type(hint):
                raise XbarsimError(f"'{clip(part)}' is a value, not a group", file="--set",
                                   key=clip(key))
            cls = hint
    try:
        value = parse_yaml_value(raw, file="--set") if raw.strip() else ""
    except XbarsimError as err:
        raise err.at(key=key) from None
    copy = _deep_copy(data)
    node = copy
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
    return copy


class _IncompleteError(Exception):
    """A group had errors, already appended to the build's error list: its parent skips it."""


def build(cls: type[T], data: Any, *, file: str, path: str,
          errors: list[XbarsimError] | None = None) -> T:
    """Recursively build dataclass ``cls`` from a mapping, checking keys, types and ranges.

    Without ``errors`` the first error is raised; with it every error is appended (so that
    ``xbarsim validate`` lists them all) and ``_IncompleteError`` is raised at the end if any was.
    """
    if not isinstance(data, dict):
        raise XbarsimError(f"expected a mapping, got {_kind(data)}", file=file, key=path or None)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    before = len(errors) if errors is not None else 0
    misspelt = _check_unknown_keys(data, fields, file=file, path=path, errors=errors)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        key = _join(path, name)
        if name not in data:
            no_default = fld.default is dataclasses.MISSING
            if no_default and fld.default_factory is dataclasses.MISSING and name not in misspelt:
                _report(XbarsimError("missing required key", file=file, key=key), errors)
            continue
        try:
            value = _convert(hints[name], data[name], file=file, key=key, errors=errors)
            _check_range(value, fld.metadata, file=file, key=key)
        except XbarsimError as err:
            _report(err, errors)
            continue
        except _IncompleteError:
            continue
        values[name] = value
    if errors is not None and len(errors) > before:
        raise _IncompleteError
    return cls(**values)


def _check_unknown_keys(data: dict[Any, Any], fields: typing.Collection[str], *, file: str,
                        path: str, errors: list[XbarsimError] | None) -> set[str]:
    """Report each key of ``data`` that is not a field; return the fields their "did you mean"
    names, whose "missing required key" would only repeat it."""
    misspelt = set()
    for key in data:
        if key in fields:
            continue
        name = clip(key)
        hint = suggest(name, fields)
        misspelt |= {field for field in fields if f"'{field}'" in hint}
        _report(XbarsimError(f"unknown key{hint}; valid keys: {', '.join(fields)}", file=file,
                             key=_join(path, name)), errors)
    return misspelt


def _report(err: XbarsimError, errors: list[XbarsimError] | None) -> None:
    """Raise ``err``, or append it to ``errors`` when the build collects them all."""
    if errors is None:
        raise err
    errors.append(err)


def _convert(hint: Any, value: Any, *, file: str, key: str,
             errors: list[XbarsimError] | None = None) -> Any:
    """Convert one YAML value to the annotated type, or raise a keyed error."""
    if _is_dataclass_type(hint):
        return build(hint, value, file=file, path=key, errors=errors)
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, file=file, key=key, errors=errors)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = [m.value for m in hint]
        if not isinstance(value, str) or value not in choices:
            raise XbarsimError(
                f"got {show(value)}{suggest(clip(value), choices)} "
                f"(expected one of {', '.join(choices)})",
                file=file,
                key=key,
            )
        return hint(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise XbarsimError(f"got {show(value)} (expected true or false)", file=file, key=key)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise XbarsimError(f"got {show(value)} (expected an integer)", file=file, key=key)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise XbarsimError(f"got {show(value)} (expected a number)", file=file, key=key)
        # An int too large for a float would raise OverflowError in isfinite and float().
        if isinstance(value, int) and abs(value) > FLOAT_MAX:
            raise XbarsimError(f"got {show(value)} (expected <= {FLOAT_MAX:g})", file=file,
                               key=key)
        if not math.isfinite(value):
            raise XbarsimError(f"got {show(value)} (expected a finite number)", file=file,
                               key=key)
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise XbarsimError(f"got {show(value)} (expected a non-empty string)", file=file,
                               key=key)
        # The schema's only string is the architecture name, which goes into every CSV row.
        problem = name_problem(value)
        if problem:
            raise XbarsimError(problem, file=file, key=key)
        return value
    raise TypeError(f"unsupported config type {hint!r} at {key}")  # a schema bug, not user input


def _check_range(value: Any, limits: typing.Mapping[str, Any], *, file: str, key: str) -> None:
    """The field's own limits (``gt``, ``ge``, ``le``), then the generic ceilings."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return  # groups, enums, names, booleans and absent optionals have no range
    if "gt" in limits and not value > limits["gt"]:
        raise XbarsimError(f"got {show(value)} (expected > {limits['gt']})", file=file, key=key)
    if "ge" in limits and not value >= limits["ge"]:
        raise XbarsimError(f"got {show(value)} (expected >= {limits['ge']})", file=file, key=key)
    if "le" in limits and not value <= limits["le"]:
        raise XbarsimError(f"got {show(value)} (expected <= {limits['le']})", file=file, key=key)
    ceiling = INT_MAX if isinstance(value, int) else FLOAT_MAX
    if abs(value) > ceiling:
        bound = f"{ceiling}" if isinstance(value, int) else f"{ceiling:g}"
        raise XbarsimError(f"got {show(value)} (expected <= {bound})", file=file, key=key)


def check_arch(arch: Arch, *, file: str) -> None:
    """Cross-field rules that no single field can check: raise the first one broken."""
    first = next(cross_field_errors(arch, file=file), None)
    if first is not None:
        raise first


def cross_field_errors(arch: Arch, *, file: str) -> typing.Iterator[XbarsimError]:
    """Each broken cross-field rule, as an error (lazily: ``check_arch`` stops at the first)."""
    p, xb = arch.precision, arch.crossbar
    if xb.cell_bits > p.weight_bits:
        yield XbarsimError(
            f"{xb.cell_bits} is greater than precision.weight_bits={p.weight_bits} "
            "(expected cell_bits <= weight_bits)",
            file=file,
            key="crossbar.cell_bits",
        )
    if xb.differential and p.weight_bits < 2:
        yield XbarsimError(
            "differential pairs need a sign bit plus at least one magnitude bit "
            "(expected weight_bits >= 2)",
            file=file,
            key="precision.weight_bits",
        )
    if xb.dac.bits > p.input_bits:
        yield XbarsimError(
            f"{xb.dac.bits} is greater than precision.input_bits={p.input_bits} "
            "(expected dac.bits <= input_bits)",
            file=file,
            key="crossbar.dac.bits",
        )
    if xb.g_min_us >= xb.g_max_us:
        yield XbarsimError(
            f"{xb.g_min_us} is not below g_max_us={xb.g_max_us} (expected g_min_us < g_max_us)",
            file=file,
            key="crossbar.g_min_us",
        )
    if xb.adc.count > xb.cols:
        yield XbarsimError(
            f"{xb.adc.count} ADCs for {xb.cols} columns (expected count <= cols)",
            file=file,
            key="crossbar.adc.count",
        )
    wv = arch.write_verify
    if wv.pulse_energy_pj is None and wv.write_v is None:
        yield XbarsimError(
            "neither pulse_energy_pj nor write_v is given (expected one: the energy of a "
            "pulse, or the voltage it is estimated from)",
            file=file,
            key="write_verify.pulse_energy_pj",
        )
    comb = arch.tile.combiner
    unset = [k for k in ("multiplier_area_um2", "adder_area_um2", "coeff_buffer_area_mm2_per_kib",
                         "reference_bits") if getattr(comb, k) is None]
    if comb.area_mm2 is None and unset:
        yield XbarsimError(
            f"is unset but {', '.join(unset)} {'is' if len(unset) == 1 else 'are'} too "
            "(expected area_mm2, or the component areas and reference_bits it is estimated "
            "from)",
            file=file,
            key="tile.combiner.area_mm2",
        )
    if arch.write_verify.rows_parallel > xb.rows:
        yield XbarsimError(
            f"{arch.write_verify.rows_parallel} rows for a {xb.rows}-row crossbar "
            "(expected rows_parallel <= crossbar.rows)",
            file=file,
            key="write_verify.rows_parallel",
        )


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_inner(hint: Any) -> Any:
    """``X`` for an optional ``X | None`` hint, else the hint itself."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner
    return hint


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind(value: Any) -> str:
    """What a value that should have been a mapping is, for messages."""
    return "nothing (empty document)" if value is None else type(value).__name__


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}
