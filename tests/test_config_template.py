"""Writing one's own chip: ``xbarsim config template`` and ``xbarsim validate`` listing every
error of an architecture file."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xbarsim.cli.main import main
from xbarsim.config import Arch, load_arch
from xbarsim.config.loader import arch_errors
from xbarsim.config.schema import ADC_BITS_MAX, MAX_CLOCK_GHZ, MAX_PULSES, MIN_RATE
from xbarsim.config.template import arch_template, description, field_docs, unit
from xbarsim.errors import XbarsimError
from xbarsim.io.yaml_file import parse_yaml

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "arch_configs").glob("*.yaml"))
TINY = ROOT / "arch_configs" / "tiny.yaml"
ISAAC = ROOT / "arch_configs" / "isaac_like.yaml"
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>\w+):(?P<value>.*?)  # (?P<comment>.*)$")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def schema_keys(cls: type, prefix: str = "") -> Iterator[str]:
    """Dotted key of every field of the schema, groups included, in schema order."""
    hints = typing.get_type_hints(cls)
    for fld in dataclasses.fields(cls):  # type: ignore[arg-type]
        yield prefix + fld.name
        group = [h for h in (hints[fld.name], *typing.get_args(hints[fld.name]))
                 if dataclasses.is_dataclass(h)]  # a group, or an optional one (X | None)
        if group:
            yield from schema_keys(group[0], f"{prefix}{fld.name}.")


def commented_keys(text: str) -> list[tuple[str, str]]:
    """(dotted key, comment) of every key line of a template, in order."""
    found, stack = [], []
    for line in text.splitlines():
        if line.startswith("#  "):  # a key of an absent optional group, commented out
            line = " " + line[1:]
        m = KEY_LINE.match(line)
        if m is None:
            continue
        depth = len(m["indent"]) // 2
        stack[depth:] = [m["key"]]
        found.append((".".join(stack), m["comment"]))
    return found


def template_of(capsys: pytest.CaptureFixture[str], *arch: str) -> str:
    code, out, err = run_cli(capsys, "config", "template", *arch)
    assert (code, err) == (0, "")
    return out


# --- config template ---------------------------------------------------------------------------


def test_template_has_every_schema_key_once_with_a_comment(capsys) -> None:
    text = template_of(capsys)
    keys = [key for key, _ in commented_keys(text)]
    assert keys == list(schema_keys(Arch))
    assert all(comment.strip() for _, comment in commented_keys(text))
    parse_yaml(text, file="template")  # the strict loader: no key twice, plain values


def test_every_schema_field_has_a_docstring() -> None:
    def groups(cls: type) -> Iterator[type]:
        yield cls
        for hint in typing.get_type_hints(cls).values():
            if dataclasses.is_dataclass(hint):
                yield from groups(hint)  # type: ignore[arg-type]
    for cls in groups(Arch):
        docs = field_docs(cls)
        assert all(docs.get(f.name) for f in dataclasses.fields(cls)), cls  # type: ignore[arg-type]


def test_comments_give_unit_range_default_and_meaning(capsys) -> None:
    comments = dict(commented_keys(template_of(capsys)))
    assert comments["crossbar.adc.bits"] == (f"bits; integer in [1, {ADC_BITS_MAX}]; required. "
                                             "Resolution.")
    assert comments["clock_ghz"].startswith(
        f"GHz; number in [{MIN_RATE!r}, {MAX_CLOCK_GHZ!r}]; required. Digital clock;")
    assert comments["write_verify.fixed_pulses"].startswith(
        f"integer in [1, {MAX_PULSES}]; default 1. Pulses per cell")
    assert comments["crossbar.read_energy_pj"].startswith("pJ; number >= 0 or null; default null.")
    assert comments["crossbar.read_energy_pj"].endswith(
        "Unset: estimated as read_v^2 x G x read_ns.")
    assert comments["crossbar.g_min_us"].startswith("uS; number >= 0; required.")
    assert comments["write_verify.policy"] == ("one of program_verify, single_pass; required. "
                                               "Programming policy.")
    assert comments["analog"].startswith("group, optional, every key has a default. Device")


def test_comments_do_not_depend_on_the_values(capsys) -> None:
    tiny, isaac = template_of(capsys, "--arch", str(TINY)), template_of(capsys)
    assert commented_keys(tiny) == commented_keys(isaac)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_template_round_trips_through_load_arch(capsys, tmp_path: Path, path: Path) -> None:
    text = template_of(capsys, "--arch", str(path))
    assert f"# Values: those of {path} " in text
    written = tmp_path / "my_chip.yaml"
    written.write_text(text, encoding="utf-8")
    assert load_arch(written) == load_arch(path)
    assert run_cli(capsys, "validate", str(written))[0] == 0


def test_template_without_arch_is_the_isaac_like_chip(capsys, tmp_path: Path) -> None:
    text = template_of(capsys)
    assert "# Values: those of arch_configs/isaac_like.yaml " in text
    written = tmp_path / "my_chip.yaml"
    written.write_text(text, encoding="utf-8")
    assert load_arch(written) == load_arch(ISAAC)


@pytest.mark.parametrize("name", ["yes", "1.5", "null", "a: b", "x # y", "-net"])
def test_names_yaml_would_misread_are_quoted(name: str) -> None:
    arch = dataclasses.replace(load_arch(TINY), name=name)
    text = arch_template(arch, source="test")
    assert parse_yaml(text, file="template")["name"] == name


def test_template_of_a_missing_file_is_one_error(capsys, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "config", "template", "--arch", str(tmp_path / "no.yaml"))
    assert (code, out) == (2, "")
    assert err == f"error: {tmp_path / 'no.yaml'}: file not found\n"


@pytest.mark.parametrize(("name", "expected"), [
    ("energy_pj_per_byte", "pJ/byte"), ("g_min_us", "uS"), ("gbytes_per_s", "GB/s"),
    ("static_mw_per_router", "mW/router"), ("drift_t0_s", "s"), ("bits", "bits"),
    ("crossbars_per_tile", ""), ("tolerance", "")])
def test_unit_from_the_key_name(name: str, expected: str) -> None:
    assert unit(name) == expected


def test_description_is_the_first_sentence_and_what_unset_means() -> None:
    doc = """Energy of one pulse. More detail
    on two lines. Unset: ``write_v``^2 x G."""
    assert description(doc) == "Energy of one pulse. Unset: write_v^2 x G."


# --- validate: every error of an architecture ---------------------------------------------------


def tiny_with(tmp_path: Path, change: typing.Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def three_errors(data: dict[str, Any]) -> None:
    """An out-of-range clock, a missing key and a misspelt key."""
    data["clock_ghz"] = 0
    del data["precision"]["input_bits"]
    data["crossbar"]["adc"]["bitz"] = data["crossbar"]["adc"].pop("bits")


def test_validate_lists_every_error_of_an_architecture(capsys, tmp_path: Path) -> None:
    path = tiny_with(tmp_path, three_errors)
    code, out, err = run_cli(capsys, "validate", str(path))
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 3, err  # the misspelt key is not also reported missing
    assert lines[0] == f"error: {path}: clock_ghz: got 0.0 (expected >= {MIN_RATE})"
    assert lines[1] == f"error: {path}: precision.input_bits: missing required key"
    assert lines[2].startswith(f"error: {path}: crossbar.adc.bitz: unknown key "
                               "(did you mean 'bits'?); valid keys: bits, ")


def test_loading_still_stops_at_the_first_error(tmp_path: Path) -> None:
    with pytest.raises(XbarsimError) as info:
        load_arch(tiny_with(tmp_path, three_errors))
    assert info.value.key == "clock_ghz"


def test_cross_field_rules_are_checked_once_every_key_is_valid(tmp_path: Path) -> None:
    def both(data: dict[str, Any]) -> None:
        data["precision"]["weight_bits"] = 1  # below cell_bits, and no magnitude bit
    path = tiny_with(tmp_path, both)
    data = parse_yaml(path.read_text(encoding="utf-8"), file=str(path))
    assert [e.key for e in arch_errors(data, file=str(path))] == [
        "crossbar.cell_bits", "precision.weight_bits"]
    data["clock_ghz"] = -1.0
    assert [e.key for e in arch_errors(data, file=str(path))] == ["clock_ghz"]


def test_validate_a_valid_file_exits_0(capsys) -> None:
    assert run_cli(capsys, "validate", str(TINY)) == (0, f"{TINY}: ok (architecture tiny)\n", "")


def test_validate_goes_on_after_a_bad_file(capsys, tmp_path: Path) -> None:
    bad = tiny_with(tmp_path, three_errors)
    code, out, err = run_cli(capsys, "validate", str(bad), str(TINY))
    assert code == 2
    assert out == f"{TINY}: ok (architecture tiny)\n"
    assert len(err.splitlines()) == 3
