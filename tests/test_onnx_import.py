"""ONNX import: round trip against onnx's reference evaluator, the CLI, and bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

onnx = pytest.importorskip("onnx")

from onnx import helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from tests import onnx_models as om  # noqa: E402
from tests.numpy_forward import forward  # noqa: E402
from xbarsim.cli.main import main  # noqa: E402
from xbarsim.errors import XbarsimError  # noqa: E402
from xbarsim.workload import LayerType, PoolMode, load_workload  # noqa: E402
from xbarsim.workload.importers.onnx_import import MISSING_ONNX, from_onnx, import_onnx  # noqa: E402
from xbarsim.workload.weights import load_weights  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "arch_configs" / "tiny.yaml")

RESNET_MACS = (16 * 16 * 8 * 27 + 4 * 4 * 16 * 72 + 4 * 4 * 16 * 144 + 4 * 4 * 16 * 8
               + 4 * 4 * 8 * 16 + 4 * 4 * 8 * 72 + 10 * 16)
"""stem, block_a, block_b, shortcut, branch1, branch2 (groups 2: K = 8 * 9), fc."""


def reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The model's output from onnx's reference evaluator."""
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str, *fragments: str) -> str:
    """Exit 2 with a single ``error:`` line containing every fragment."""
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def resnet(tmp_path: Path) -> tuple[onnx.ModelProto, Path]:
    model = om.resnet_style(seed=1)
    return model, om.save(model, tmp_path / "resnet_style.onnx")


def test_round_trip_matches_reference(resnet, tmp_path, capsys):
    model, path = resnet
    yaml_out, npz_out = tmp_path / "w" / "net.yaml", tmp_path / "w" / "net.npz"
    code, out, err = cli(capsys, "workload", "from-onnx", str(path), "-o", str(yaml_out),
                         "--weights-out", str(npz_out))
    assert code == 0, err
    assert f"{RESNET_MACS:,} MACs" in out and "wrote" in out
    workload = load_workload(yaml_out)
    weights = load_weights(npz_out, workload)
    assert {k: v.dtype for k, v in weights.items()} == dict.fromkeys(weights, np.float32)
    x = np.random.default_rng(2).standard_normal((2, 3, 16, 16)).astype(np.float32)
    acts, macs = forward(workload, weights, x)
    assert macs == workload.total_macs == RESNET_MACS
    expected = reference(model, x)
    (final,) = workload.outputs
    assert acts[final].shape == expected.shape == (2, 10)
    np.testing.assert_allclose(acts[final], expected, rtol=1e-4, atol=1e-4)


def test_imported_graph_structure(resnet):
    workload, weights = from_onnx(resnet[1])
    layers = {la.name: la for la in workload.layers}
    assert workload.name == "resnet_style" and workload.input_shape == (3, 16, 16)
    assert list(layers) == ["stem", "pool1", "block_a", "block_b", "shortcut", "block_add",
                            "branch1", "branch2", "cat", "gap", "flat", "fc"]
    assert layers["stem"].relu and not layers["block_b"].relu and not layers["shortcut"].relu
    assert layers["block_add"].type is LayerType.ADD and layers["block_add"].relu
    assert layers["shortcut"].inputs == ("pool1",) and layers["shortcut"].stride == (2, 2)
    assert layers["branch2"].groups == 2 and layers["cat"].inputs == ("branch1", "branch2")
    gap = layers["gap"]
    assert gap.mode is PoolMode.AVG and gap.kernel == (4, 4) and gap.stride == (4, 4)
    assert layers["fc"].in_channels == 16 and not layers["fc"].relu
    assert weights["branch2"].shape == (8, 8, 3, 3) and weights["fc"].shape == (10, 16)


def test_batchnorm_folded_into_conv_weights(resnet):
    model, path = resnet
    _, weights = from_onnx(path)
    init = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    gamma, var = init["stem_bn.gamma"], init["stem_bn.var"]
    folded = init["stem.w"] * (gamma / np.sqrt(var + 1e-3))[:, None, None, None]
    np.testing.assert_allclose(weights["stem"], folded, rtol=1e-6)
    np.testing.assert_array_equal(weights["branch1"], init["branch1.w"])  # no BN: unchanged


def test_output_is_deterministic(resnet, tmp_path, capsys):
    outs = []
    for run in ("a", "b"):
        yaml_out, npz_out = tmp_path / run / "n.yaml", tmp_path / run / "n.npz"
        assert cli(capsys, "workload", "from-onnx", str(resnet[1]), "-o", str(yaml_out),
                   "--weights-out", str(npz_out), "--name", "net")[0] == 0
        outs.append((yaml_out.read_bytes(), npz_out.read_bytes()))
    assert outs[0] == outs[1]
    assert yaml.safe_load(outs[0][0])["name"] == "net"


def test_info_and_run_on_imported_workload(resnet, tmp_path, capsys):
    out_yaml = str(tmp_path / "net.yaml")
    assert cli(capsys, "workload", "from-onnx", str(resnet[1]), "-o", out_yaml)[0] == 0
    code, out, err = cli(capsys, "info", "--arch", TINY, "--workload", out_yaml)
    assert code == 0, err
    assert "block_add" not in out and "stem" in out  # info lists MVM layers
    code, out, err = cli(capsys, "run", "--arch", TINY, "--workload", out_yaml, "--dataflow",
                         "reprogram", "--crossbars", "64", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert (tmp_path / "run" / "summary.csv").is_file()


def test_clip_dropout_identity_reshape_matmul(tmp_path, capsys):
    model = om.mlp_style(seed=3)
    result = import_onnx(om.save(model, tmp_path / "mlp.onnx"))
    workload, weights = result.workload, result.weights
    assert [la.type.value for la in workload.layers] == ["conv", "flatten", "linear", "linear"]
    assert [la.relu for la in workload.layers] == [True, False, True, False]
    assert any("Clip 'relu6' (max 6)" in note for note in result.notes)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 2, 6, 6)).astype(np.float32)
    acts, _ = forward(workload, weights, x)
    assert np.abs(acts["conv"]).max() < 6  # so ReLU6 == ReLU on this input
    np.testing.assert_allclose(acts["out"], reference(model, x), rtol=1e-4, atol=1e-4)


def test_layer_names_sanitized_unique_deterministic(tmp_path):
    g = om.Graph(np.random.default_rng(0))
    w = g.const("w", np.ones((2, 2, 1, 1), np.float32))
    names = ["/layer1/conv/Conv", "/layer1/conv/Conv", "", "input"]
    x = "x"
    for i, name in enumerate(names):
        out = f"t{i}:out"
        g.nodes.append(helper.make_node("Conv", [x, w], [out], name=name))
        x = out
    path = om.save(g.model([om.image_input([1, 2, 4, 4])], x, 4), tmp_path / "m.onnx")
    workload, weights = from_onnx(path)
    expected = ["layer1_conv_Conv", "layer1_conv_Conv_2", "t2_out", "input_"]
    assert [la.name for la in workload.layers] == expected
    assert sorted(weights) == sorted(expected)


def test_long_names_are_shortened_with_a_hash_and_stay_distinct(tmp_path):
    # two 300-character node names that differ only at the end, in a file whose name is
    # longer than a workload name may be: names keep their start, end in 8 hex digits of a
    # hash of the whole name, and fit the limits (layers 128, workloads 64)
    g = om.Graph(np.random.default_rng(0))
    w = g.const("w", np.ones((2, 2, 1, 1), np.float32))
    names = ["a" * 299 + "1", "a" * 299 + "2"]
    x = "x"
    for i, name in enumerate(names):
        out = f"t{i}"
        g.nodes.append(helper.make_node("Conv", [x, w], [out], name=name))
        x = out
    path = om.save(g.model([om.image_input([1, 2, 4, 4])], x, 4), tmp_path / ("m" * 100 + ".onnx"))
    workload, weights = from_onnx(path)
    layers = [la.name for la in workload.layers]
    assert len(set(layers)) == 2 and all(len(n) <= 128 - 7 for n in layers)
    assert all(n.startswith("a" * 100) and n[-9] == "-" for n in layers)
    assert len(workload.name) == 64 and workload.name.startswith("m" * 50)
    assert sorted(weights) == sorted(layers)
    assert from_onnx(path)[0].layers == workload.layers  # deterministic


def test_auto_pad_same_and_symbolic_batch(tmp_path):
    model = om.single_conv(pads=None, auto_pad="SAME_UPPER")
    workload, _ = from_onnx(om.save(model, tmp_path / "same.onnx"))
    assert workload.layers[0].padding == (1, 1)
    assert workload.output_shape(workload.layers[0].name) == (4, 8, 8)


def test_input_shape_for_dynamic_model(tmp_path):
    path = om.save(om.dynamic(["N", 3, "H", "W"]), tmp_path / "dyn.onnx")
    workload, _ = from_onnx(path, input_shape=(3, 12, 10))
    assert workload.input_shape == (3, 12, 10)
    assert workload.layer("gap").kernel == (12, 10)
    fixed = om.save(om.dynamic([1, 3, 8, 8]), tmp_path / "fixed.onnx")
    with pytest.raises(XbarsimError, match=r"does not match the model's input 'x' \[N, 3, 8, 8\]"):
        from_onnx(fixed, input_shape=(3, 9, 9))


def test_relu_not_foldable_when_pre_activation_is_read(tmp_path):
    g = om.Graph(np.random.default_rng(0))
    x = g.conv("x", "conv", 2, 2, 3, bn=False, relu=False)
    r = g.node("Relu", [x], "act")
    y = g.node("Add", [x, r], "sum")
    path = om.save(g.model([om.image_input([1, 2, 5, 5])], y, 4), tmp_path / "m.onnx")
    with pytest.raises(XbarsimError, match=r"node 'sum' \(Add\): reads the output of layer "
                                           r"'conv' from before the ReLU"):
        from_onnx(path)


# --- bad input: one line on stderr, exit status 2 -----------------------------------------


def from_onnx_cli(capsys, model_path: Path, *extra: str) -> tuple[int, str, str]:
    out = model_path.parent / "out" / "w.yaml"
    out.unlink(missing_ok=True)
    result = cli(capsys, "workload", "from-onnx", str(model_path), "-o", str(out), *extra)
    assert not out.exists() or result[0] == 0
    return result


def test_corrupt_file(tmp_path, capsys):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, str(path), "not an ONNX model")


def test_yaml_file_is_not_onnx(tmp_path, capsys):
    code, _, err = from_onnx_cli(capsys, Path(TINY))
    one_error_line(code, err, TINY, "not an ONNX model")


def test_missing_file(tmp_path, capsys):
    code, _, err = from_onnx_cli(capsys, tmp_path / "nope.onnx")
    one_error_line(code, err, "nope.onnx", "file not found")


def test_dynamic_shape_needs_input_shape(tmp_path, capsys):
    path = om.save(om.dynamic(["N", 3, "H", "W"]), tmp_path / "dyn.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, "dyn.onnx", "dynamic shape [?, 3, ?, ?]", "--input-shape")
    code, _, err = from_onnx_cli(capsys, path, "--input-shape", "3,8,8")
    assert code == 0, err


@pytest.mark.parametrize("text", ["3,8", "a,b,c", "3,0,8"])
def test_bad_input_shape_option(tmp_path, capsys, text):
    path = om.save(om.dynamic(["N", 3, "H", "W"]), tmp_path / "dyn.onnx")
    code, _, err = from_onnx_cli(capsys, path, "--input-shape", text)
    one_error_line(code, err, "--input-shape", "expected C,H,W")


def test_input_shape_mismatch_cli(tmp_path, capsys):
    path = om.save(om.dynamic([1, 3, 8, 8]), tmp_path / "fixed.onnx")
    code, _, err = from_onnx_cli(capsys, path, "--input-shape", "3,9,9")
    one_error_line(code, err, "fixed.onnx: --input-shape: input shape [3, 9, 9] does not match")


@pytest.mark.parametrize(("op", "extra", "attrs"), [
    ("Softmax", [], {"axis": 1}),
    ("LSTM", [("W", np.zeros((1, 32, 8), np.float32)), ("R", np.zeros((1, 32, 8), np.float32))],
     {"hidden_size": 8}),
])
def test_unsupported_op_named(tmp_path, capsys, op, extra, attrs):
    path = om.save(om.with_op(op, *extra, **attrs), tmp_path / "m.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, f"m.onnx: node 'mystery' ({op}): unsupported op type {op}",
                   "supported: Add")


def test_asymmetric_pads(tmp_path, capsys):
    path = om.save(om.single_conv(pads=[0, 0, 1, 1]), tmp_path / "m.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, "node 'conv0' (Conv)", "asymmetric padding pads=[0, 0, 1, 1]")


def test_dilation(tmp_path, capsys):
    path = om.save(om.single_conv(dilations=[2, 2]), tmp_path / "m.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, "node 'conv0' (Conv)", "dilations [2, 2] are not supported")


def test_pool_ceil_mode_that_changes_size(tmp_path, capsys):
    path = om.save(om.with_op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
                   tmp_path / "m.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, "node 'mystery' (MaxPool)", "ceil_mode")


def test_reshape_not_a_flatten(tmp_path, capsys):
    path = om.save(om.with_op("Reshape", ("shape", np.array([1, 2, 16, 8], np.int64))),
                   tmp_path / "m.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, "node 'mystery' (Reshape)", "reshape to [1, 2, 16, 8]")


def test_batchnorm_on_input_not_foldable(tmp_path, capsys):
    g = om.Graph(np.random.default_rng(0))
    x = g.batchnorm("x", "bn0", 2)
    x = g.conv(x, "conv", 2, 2, 3, bn=False)
    path = om.save(g.model([om.image_input([1, 2, 5, 5])], x, 4), tmp_path / "m.onnx")
    code, _, err = from_onnx_cli(capsys, path)
    one_error_line(code, err, "node 'bn0' (BatchNormalization)", "network input")


def test_check_weights_from_other_model(resnet, tmp_path, capsys):
    other = om.save(om.dynamic([1, 3, 8, 8]), tmp_path / "other.onnx")
    npz = tmp_path / "other.npz"
    assert from_onnx_cli(capsys, other, "--weights-out", str(npz))[0] == 0
    code, _, err = from_onnx_cli(capsys, resnet[1], "--check-weights", str(npz))
    one_error_line(code, err, str(npz), "weights/conv")
    own = tmp_path / "own.npz"
    assert from_onnx_cli(capsys, resnet[1], "--weights-out", str(own))[0] == 0
    code, out, err = from_onnx_cli(capsys, resnet[1], "--check-weights", str(own))
    assert code == 0 and "ok (fits all 7 conv/linear layers)" in out, err


def test_missing_onnx_package(monkeypatch, resnet):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(XbarsimError) as info:
        from_onnx(resnet[1])
    assert str(info.value) == MISSING_ONNX


def test_round_trip_import_info_run_functional(resnet, tmp_path, capsys):
    """Import -> info -> run (pruned by the real weights) -> functional, end to end; under the
    ideal chip the crossbars compute the imported network exactly."""
    out_yaml, out_npz = str(tmp_path / "net.yaml"), str(tmp_path / "net.npz")
    assert cli(capsys, "workload", "from-onnx", str(resnet[1]), "-o", out_yaml,
               "--weights-out", out_npz)[0] == 0
    ideal = str(ROOT / "arch_configs" / "ideal.yaml")
    code, out, err = cli(capsys, "info", "--arch", ideal, "--workload", out_yaml,
                         "--weights", out_npz)
    assert code == 0 and "lossless" in out, err
    code, _, err = cli(capsys, "run", "--arch", ideal, "--workload", out_yaml, "--weights",
                       out_npz, "--dataflow", "reprogram", "--crossbars", "4")
    assert code == 0, err
    inputs = tmp_path / "x.npz"
    x = np.random.default_rng(3).random((4, 3, 16, 16)).astype(np.float32)
    np.savez(inputs, x=x, y=np.array([0, 1, 2, 3]))
    code, out, err = cli(capsys, "functional", "--arch", ideal, "--workload", out_yaml,
                         "--weights", out_npz, "--inputs", str(inputs), "--out",
                         str(tmp_path / "f"))
    assert code == 0, err
    rows = (tmp_path / "f" / "functional.csv").read_text().splitlines()[1:]
    assert len(rows) == 12 and all(row.split(",")[2] in ("0", "0.0") for row in rows)
