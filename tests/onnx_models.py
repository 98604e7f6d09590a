"""Small ONNX models built with ``onnx.helper`` for the import tests (nothing is downloaded).

Import this module only after ``pytest.importorskip("onnx")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Graph:
    """Collects nodes and float32 initializers; ``model()`` makes a checked ModelProto."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        """Add an initializer and return its name."""
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], name: str, **attrs: object) -> str:
        """Add a node with one output named ``name`` (also the node name) and return it."""
        self.nodes.append(helper.make_node(op, list(inputs), [name], name=name, **attrs))
        return name

    def conv(self, src: str, name: str, c_in: int, c_out: int, k: int, *, stride: int = 1,
             pad: int | None = None, groups: int = 1, bn: bool = True, relu: bool = True) -> str:
        """Conv (no bias) with optional BatchNormalization (zero shift) and Relu."""
        w = self.rng.standard_normal((c_out, c_in // groups, k, k)).astype(np.float32)
        w *= np.sqrt(2.0 / (c_in // groups * k * k)).astype(np.float32)
        p = k // 2 if pad is None else pad
        out = self.node("Conv", [src, self.const(f"{name}.w", w)], name, strides=[stride] * 2,
                        pads=[p] * 4, group=groups, kernel_shape=[k, k])
        if bn:
            out = self.batchnorm(out, f"{name}_bn", c_out)
        return self.node("Relu", [out], f"{name}_relu") if relu else out

    def batchnorm(self, src: str, name: str, channels: int) -> str:
        """BatchNormalization with random scale and variance, zero shift (beta = mean = 0)."""
        gamma = self.rng.uniform(-1.5, 1.5, channels).astype(np.float32)
        var = self.rng.uniform(0.5, 2.0, channels).astype(np.float32)
        zero = np.zeros(channels, np.float32)
        params = [self.const(f"{name}.{p}", v) for p, v in
                  (("gamma", gamma), ("beta", zero), ("mean", zero), ("var", var))]
        return self.node("BatchNormalization", [src, *params], name, epsilon=1e-3)

    def gemm(self, src: str, name: str, k: int, o: int, *, trans_b: bool = True) -> str:
        """Gemm with weights [O, K] (transB=1) or [K, O]."""
        w = (self.rng.standard_normal((o, k)) / np.sqrt(k)).astype(np.float32)
        w = w if trans_b else np.ascontiguousarray(w.T)
        return self.node("Gemm", [src, self.const(f"{name}.w", w)], name, transB=int(trans_b))

    def model(self, inputs: Sequence[onnx.ValueInfoProto], output: str, rank: int,
              name: str = "test") -> onnx.ModelProto:
        """A checked model with the given graph inputs and one float output of ``rank``."""
        dims = [f"d{i}" for i in range(rank)]
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, dims)
        graph = helper.make_graph(self.nodes, name, list(inputs), [out], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def image_input(shape: Sequence[int | str], name: str = "x") -> onnx.ValueInfoProto:
    """A float graph input with fixed or symbolic (string) dimensions."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def resnet_style(seed: int = 0, size: int = 16) -> onnx.ModelProto:
    """Stem conv+BN+ReLU, max pool, a basic block with projection shortcut and Add+Relu,
    a concat branch (1x1 and grouped 3x3), global average pool, flatten and Gemm."""
    g = Graph(np.random.default_rng(seed))
    x = g.conv("x", "stem", 3, 8, 3)
    x = g.node("MaxPool", [x], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    a = g.conv(x, "block_a", 8, 16, 3, stride=2)
    a = g.conv(a, "block_b", 16, 16, 3, relu=False)
    s = g.conv(x, "shortcut", 8, 16, 1, stride=2, relu=False)
    x = g.node("Relu", [g.node("Add", [a, s], "block_add")], "block_relu")
    b1 = g.conv(x, "branch1", 16, 8, 1, bn=False)
    b2 = g.conv(x, "branch2", 16, 8, 3, groups=2, bn=False)
    x = g.node("Concat", [b1, b2], "cat", axis=1)
    x = g.node("GlobalAveragePool", [x], "gap")
    x = g.node("Flatten", [x], "flat", axis=1)
    x = g.gemm(x, "fc", 16, 10)
    return g.model([image_input([1, 3, size, size])], x, 2, "resnet_style")


def mlp_style(seed: int = 0) -> onnx.ModelProto:
    """Conv, Clip (ReLU6), Dropout, Identity, Reshape [0, -1], MatMul, Add (bias), Relu, Gemm."""
    g = Graph(np.random.default_rng(seed))
    x = g.conv("x", "conv", 2, 4, 3, bn=False, relu=False)
    x = g.node("Clip", [x, g.const("lo", np.float32(0)), g.const("hi", np.float32(6))], "relu6")
    x = g.node("Dropout", [x], "drop")
    x = g.node("Identity", [x], "ident")
    x = g.node("Reshape", [x, g.const("target", np.array([0, -1], np.int64))], "reshape")
    w = g.rng.standard_normal((4 * 6 * 6, 12)).astype(np.float32)
    x = g.node("MatMul", [x, g.const("mm.w", w)], "mm")
    x = g.node("Add", [x, g.const("mm.b", np.zeros(12, np.float32))], "mm_bias")
    x = g.node("Relu", [x], "mm_relu")
    x = g.gemm(x, "out", 12, 3, trans_b=False)
    return g.model([image_input(["N", 2, 6, 6])], x, 2, "mlp_style")


def single_conv(**conv_attrs: object) -> onnx.ModelProto:
    """One 3x3 conv on a [1, 2, 8, 8] input with the given attributes (None drops one)."""
    g = Graph(np.random.default_rng(0))
    w = g.const("w", np.ones((4, 2, 3, 3), np.float32))
    attrs = {k: v for k, v in {"pads": [1, 1, 1, 1], **conv_attrs}.items() if v is not None}
    x = g.node("Conv", ["x", w], "conv0", **attrs)
    return g.model([image_input([1, 2, 8, 8])], x, 4)


def with_op(op: str, *extra_inputs: tuple[str, np.ndarray], **attrs: object) -> onnx.ModelProto:
    """conv0 -> ``op`` (node 'mystery') -> conv1, to check that unsupported ops are named."""
    g = Graph(np.random.default_rng(0))
    x = g.conv("x", "conv0", 2, 4, 3, bn=False)
    names = [g.const(n, v) for n, v in extra_inputs]
    x = g.node(op, [x, *names], "mystery", **attrs)
    x = g.conv(x, "conv1", 4, 4, 3, bn=False)
    return g.model([image_input([1, 2, 8, 8])], x, 4)


def dynamic(dims: Sequence[int | str]) -> onnx.ModelProto:
    """conv+relu, global pool, flatten, gemm on an input with the given (maybe symbolic) dims."""
    g = Graph(np.random.default_rng(0))
    x = g.conv("x", "conv", 3, 4, 3, bn=False)
    x = g.node("GlobalAveragePool", [x], "gap")
    x = g.gemm(g.node("Flatten", [x], "flat"), "fc", 4, 2)
    return g.model([image_input(dims)], x, 2)


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Write the model and return the path."""
    onnx.save(model, str(path))
    return path
