"""Hostile and careless input: safe YAML, bounded messages, finite ranges, names, sizes.

Each test reaches the user-facing error (a one-line ``error: FILE: key: message``, exit 2) or the
library error behind it; none of these inputs may produce a traceback, a hang or a huge message.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from xbarsim.cli.main import main
from xbarsim.config import load_arch
from xbarsim.config.loader import arch_from_dict
from xbarsim.errors import XbarsimError, name_problem, show
from xbarsim.io.yaml_file import MAX_BYTES, parse_yaml, read_yaml
from xbarsim.workload import load_workload, workload_from_dict
from xbarsim.workload.importers.import_graph import sanitize

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "arch_configs" / "tiny.yaml"
MLP = ROOT / "workloads" / "mlp_digits.yaml"


def error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI, check it failed as a user error with one line on stderr, return the line."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err[:500]
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


def tiny_text(**replace: str) -> str:
    """tiny.yaml with top-level ``key: value`` lines replaced."""
    lines = TINY.read_text(encoding="utf-8").splitlines()
    for key, value in replace.items():
        lines = [f"{key}: {value}" if ln.startswith(f"{key}:") else ln for ln in lines]
    return "\n".join(lines) + "\n"


def net_text(*layers: str, name: str = "net", shape: str = "[3, 8, 8]") -> str:
    """A workload document with the given flow-mapping layers."""
    return f"name: {name}\ninput: {shape}\nlayers:\n" + "".join(f"  - {la}\n" for la in layers)


def write(tmp_path: Path, text: str, name: str = "doc.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- 1. safe YAML ------------------------------------------------------------------------------

def test_alias_bomb_is_refused_quickly_without_expanding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 9 levels of 9 aliases: 9**9 = 387 million strings if anything walked it expanded.
    lines = ['lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    path = write(tmp_path, "\n".join(["name: bomb", *lines, "layers: [*a8]"]) + "\n")
    start = time.perf_counter()
    line = error_line(capsys, "validate", path)
    assert time.perf_counter() - start < 0.5
    assert line == (f"error: {path}: line 2, column 7: anchors and aliases are not supported "
                    "(expected plain values)")


def test_alias_to_a_plain_value_is_refused_too(tmp_path: Path) -> None:
    text = tiny_text(name="&n tiny", clock_ghz="*n")
    line = 1 + text.splitlines().index("name: &n tiny")
    with pytest.raises(XbarsimError) as info:
        load_arch(write(tmp_path, text))
    assert info.value.message == (f"line {line}, column 7: anchors and aliases are not supported "
                                  "(expected plain values)")


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ("{a: ", "}")],
                         ids=["lists", "mappings"])
def test_deep_nesting_is_a_one_line_error_not_a_recursion_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, opener: str, closer: str
) -> None:
    path = write(tmp_path, f"name: x\nlayers: {opener * 500}1{closer * 500}\n")
    line = error_line(capsys, "validate", path)
    assert line.startswith(f"error: {path}: line 2, column ")
    assert line.endswith("nested more than 64 levels deep (expected at most 64)")
    assert parse_yaml("[" * 63 + "[1]" + "]" * 63, file="ok.yaml")  # 64 levels are fine
    with pytest.raises(XbarsimError, match="line 1, column 65: nested more than 64 levels"):
        parse_yaml("[" * 64 + "[1]" + "]" * 64, file="deep.yaml")


def test_oversized_document_is_refused_before_parsing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"name: big\n" + b"# padding\n" * (MAX_BYTES // 10))  # 10 bytes over
    line = error_line(capsys, "validate", str(path))
    assert line == (f"error: {path}: document is {MAX_BYTES + 10:,} bytes (expected at most "
                    "10,485,760 bytes, 10 MiB)")


def test_duplicate_keys_name_the_key_and_both_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = TINY.read_text(encoding="utf-8").replace("clock_ghz:", "name: again\nclock_ghz:", 1)
    first = 1 + text.splitlines().index("name: tiny")
    second = 1 + text.splitlines().index("name: again")
    path = write(tmp_path, text)
    line = error_line(capsys, "validate", path)
    assert line == (f"error: {path}: line {second}, column 1: duplicate key 'name', first at "
                    f"line {first} (expected unique keys)")
    with pytest.raises(XbarsimError, match=r"line 1, column 8: duplicate key 'a', first at line 1"):
        parse_yaml("{a: 1, a: 2}", file="flow.yaml")


def test_scientific_notation_reads_as_numbers(tmp_path: Path) -> None:
    values = parse_yaml("[1e6, 2e-3, 1.0e6, -3E+2, .5e1, 1.5, 12, 1_000, 0x1F, .inf, -.inf, .nan,"
                        " 1e, e3, 1.2.3]", file="n.yaml")
    assert values[:6] == [1e6, 2e-3, 1e6, -300.0, 5.0, 1.5]
    assert all(type(v) is float for v in values[:6])
    assert values[6:9] == [12, 1000, 31] and all(type(v) is int for v in values[6:9])
    assert values[9:11] == [math.inf, -math.inf] and math.isnan(values[11])
    assert values[12:] == ["1e", "e3", "1.2.3"]
    assert yaml.safe_load("1e6") == "1e6"  # PyYAML's own SafeLoader is left as it was
    arch = load_arch(write(tmp_path, tiny_text(clock_ghz="1.2e0")))
    assert arch.clock_ghz == 1.2


# --- 2. --set ----------------------------------------------------------------------------------

def test_set_values_use_the_same_loader(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_arch(TINY, ["crossbar.read_ns=1e2"]).crossbar.read_ns == 100.0
    assert load_arch(TINY, ["crossbar.read_ns=2.5e1"]).crossbar.read_ns == 25.0
    line = error_line(capsys, "info", "--arch", str(TINY), "--workload", str(MLP),
                      "--set", "crossbar.rows=&a 8")
    assert line == ("error: --set: crossbar.rows: line 1, column 1: anchors and aliases are not "
                    "supported (expected plain values)")
    line = error_line(capsys, "info", "--arch", str(TINY), "--workload", str(MLP),
                      "--set", "crossbar.rows=" + "[" * 100 + "]" * 100)
    assert line.endswith("nested more than 64 levels deep (expected at most 64)")


# --- 3. messages never echo huge or hostile values ---------------------------------------------

def test_messages_are_short_single_lines_whatever_the_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    huge = "x" * 100_000
    cases = [
        tiny_text(clock_ghz=f"'{huge}'"),
        tiny_text(clock_ghz=f"[{', '.join(['1'] * 20_000)}]"),
        tiny_text(name='"evil\\nerror: forged line\\r\\x1b[31m"'),
        tiny_text() + f'"bad\\nkey{huge}": 1\n',
        net_text(f"{{name: c, type: conv, in_channels: 3, out_channels: '{huge}', kernel: 3}}"),
        net_text("{name: c, type: conv, in_channels: 3, out_channels: 4, kernel: 3, "
                 f"mode: \"{huge}\\n\"}}"),
        net_text("{name: f, type: flatten, inputs: \"nowhere\\n" + huge + "\"}"),
    ]
    for n, text in enumerate(cases):
        line = error_line(capsys, "validate", write(tmp_path, text, f"case{n}.yaml"))
        assert len(line) < 400, line[:500]
    err = XbarsimError("bad\nthing\x00", file="f\r\n.yaml", key="k\u2028")
    assert str(err) == "f\\r\\n.yaml: k\\u2028: bad\\nthing\\x00"
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested, huge]
    start = time.perf_counter()
    assert len(show(nested)) == 60 and len(show(10**5000)) < 60 and show("ok") == "'ok'"
    assert time.perf_counter() - start < 0.1


# --- 4. finite ranges --------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "message"), [
    ("clock_ghz", ".nan", "clock_ghz: got nan (expected a finite number)"),
    ("clock_ghz", "-.inf", "clock_ghz: got -inf (expected a finite number)"),
    ("clock_ghz", "1e18", "clock_ghz: got 1e+18 (expected <= 10.0)"),
    ("chip.dram.gbytes_per_s", "1" + "0" * 30, "chip.dram.gbytes_per_s: got "
     "1000000000000000000000000000000 (expected <= 1e+12)"),
    ("crossbar.rows", str(2**63), "crossbar.rows: got 9223372036854775808 (expected <= 4096)"),
    ("tile.shift_add.units", str(2**31 + 1),
     "tile.shift_add.units: got 2147483649 (expected <= 2147483648)"),
])
def test_numbers_must_be_finite_and_below_the_ceilings(
    capsys: pytest.CaptureFixture[str], key: str, value: str, message: str
) -> None:
    line = error_line(capsys, "info", "--arch", str(TINY), "--workload", str(MLP),
                      "--set", f"{key}={value}")
    assert line == f"error: --set: {message}"


def test_an_int_too_big_for_a_float_is_an_error_not_an_overflow() -> None:
    data = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    data["clock_ghz"] = 10**400
    with pytest.raises(XbarsimError) as info:
        arch_from_dict(data, file="lib.yaml")
    assert str(info.value) == "lib.yaml: clock_ghz: got <int of 1329 bits> (expected <= 1e+12)"


# --- 5. names ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "key", "fragment"), [
    (tiny_text(name="a/b"), "name", "got 'a/b' (contains '/';"),
    (tiny_text(name="'=HYPERLINK(1)'"), "name", "(expected a name not starting with =, + or @)"),
    (tiny_text(name="x" * 65), "name", "(65 characters; expected at most 64)"),
    (net_text("{name: f, type: flatten}", name='"a\\0b"'), "name", "contains '\\x00'"),
    (net_text("{name: f, type: flatten}", name='"caf\\u00e9"'), "name", "contains 'é'"),
    (net_text('{name: "\\ud800", type: flatten}'), "layers[0].name", "contains '\\ud800'"),
    (net_text('{name: "a\\x1b[2J", type: flatten}'), "layers[0].name", "contains '\\x1b'"),
    (net_text("{name: '@cmd', type: flatten}"), "layers[0].name", "not starting with"),
    (net_text(f"{{name: {'y' * 129}, type: flatten}}"), "layers[0].name",
     "(129 characters; expected at most 128)"),
], ids=["arch-slash", "arch-formula", "arch-long", "net-nul", "net-non-ascii", "layer-surrogate",
        "layer-escape", "layer-at", "layer-long"])
def test_names_are_restricted_to_a_safe_set(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    line = error_line(capsys, "validate", path)
    assert line.startswith(f"error: {path}: {key}: got ")
    assert fragment in line


def test_shipped_and_imported_names_still_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in [*ROOT.glob("workloads/*.yaml"), *ROOT.glob("arch_configs/*")])
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.count(": ok (") == len(files)
    onnx_labels = ["/features/features.1/features.1.0/block/block.0/block.0.0/Conv", "", "input",
                   "=SUM(A1)", "+x", "@x", "a b/c\\d", "layer1.0.conv1", "\x00\u202e"]
    assert [name_problem(sanitize(s), limit=128) for s in onnx_labels] == [None] * 9


# --- 6. workload sizes -------------------------------------------------------------------------

@pytest.mark.parametrize(("layer", "shape", "key", "message"), [
    ("{name: c, type: conv, in_channels: 3, out_channels: 2097152, kernel: 1}", "[3, 8, 8]",
     "layers[0](c).out_channels", "got 2097152 (expected <= 1048576)"),
    ("{name: c, type: conv, in_channels: 3, out_channels: 8, kernel: 3, groups: 4194304}",
     "[3, 8, 8]", "layers[0](c).groups", "got 4194304 (expected <= 1048576)"),
    ("{name: p, type: pool, kernel: [2000, 1]}", "[3, 8, 8]", "layers[0](p).kernel",
     "got [2000, 1] (expected <= 1024 per axis)"),
    ("{name: p, type: pool, kernel: 1, padding: 1025}", "[3, 8, 8]", "layers[0](p).padding",
     "got [1025, 1025] (expected <= 1024 per axis)"),
    ("{name: p, type: pool, kernel: 1, padding: 1000}", "[3, 65000, 8]", "layers[0](p).padding",
     "output would be 67000x2008 (expected height and width <= 65536)"),
    ("{name: f, type: flatten}", "[3, 131072, 8]", "input",
     "got [3, 131072, 8] (expected C <= 1048576, H and W <= 65536)"),
    ("{name: c, type: conv, in_channels: 65536, out_channels: 65536, kernel: 3}", "[65536, 8, 8]",
     "layers[0](c).out_channels",
     "out_channels 65536 x fan-in 589824 = 38654705664 weights (expected at most 17179869184 "
     "per layer)"),
])
def test_absurd_sizes_are_refused_at_load_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, layer: str, shape: str, key: str,
    message: str,
) -> None:
    path = write(tmp_path, net_text(layer, shape=shape))
    assert error_line(capsys, "validate", path) == f"error: {path}: {key}: {message}"


def test_multiply_accumulates_are_bounded_per_layer_and_per_network(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    # a 64->64 1x1 conv on 65536x65536 pixels: 2**32 x 4,096 = 2**44 MACs, exactly the layer
    # limit (accepted); a 3x3 kernel makes it 9 x 2**44 (refused); 17 such 1x1 layers are
    # 17 x 2**44 > 2**48 in all (refused although each is within the layer limit)
    one = "{name: c%d, type: conv, in_channels: 64, out_channels: 64, kernel: %d, padding: %d}"
    shape = "[64, 65536, 65536]"
    assert main(["validate", write(tmp_path, net_text(one % (0, 1, 0), shape=shape))]) == 0
    capsys.readouterr()
    path = write(tmp_path, net_text(one % (0, 3, 1), shape=shape))
    assert error_line(capsys, "validate", path) == (
        f"error: {path}: layers[0](c0): 4294967296 output pixels x 36864 weights = 1.58e+14 "
        "multiply-accumulates per inference (expected at most 1.76e+13 per layer)")
    path = write(tmp_path, net_text(*(one % (i, 1, 0) for i in range(17)), shape=shape))
    assert error_line(capsys, "validate", path) == (
        f"error: {path}: layers: 2.99e+14 multiply-accumulates per inference (expected at most "
        "2.81e+14)")


def test_a_batch_whose_counts_would_not_be_exact_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ResNet-18 CIFAR-100: 555,468,800 MACs per image; 2**53 / that = 16.2 M images
    macs = load_workload(ROOT / "workloads" / "resnet18_cifar100.yaml").total_macs
    assert macs == 555_468_800
    line = error_line(capsys, "run", "--arch", str(ROOT / "arch_configs" / "isaac_like.yaml"),
                      "--workload", "resnet18_cifar100", "--dataflow", "digital", "--batch",
                      "16300000")
    assert line == ("error: --batch: 16,300,000 images of resnet18_cifar100 are 9.05e+15 "
                    "multiply-accumulates (expected at most 9.01e+15, the largest count exact "
                    "in a float64 CSV cell)")


def test_reprogram_work_is_estimated_and_refused_unless_forced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Block steps of mlp_digits on tiny.yaml (16x16 crossbars; 8-bit differential weights in
    2-bit cells: 4 slices x 2 columns = 8 columns a weight). fc1 64->32: 4 row blocks x
    32 x 8 / 16 = 16 column blocks = 64 blocks; fc2 32->10: 2 x 5 = 10 blocks. Work items:
    74 steps. Vector granularity, batch 3 (P = 1): 222 steps. Row granularity adds 74 blocks x
    16 rows (1 row a group) x 1 pass (16 cells pulsed at once) = 1,184 row groups at 64 a
    step: 19 steps."""
    from xbarsim.config import load_arch
    from xbarsim.mapping.encoding import Encoding
    from xbarsim.mapping.weights_map import map_weights
    from xbarsim.timing.dataflows.rounds import rounds_steps

    arch = load_arch(TINY)
    maps = map_weights(load_workload(MLP), Encoding.from_arch(arch), None)
    assert [m.mapped_blocks for m in maps] == [64, 10]
    assert rounds_steps(arch, maps, 3, False, False) == 74
    assert rounds_steps(arch, maps, 3, True, False) == 222
    assert rounds_steps(arch, maps, 3, False, True) == 93
    # the limit is what refuses: at 221 steps the vector run is refused, forced it runs
    monkeypatch.setattr("xbarsim.timing.simulate.MAX_STEPS", 221)
    args = ["run", "--arch", str(TINY), "--workload", str(MLP), "--dataflow", "reprogram",
            "--crossbars", "2", "--batch", "3", "--granularity", "vector"]
    assert error_line(capsys, *args) == (
        "error: --batch: 3 images of mlp_digits take 222 block steps (blocks written and "
        "computed) (expected at most 221, about 100 s and 2 GB; use --force to run anyway)")
    assert main([*args, "--force"]) == 0


def test_random_weights_too_large_for_memory_are_refused_before_any_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    # 2**30 inputs x 16 outputs = 2**34 weights: 64 GiB as float32, over the 2**28 limit;
    # the basis dataflow would fit an example basis to them (its note is not printed first)
    path = write(tmp_path, net_text("{name: f, type: flatten}", "{name: fc, type: linear, "
                                    "in_channels: 1073741824, out_channels: 16}",
                                    shape="[1, 32768, 32768]", name="huge"))
    line = error_line(capsys, "run", "--arch", str(TINY), "--workload", path, "--dataflow",
                      "basis")
    assert line == ("error: weights: huge has 17,179,869,184 weights: random float32 weights "
                    "would take 64.0 GiB (expected at most 268,435,456 weights; give a weights "
                    "or basis file instead)")


def test_layer_count_is_bounded_and_the_zoo_still_loads() -> None:
    layers = [{"name": f"f{i}", "type": "flatten"} for i in range(10_001)]
    doc = {"name": "long", "input": [1, 1, 1], "layers": layers}
    with pytest.raises(XbarsimError) as info:
        workload_from_dict(doc, file="long.yaml")
    assert str(info.value) == "long.yaml: layers: got 10001 layers (expected at most 10000)"
    vgg = load_workload(ROOT / "workloads" / "vgg16_imagenet.yaml")
    assert max(la.params for la in vgg.layers) == 25088 * 4096
    assert read_yaml(MLP)["name"] == "mlp_digits"
