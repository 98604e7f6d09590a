"""Architecture configs: shipped presets, strict loading, --set overrides, frozen dataclasses."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.config import Arch, PulseModel, WritePolicy, arch_from_dict, load_arch
from xbarsim.errors import XbarsimError

ROOT = Path(__file__).resolve().parent.parent
ARCH_DIR = ROOT / "arch_configs"
SHIPPED = sorted(ARCH_DIR.glob("*.yaml"))
TINY = ARCH_DIR / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny_dict() -> dict[str, Any]:
    with TINY.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: Any, name: str = "arch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path, overrides: tuple[str, ...] = ()) -> XbarsimError:
    with pytest.raises(XbarsimError) as info:
        load_arch(path, overrides)
    return info.value


# --- shipped presets ---------------------------------------------------------------------------


def test_at_least_the_two_required_presets_ship() -> None:
    assert {p.name for p in SHIPPED} >= {"tiny.yaml", "isaac_like.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_is_named_after_its_file(path: Path) -> None:
    arch = load_arch(path)
    assert isinstance(arch, Arch)
    assert arch.name == path.stem


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_number_in_a_shipped_config_cites_a_source(path: Path) -> None:
    # each numeric value carries a source tag [P]aper, [S]imulator, [D]erived, [A]ssumed.
    number = re.compile(r"^\s*\w+:\s*-?[0-9][0-9_.eE+-]*\s*(#.*)?$")
    untagged = [
        line for line in path.read_text(encoding="utf-8").splitlines()
        if number.match(line) and not re.search(r"#\s*\[[PSDA]\]", line)
    ]
    assert untagged == []


def test_tiny_values_as_written() -> None:
    arch = load_arch(TINY)
    xb = arch.crossbar
    assert (xb.rows, xb.cols, xb.cell_bits, xb.differential) == (16, 16, 2, True)
    assert (xb.dac.bits, xb.adc.bits, xb.adc.count) == (2, 8, 4)
    assert (arch.precision.weight_bits, arch.precision.input_bits) == (8, 8)
    assert arch.chip.crossbars == 32
    assert arch.write_verify.policy is WritePolicy.PROGRAM_VERIFY
    assert arch.write_verify.pulse_model is PulseModel.FIXED
    assert arch.write_verify.fixed_pulses == 3
    # Defaults fill keys the file leaves out.
    assert xb.adc.energy_pj is None
    assert arch.analog.stuck_on_rate == 0.0
    assert arch.analog.programming_error is False


def test_isaac_like_values_as_published() -> None:
    arch = load_arch(ARCH_DIR / "isaac_like.yaml")
    xb = arch.crossbar
    assert (xb.rows, xb.cols, xb.cell_bits, xb.differential) == (128, 128, 2, False)
    assert (xb.dac.bits, xb.adc.bits, xb.adc.count) == (1, 8, 1)
    assert arch.chip.crossbars == 168 * 12 * 8
    assert arch.precision.weight_bits == arch.precision.input_bits == 16
    assert isinstance(arch.clock_ghz, float)
    assert isinstance(xb.rows, int)


# --- bad architecture files --------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    err = _error(path)
    assert str(err) == f"{path}: file not found"
    assert err.file == str(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: tiny\nclock_ghz: 1.0\ncrossbar:\n  rows: [16, 32\n  cols: 16\n")
    err = _error(path)
    assert str(err).startswith(f"{path}: YAML syntax error at line 5, column 7")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- 1\n- 2\n", "list"), ("", "nothing (empty document)"),
     ("# just a comment\n", "nothing (empty document)"), ("42\n", "int")],
    ids=["list", "empty", "comment-only", "scalar"],
)
def test_document_that_is_not_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    assert str(_error(path)) == f"{path}: expected a mapping of architecture keys, got {kind}"


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutator setting a dotted key (creating nothing: the parents must exist)."""
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return mutate


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[last]
    return mutate


def _rename(key: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[new] = node.pop(last)
    return mutate


# (id, mutation of tiny.yaml, key path named in the error, text the message must contain)
BAD_FILES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown-top", _rename("crossbar", "crosbar"), "crosbar", "(did you mean 'crossbar'?)"),
    ("unknown-nested", _rename("crossbar.adc.bits", "bitz"), "crossbar.adc.bitz",
     "(did you mean 'bits'?)"),
    ("str-for-int", _set("crossbar.rows", "16"), "crossbar.rows",
     "got '16' (expected an integer)"),
    ("bool-for-int", _set("crossbar.rows", True), "crossbar.rows",
     "got True (expected an integer)"),
    ("float-for-int", _set("crossbar.rows", 16.5), "crossbar.rows",
     "got 16.5 (expected an integer)"),
    ("list-for-group", _set("crossbar.adc", [8, 4]), "crossbar.adc",
     "expected a mapping, got list"),
    ("str-for-bool", _set("crossbar.differential", "yes please"), "crossbar.differential",
     "(expected true or false)"),
    ("str-for-float", _set("clock_ghz", "fast"), "clock_ghz", "got 'fast' (expected a number)"),
    ("nan-float", _set("clock_ghz", float("nan")), "clock_ghz", "(expected a finite number)"),
    ("empty-name", _set("name", ""), "name", "(expected a non-empty string)"),
    ("rows-zero", _set("crossbar.rows", 0), "crossbar.rows", "got 0 (expected > 0)"),
    ("crossbars-negative", _set("chip.crossbars", -1), "chip.crossbars",
     "got -1 (expected > 0)"),
    ("adc-bits-0", _set("crossbar.adc.bits", 0), "crossbar.adc.bits", "got 0 (expected >= 1)"),
    ("adc-bits-33", _set("crossbar.adc.bits", 33), "crossbar.adc.bits",
     "got 33 (expected <= 32)"),
    ("negative-energy", _set("crossbar.read_energy_pj", -0.5), "crossbar.read_energy_pj",
     "got -0.5 (expected >= 0)"),
    ("cell-bits-over-weight-bits", _set("crossbar.cell_bits", 9), "crossbar.cell_bits",
     "9 is greater than precision.weight_bits=8"),
    ("dac-bits-over-input-bits", _set("crossbar.dac.bits", 9), "crossbar.dac.bits",
     "9 is greater than precision.input_bits=8"),
    ("g-min-equals-g-max", _set("crossbar.g_min_us", 100.0), "crossbar.g_min_us",
     "(expected g_min_us < g_max_us)"),
    ("g-min-above-g-max", _set("crossbar.g_min_us", 150.0), "crossbar.g_min_us",
     "150.0 is not below g_max_us=100.0"),
    ("bad-enum", _set("write_verify.policy", "program_verfy"), "write_verify.policy",
     "got 'program_verfy' (did you mean 'program_verify'?)"),
    ("missing-required", _delete("crossbar.cols"), "crossbar.cols", "missing required key"),
    ("missing-group", _delete("write_verify"), "write_verify", "missing required key"),
    ("tolerance-over-half", _set("write_verify.tolerance", 0.6), "write_verify.tolerance",
     "got 0.6 (expected <= 0.5)"),
    ("adc-count-over-cols", _set("crossbar.adc.count", 17), "crossbar.adc.count",
     "17 ADCs for 16 columns (expected count <= cols)"),
    ("differential-1-bit", _set("precision.weight_bits", 1), "crossbar.cell_bits",
     "2 is greater than precision.weight_bits=1"),
    ("rows-parallel-over-rows", _set("write_verify.rows_parallel", 17),
     "write_verify.rows_parallel", "(expected rows_parallel <= crossbar.rows)"),
    ("stuck-rate-over-1", _set("analog.stuck_on_rate", 1.5), "analog.stuck_on_rate",
     "got 1.5 (expected <= 1)"),
]


@pytest.mark.parametrize(("mutate", "key", "fragment"), [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
def test_bad_file_names_file_key_and_problem(
    tmp_path: Path, tiny_dict: dict[str, Any], mutate: Callable[[dict[str, Any]], None],
    key: str, fragment: str,
) -> None:
    data = copy.deepcopy(tiny_dict)
    mutate(data)
    path = _write(tmp_path, data)
    err = _error(path)
    assert (err.file, err.key) == (str(path), key)
    assert str(err).startswith(f"{path}: {key}: ")
    assert fragment in str(err)


def test_unknown_key_lists_the_valid_keys(tmp_path: Path, tiny_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(tiny_dict)
    data["crossbar"]["dac"]["bitz"] = 2
    err = _error(_write(tmp_path, data))
    assert err.key == "crossbar.dac.bitz"
    assert err.message.endswith(
        "valid keys: bits, reference_bits, energy_pj_per_row, area_mm2_per_crossbar")


def test_differential_needs_two_weight_bits(tmp_path: Path, tiny_dict: dict[str, Any]) -> None:
    data = copy.deepcopy(tiny_dict)
    data["precision"]["weight_bits"] = 1
    data["crossbar"]["cell_bits"] = 1
    err = _error(_write(tmp_path, data))
    assert err.key == "precision.weight_bits"
    assert "(expected weight_bits >= 2)" in err.message
    data["crossbar"]["differential"] = False  # offset encoding is fine with 1 bit
    assert load_arch(_write(tmp_path, data)).crossbar.differential is False


def test_int_is_accepted_for_a_float_and_stored_as_float(
    tmp_path: Path, tiny_dict: dict[str, Any]
) -> None:
    data = copy.deepcopy(tiny_dict)
    data["clock_ghz"] = 2
    arch = load_arch(_write(tmp_path, data))
    assert arch.clock_ghz == 2.0
    assert type(arch.clock_ghz) is float


# --- --set overrides ---------------------------------------------------------------------------


def test_override_changes_only_that_value() -> None:
    base = load_arch(TINY)
    arch = load_arch(TINY, ["crossbar.adc.bits=6"])
    assert arch.crossbar.adc.bits == 6
    assert base.crossbar.adc.bits == 8
    assert dataclasses.replace(
        arch, crossbar=dataclasses.replace(
            arch.crossbar, adc=dataclasses.replace(arch.crossbar.adc, bits=8))
    ) == base


def test_overrides_apply_in_order_and_can_set_optional_keys() -> None:
    arch = load_arch(TINY, ["crossbar.rows=32", "crossbar.rows=64", "crossbar.adc.energy_pj=1.5",
                            "write_verify.policy=single_pass", "analog.drift_nu=0.05"])
    assert arch.crossbar.rows == 64
    assert arch.crossbar.adc.energy_pj == 1.5
    assert arch.write_verify.policy is WritePolicy.SINGLE_PASS
    assert arch.analog.drift_nu == 0.05


def test_override_does_not_mutate_the_parsed_dict(tiny_dict: dict[str, Any]) -> None:
    before = copy.deepcopy(tiny_dict)
    arch_from_dict(tiny_dict, file="tiny.yaml", overrides=["crossbar.rows=8"])
    assert tiny_dict == before


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("crossbar.rows=abc", "--set: crossbar.rows: got 'abc' (expected an integer)"),
        ("crossbar.rows=16.0", "--set: crossbar.rows: got 16.0 (expected an integer)"),
        ("crossbar.rows=0", "--set: crossbar.rows: got 0 (expected > 0)"),
        ("crossbar.adc.bits=33", "--set: crossbar.adc.bits: got 33 (expected <= 32)"),
        ("crossbar.cell_bits=9", "--set: crossbar.cell_bits: 9 is greater than "
                                 "precision.weight_bits=8 (expected cell_bits <= weight_bits)"),
        ("crossbar.adcs.bits=3", "--set: crossbar.adcs.bits: no such key 'adcs' under crossbar "
                                 "(did you mean 'adc'?)"),
        ("nope=1", "--set: nope: no such key 'nope' under top level (did you mean 'name'?)"),
        ("crossbar.rows.x=1", "--set: crossbar.rows.x: 'rows' is a value, not a group"),
        ("crossbar=3", "--set: crossbar: expected a mapping, got int"),
        ("write_verify.policy=program_verfy",
         "--set: write_verify.policy: got 'program_verfy' (did you mean 'program_verify'?) "
         "(expected one of program_verify, single_pass)"),
        ("crossbar.rows", "--set: --set 'crossbar.rows': expected key.path=value"),
        ("=3", "--set: --set '=3': expected key.path=value"),
    ],
)
def test_bad_override_is_reported_against_set(item: str, expected: str) -> None:
    with pytest.raises(XbarsimError) as info:
        load_arch(TINY, [item])
    assert str(info.value) == expected


def test_error_in_file_is_still_reported_against_file_when_overrides_are_given(
    tmp_path: Path, tiny_dict: dict[str, Any]
) -> None:
    data = copy.deepcopy(tiny_dict)
    data["crossbar"]["cols"] = "wide"
    path = _write(tmp_path, data)
    err = _error(path, ("crossbar.rows=8",))
    assert str(err) == f"{path}: crossbar.cols: got 'wide' (expected an integer)"


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(min_value=1, max_value=4096))
def test_any_positive_rows_override_round_trips(rows: int) -> None:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    assert arch_from_dict(data, file="tiny.yaml", overrides=[f"crossbar.rows={rows}"]
                          ).crossbar.rows == rows


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(max_value=0))
def test_any_non_positive_rows_override_is_rejected(rows: int) -> None:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    with pytest.raises(XbarsimError) as info:
        arch_from_dict(data, file="tiny.yaml", overrides=[f"crossbar.rows={rows}"])
    assert str(info.value) == f"--set: crossbar.rows: got {rows} (expected > 0)"


# --- frozen ------------------------------------------------------------------------------------


def test_loaded_config_is_frozen_and_hashable() -> None:
    arch = load_arch(TINY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.crossbar.rows = 32  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.name = "other"  # type: ignore[misc]
    assert hash(arch) == hash(load_arch(TINY))
    assert arch == load_arch(TINY)
    assert arch != load_arch(TINY, ["crossbar.rows=32"])


@pytest.mark.parametrize(("override", "message"), [
    ("clock_ghz=1e18", "clock_ghz: got 1e+18 (expected <= 10.0)"),
    ("crossbar.rows=1000000", "crossbar.rows: got 1000000 (expected <= 4096)"),
    ("chip.crossbars=1000000", "chip.crossbars: got 1000000 (expected <= 262144)"),
    ("write_verify.pulse_ns=1e9",
     "write_verify.pulse_ns: got 1000000000.0 (expected <= 1000000.0)"),
    ("analog.read_noise_sigma=3", "analog.read_noise_sigma: got 3.0 (expected <= 1)"),
])
def test_physical_upper_bounds(override, message):
    with pytest.raises(XbarsimError) as err:
        load_arch("arch_configs/isaac_like.yaml", [override])
    assert str(err.value) == f"--set: {message}"
