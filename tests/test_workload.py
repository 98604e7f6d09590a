"""Workload graph, shape inference, strict YAML loading and the dump/load round trip."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.errors import XbarsimError
from xbarsim.workload import (
    INPUT,
    Layer,
    LayerType,
    NetBuilder,
    PoolMode,
    Workload,
    dump_workload,
    is_workload_document,
    load_workload,
    workload_from_dict,
)


def load_text(tmp_path: Path, text: str, name: str = "net.yaml") -> Workload:
    """Write ``text`` to a file and load it."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_workload(path)


# --- shapes and counts derived by hand ---------------------------------------------------------

def test_two_layer_conv_net(tmp_path: Path) -> None:
    w = load_text(tmp_path, """
name: two
input: [3, 32, 32]
layers:
  - {name: c1, type: conv, in_channels: 3, out_channels: 16, kernel: 3, padding: 1}
  - {name: c2, type: conv, in_channels: 16, out_channels: 32, kernel: 3, stride: 2, padding: 1}
""")
    assert w.output_shape("c1") == (16, 32, 32)
    assert w.output_shape("c2") == (32, 16, 16)  # floor((32 + 2 - 3) / 2) + 1 = 16
    assert w.input_shapes("c2") == ((16, 32, 32),)
    c1, c2 = w.layers
    assert (c1.fan_in, c1.out_per_group, w.out_pixels("c1")) == (27, 16, 1024)
    assert (c2.fan_in, c2.out_per_group, w.out_pixels("c2")) == (144, 32, 256)
    assert w.macs("c1") == 1024 * 16 * 27 == 442_368
    assert w.macs("c2") == 256 * 32 * 144 == 1_179_648
    assert w.total_macs == 442_368 + 1_179_648
    assert (c1.params, c2.params, w.total_params) == (432, 4608, 5040)
    assert c1.relu and c2.relu and c1.is_mvm
    assert c1.inputs == (INPUT,) and c2.inputs == ("c1",)
    assert w.consumers(INPUT) == ("c1",) and w.consumers("c2") == () and w.outputs == ("c2",)


def test_grouped_and_depthwise_conv() -> None:
    b = NetBuilder("g", (8, 10, 10))
    b.conv("grouped", 16, 3, padding=0, groups=4)
    b.conv("dw", 16, 3, padding=1, groups=16)
    w = b.build()
    g = w.layer("grouped")
    assert w.output_shape("grouped") == (16, 8, 8)
    assert (g.fan_in, g.out_per_group, w.out_pixels("grouped")) == (2 * 9, 4, 64)
    assert w.macs("grouped") == 64 * 16 * 18 and g.params == 16 * 18
    dw = w.layer("dw")
    assert (dw.fan_in, dw.out_per_group, w.macs("dw")) == (9, 1, 64 * 16 * 9)


def test_linear_after_pool_flattens_implicitly() -> None:
    b = NetBuilder("p", (4, 8, 8))
    b.pool("pool", 2)
    b.linear("fc", 10, relu=False)
    w = b.build()
    assert w.output_shape("pool") == (4, 4, 4)
    fc = w.layer("fc")
    assert (fc.in_channels, fc.fan_in, w.out_pixels("fc")) == (64, 64, 1)
    assert w.output_shape("fc") == (10, 1, 1)
    assert w.macs("fc") == 640 and w.total_macs == 640 and w.macs("pool") == 0
    assert [la.name for la in w.mvm_layers] == ["fc"]


def test_avg_pool_with_padding_and_stride() -> None:
    b = NetBuilder("p", (2, 112, 112))
    b.pool("maxpool", 3, stride=2, padding=1)
    b.pool("gap", 56, mode=PoolMode.AVG)
    w = b.build()
    assert w.output_shape("maxpool") == (2, 56, 56)
    assert w.output_shape("gap") == (2, 1, 1)
    assert w.layer("gap").mode is PoolMode.AVG and w.layer("gap").stride == (56, 56)


def test_add_residual_and_consumers() -> None:
    b = NetBuilder("r", (4, 6, 6))
    b.conv("a", 4, 3, relu=False)
    b.add("sum", ["a", INPUT], relu=True)
    w = b.build()
    assert w.output_shape("sum") == (4, 6, 6)
    assert w.input_shapes("sum") == ((4, 6, 6), (4, 6, 6))
    assert w.consumers(INPUT) == ("a", "sum") and w.consumers("a") == ("sum",)
    assert w.total_macs == 36 * 4 * 36


def test_concat_channels() -> None:
    b = NetBuilder("c", (4, 5, 5))
    b.conv("x", 3, 1, src=INPUT)
    b.conv("y", 5, 3, src=INPUT)
    b.concat("cat", ["x", "y", INPUT])
    w = b.build()
    assert w.output_shape("cat") == (3 + 5 + 4, 5, 5)
    assert w.layer("cat").relu is False


def test_readers_look_through_views_that_are_read() -> None:
    """x feeds ``cat`` (read by p and q) and ``end`` (read by nobody, so not looked through).
    Through concats, x's readers are p, q and end; without, cat and end. p and q both read cat,
    which reads x once: each reader is listed once."""
    b = NetBuilder("v", (4, 5, 5))
    b.conv("x", 3, 1, src=INPUT)
    b.conv("y", 5, 1, src=INPUT)
    b.concat("cat", ["x", "y"])
    b.conv("p", 2, 1, src="cat")
    b.conv("q", 2, 1, src="cat")
    b.concat("end", ["p", "q", "x"])
    w = b.build()
    assert w.readers("x", (LayerType.CONCAT,)) == ["p", "q", "end"]
    assert w.readers("x", ()) == ["cat", "end"]
    assert w.readers("p", (LayerType.CONCAT,)) == ["end"]  # read by nobody: not looked through


def test_rectangular_kernel_stride_padding(tmp_path: Path) -> None:
    w = load_text(tmp_path, """
name: rect
input: [1, 7, 9]
layers:
  - {name: c, type: conv, in_channels: 1, out_channels: 2, kernel: [3, 5], stride: [2, 1],
     padding: [1, 0]}
""")
    # H: floor((7 + 2 - 3) / 2) + 1 = 4;  W: floor((9 - 5) / 1) + 1 = 5
    assert w.output_shape("c") == (2, 4, 5)
    assert w.layer("c").fan_in == 15


def test_flatten_and_defaults(tmp_path: Path) -> None:
    w = load_text(tmp_path, """
name: mlp
input: [1, 8, 8]
layers:
  - {name: flat, type: flatten}
  - {name: fc1, type: linear, in_channels: 64, out_channels: 32}
  - {name: fc2, type: linear, in_channels: 32, out_channels: 10, relu: false}
""")
    assert w.output_shape("flat") == (64, 1, 1)
    assert [la.relu for la in w.layers] == [False, True, False]
    assert w.total_params == 64 * 32 + 32 * 10 == w.total_macs


def test_pool_channels_optional_and_checked(tmp_path: Path) -> None:
    text = """
name: p
input: [3, 4, 4]
layers:
  - {name: pool, type: pool, kernel: 2, in_channels: 3, out_channels: 3}
"""
    assert load_text(tmp_path, text).output_shape("pool") == (3, 2, 2)
    with pytest.raises(XbarsimError, match=r"layers\[0\]\(pool\)\.out_channels: .*expected 3"):
        load_text(tmp_path, text.replace("out_channels: 3", "out_channels: 4"))


def test_workload_api_errors_and_value_semantics() -> None:
    b = NetBuilder("v", (1, 4, 4))
    b.conv("conv1", 2, 3)
    w = b.build()
    with pytest.raises(XbarsimError, match="did you mean 'conv1'"):
        w.layer("conv2")
    assert pickle.loads(pickle.dumps(w)) == w
    twin = NetBuilder("v", (1, 4, 4))
    twin.conv("conv1", 2, 3)
    assert twin.build() == w and hash(twin.build()) == hash(w)
    assert w.layer("conv1").kernel == (3, 3) and w.layer("conv1").padding == (1, 1)


def test_layer_checks_on_construction() -> None:
    with pytest.raises(XbarsimError, match="groups: groups 3 does not divide"):
        Layer(name="c", type=LayerType.CONV, inputs=(INPUT,), relu=True, in_channels=4,
              out_channels=6, kernel=(3, 3), groups=3)
    with pytest.raises(XbarsimError, match="kernel: kernel applies to conv and pool only"):
        Layer(name="f", type=LayerType.FLATTEN, inputs=(INPUT,), relu=False, kernel=(2, 2))
    with pytest.raises(XbarsimError, match="layers: expected at least one layer"):
        Workload("empty", (1, 1, 1), ())


def test_is_workload_document() -> None:
    assert is_workload_document({"name": "x", "layers": []})
    assert not is_workload_document({"crossbar": {}})
    assert not is_workload_document([1, 2])


# --- bad input: every error names the file and the key path ------------------------------------

GOOD = """name: bad
input: [3, 8, 8]
layers:
  - {name: c1, type: conv, in_channels: 3, out_channels: 4, kernel: 3, padding: 1}
  - {name: c2, type: conv, in_channels: 4, out_channels: 8, kernel: 3}
  - {name: gap, type: pool, kernel: 6, mode: avg}
  - {name: fc, type: linear, in_channels: 8, out_channels: 10, relu: false}
"""

C1 = "{name: c1, type: conv, in_channels: 3, out_channels: 4, kernel: 3, padding: 1}"
C2 = "{name: c2, type: conv, in_channels: 4, out_channels: 8, kernel: 3}"
FC = "{name: fc, type: linear, in_channels: 8, out_channels: 10, relu: false}"

BAD_CASES = [
    # (replace old, with new, expected key, expected message fragment)
    ("name: bad\n", "", "name", "missing key 'name'"),
    ("input:", "inputs:", "inputs", "did you mean 'input'"),
    ("[3, 8, 8]", "[3, 8]", "input", "three positive integers"),
    ("[3, 8, 8]", "[3, 0, 8]", "input", "three positive integers"),
    ("kernel: 3, padding: 1", "kernal: 3, padding: 1", "layers[0](c1).kernal",
     "did you mean 'kernel'"),
    ("in_channels: 3, ", "", "layers[0](c1).in_channels", "missing key 'in_channels'"),
    ("kernel: 3, padding", "kernel: '3', padding", "layers[0](c1).kernel",
     "expected an integer or [h, w]"),
    ("out_channels: 4", "out_channels: true", "layers[0](c1).out_channels", "boolean true"),
    ("out_channels: 4", "out_channels: 0", "layers[0](c1).out_channels", "positive integer"),
    ("kernel: 3}", "kernel: 3, stride: -1}", "layers[1](c2).stride", "positive"),
    ("type: linear", "type: linaer", "layers[3](fc).type", "did you mean 'linear'"),
    (C2, C2.replace("}", ", inputs: [c9]}"), "layers[1](c2).inputs", "'c9' is not a layer"),
    (C1, C1.replace("}", ", inputs: [gap]}"), "layers[0](c1).inputs", "defined later"),
    ("name: gap", "name: c2", "layers[2](c2).name", "duplicate layer name 'c2'"),
    ("in_channels: 4, out_channels: 8", "in_channels: 5, out_channels: 8",
     "layers[1](c2).in_channels", "in_channels is 5 but layer 'c1' outputs 4 channels"),
    ("kernel: 3}", "kernel: 3, groups: 3}", "layers[1](c2).groups", "does not divide"),
    ("kernel: 6,", "kernel: 7,", "layers[2](gap).kernel", "larger than the padded input 6x6"),
    ("in_channels: 8, out_channels: 10", "in_channels: 9, out_channels: 10",
     "layers[3](fc).in_channels", "flattened size 8 (expected 8)"),
    ("padding: 1}", "padding: [1, 1, 1]}", "layers[0](c1).padding", "integer or [h, w]"),
    ("padding: 1}", "padding: 1.5}", "layers[0](c1).padding", "float 1.5"),
    ("padding: 1}", "padding: -1}", "layers[0](c1).padding", "non-negative"),
    ("mode: avg", "mode: mean", "layers[2](gap).mode", "expected one of: max, avg"),
    ("relu: false", "relu: 'no'", "layers[3](fc).relu", "expected true or false"),
    (FC, FC.replace("}", ", stride: 1}"), "layers[3](fc).stride",
     "unknown key 'stride' for a linear layer"),
    ("name: c1,", "name: input,", "layers[0](input).name", "reserved"),
    ("name: c1, ", "", "layers[0].name", "missing key 'name'"),
    ("- {name: gap", "- 7\n  - {name: gap", "layers[2]", "expected a mapping"),
    (FC, "{name: sum, type: add, inputs: [c2, c1]}", "layers[3](sum).inputs",
     "equal shape: layer 'c2' has shape [8, 6, 6] but layer 'c1' has [4, 8, 8]"),
    (FC, "{name: cat, type: concat, inputs: [c2, c1]}", "layers[3](cat).inputs",
     "equal height and width"),
    (FC, "{name: sum, type: add, inputs: [c2]}", "layers[3](sum).inputs", "at least 2 inputs"),
    (C2, "{name: c2, type: pool, kernel: 2, inputs: [c1, input]}", "layers[1](c2).inputs",
     "exactly 1 input"),
]


@pytest.mark.parametrize(("old", "new", "key", "fragment"), BAD_CASES)
def test_bad_input_names_file_and_key(tmp_path: Path, old: str, new: str, key: str,
                                      fragment: str) -> None:
    assert old in GOOD
    with pytest.raises(XbarsimError) as info:
        load_text(tmp_path, GOOD.replace(old, new, 1), name="bad_net.yaml")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'bad_net.yaml'}: {key}: "), message
    assert fragment in message, message


def test_good_base_case_loads(tmp_path: Path) -> None:
    w = load_text(tmp_path, GOOD)
    assert w.output_shape("fc") == (10, 1, 1) and w.output_shape("gap") == (8, 1, 1)


@pytest.mark.parametrize(("text", "fragment"), [
    ("name: x\ninput: [1, 2, 3]\nlayers: [", "YAML syntax error at line 3"),
    ("- 1\n- 2\n", "expected a mapping with keys name, input, layers, got list"),
    ("name: x\ninput: [1, 2, 3]\nlayers: []\n", "layers: expected a non-empty list"),
    ("", "got nothing (null)"),
])
def test_bad_documents(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(XbarsimError) as info:
        load_text(tmp_path, text, name="doc.yaml")
    assert str(info.value).startswith(str(tmp_path / "doc.yaml")) and fragment in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(XbarsimError, match=r"nope\.yaml: file not found"):
        load_workload(path)


# --- dump / load round trip --------------------------------------------------------------------

def test_dump_is_compact_and_omits_defaults() -> None:
    b = NetBuilder("small", (2, 6, 6))
    b.conv("c", 4, 3, stride=2)
    b.pool("p", 2, mode=PoolMode.AVG)
    b.conv("d", 4, 1, src="c", relu=False, groups=2)
    b.add("s", ["p", "p"])
    text = dump_workload(b.build())
    assert text == (
        "# Generated by `xbarsim zoo` (xbarsim/workload/zoo.py); do not edit by hand.\n"
        "name: small\n"
        "input: [2, 6, 6]\n"
        "layers:\n"
        "- {name: c, type: conv, in_channels: 2, out_channels: 4, kernel: 3, stride: 2, "
        "padding: 1}\n"
        "- {name: p, type: pool, kernel: 2, mode: avg}\n"
        "- {name: d, type: conv, inputs: [c], in_channels: 4, out_channels: 4, kernel: 1, "
        "groups: 2, relu: false}\n"
        "- {name: s, type: add, inputs: [p, p]}\n"
    )


def test_dump_quotes_awkward_names() -> None:
    b = NetBuilder("odd: name", (1, 2, 2))
    b.flatten("true")
    b.linear("a, b", 3)
    b.linear("#x", 2, src="true")
    w = b.build()
    assert workload_from_dict(yaml.safe_load(dump_workload(w))) == w


NAMES = st.text(alphabet="abcXYZ019_.-: #,'\"[]{}!&*", min_size=1, max_size=8)


@st.composite
def chains(draw: st.DrawFn) -> Workload:
    """Small random valid networks: conv/pool chains with residual adds, concats and FCs."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(1, 10)), draw(st.integers(1, 10))
    names = draw(st.lists(NAMES.filter(lambda s: s != INPUT), min_size=8, max_size=8,
                          unique=True))
    b = NetBuilder(draw(NAMES), (c, h, w))
    for name in names[: draw(st.integers(1, 8))]:
        _, h, w = b.shape()
        kind = draw(st.sampled_from(["conv", "pool", "add", "concat", "linear", "flatten"]))
        if kind in ("conv", "pool"):
            kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
            if kh > h + 2 * ph or kw > w + 2 * pw:
                kh, kw, ph, pw = 1, 1, 0, 0
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            if kind == "conv":
                groups = draw(st.sampled_from([g for g in (1, 2) if b.channels() % g == 0]))
                b.conv(name, groups * draw(st.integers(1, 3)), (kh, kw), stride=stride,
                       padding=(ph, pw), groups=groups, relu=draw(st.booleans()))
            else:
                b.pool(name, (kh, kw), stride=draw(st.sampled_from([None, stride])),
                       padding=(ph, pw), mode=draw(st.sampled_from(list(PoolMode))))
        elif kind == "add":
            b.add(name, [b.last, b.last], relu=draw(st.booleans()))
        elif kind == "concat":
            same_hw = b.shape()[1:] == b.shape(INPUT)[1:] and b.last != INPUT
            b.concat(name, [b.last, b.last, INPUT] if same_hw else [b.last, b.last])
        elif kind == "linear":
            b.linear(name, draw(st.integers(1, 5)), relu=draw(st.booleans()))
        else:
            b.flatten(name)
    return b.build()


@settings(max_examples=150, deadline=None)
@given(chains())
def test_round_trip(workload: Workload) -> None:
    text = dump_workload(workload)
    again = workload_from_dict(yaml.safe_load(text), file="round.yaml")
    assert again == workload
    assert dump_workload(again) == text
    assert [again.output_shape(la.name) for la in again.layers] == [
        workload.output_shape(la.name) for la in workload.layers]
