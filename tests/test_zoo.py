"""The zoo: published MAC/parameter figures, structure, and the shipped workloads/*.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from xbarsim.workload import ZOO, LayerType, PoolMode, dump_workload, load_workload, write_zoo

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"
SHIPPED = sorted(WORKLOADS.glob("*.yaml"))

# Published figures (torchvision model cards / original papers): MACs in G, weights in M.
PUBLISHED_MACS = {
    "resnet18_imagenet": 1.82, "resnet34_imagenet": 3.67, "resnet50_imagenet": 4.1,
    "vgg16_imagenet": 15.5, "densenet121_imagenet": 2.87, "mobilenetv2_imagenet": 0.30,
}
PUBLISHED_PARAMS = {
    "resnet50_imagenet": 25.6, "vgg16_imagenet": 138.0, "densenet121_imagenet": 8.0,
    "mobilenetv2_imagenet": 3.5, "resnet18_imagenet": 11.7,
}


@pytest.mark.parametrize(("name", "gmacs"), sorted(PUBLISHED_MACS.items()))
def test_imagenet_macs_match_published(name: str, gmacs: float) -> None:
    assert ZOO[name]().total_macs / 1e9 == pytest.approx(gmacs, rel=0.02)


@pytest.mark.parametrize(("name", "mparams"), sorted(PUBLISHED_PARAMS.items()))
def test_imagenet_params_match_published(name: str, mparams: float) -> None:
    assert ZOO[name]().total_params / 1e6 == pytest.approx(mparams, rel=0.02)


def test_exact_weight_counts_equal_torchvision_minus_bias_and_batchnorm() -> None:
    # torchvision totals minus classifier/conv biases and BN affine parameters.
    assert ZOO["resnet18_imagenet"]().total_params == 11_689_512 - 1000 - 9600
    assert ZOO["vgg16_imagenet"]().total_params == 138_357_544 - 13_416
    assert ZOO["mobilenetv2_imagenet"]().total_params == 3_504_872 - 1000 - 34_112


def test_resnet18_cifar_matches_common_figures() -> None:
    w = ZOO["resnet18_cifar100"]()
    assert w.total_macs / 1e9 == pytest.approx(0.556, rel=0.01)
    assert w.total_params / 1e6 == pytest.approx(11.2, rel=0.01)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_entry_shapes(name: str) -> None:
    w = ZOO[name]()
    assert w.name == name
    classes = 100 if name.endswith("cifar100") else 1000 if name.endswith("imagenet") else 10
    assert len(w.outputs) == 1 and w.output_shape(w.outputs[0]) == (classes, 1, 1)
    size = {"cifar100": 32, "imagenet": 224}.get(name.rsplit("_", 1)[1])
    if size:
        assert w.input_shape == (3, size, size)
    assert not w.layer(w.outputs[0]).relu  # logits


def test_resnet_relu_placement() -> None:
    w = ZOO["resnet18_imagenet"]()
    assert w.layer("layer1.0.conv1").relu and not w.layer("layer1.0.conv2").relu
    assert not w.layer("layer2.0.downsample").relu and w.layer("layer2.0.add").relu
    assert w.layer("layer1.0.add").inputs == ("layer1.0.conv2", "maxpool")
    assert w.output_shape("layer4.1.add") == (512, 7, 7)
    cifar = ZOO["resnet50_cifar100"]()
    assert cifar.output_shape("layer4.2.add") == (2048, 4, 4)
    assert all(la.type is not LayerType.POOL for la in cifar.layers[:-2])  # no stem max pool


def test_densenet_transitions_and_global_pool() -> None:
    w = ZOO["densenet121_imagenet"]()
    pool = w.layer("transition1.pool")
    assert (pool.mode, pool.kernel, pool.stride) == (PoolMode.AVG, (2, 2), (2, 2))
    assert w.output_shape("transition1.conv") == (128, 56, 56)
    assert w.output_shape("denseblock4.denselayer16.concat") == (1024, 7, 7)
    gap = w.layer("avgpool")
    assert (gap.mode, gap.kernel) == (PoolMode.AVG, (7, 7))
    assert ZOO["densenet121_cifar100"]().output_shape("denseblock4.denselayer16.concat") == (
        1024, 4, 4)


def test_mobilenetv2_depthwise_and_cifar_strides() -> None:
    w = ZOO["mobilenetv2_imagenet"]()
    dw = w.layer("block2.dw")
    assert dw.groups == dw.in_channels == dw.out_channels == 96 and dw.fan_in == 9
    assert not w.layer("block2.project").relu and "block3.add" in {la.name for la in w.layers}
    assert w.output_shape("head") == (1280, 7, 7)
    assert ZOO["mobilenetv2_cifar100"]().output_shape("head") == (1280, 4, 4)


def test_vgg16_classifiers() -> None:
    imagenet = ZOO["vgg16_imagenet"]()
    assert [(la.in_channels, la.out_channels) for la in imagenet.mvm_layers[-3:]] == [
        (25088, 4096), (4096, 4096), (4096, 1000)]
    cifar = ZOO["vgg16_cifar100"]()
    assert [(la.in_channels, la.out_channels) for la in cifar.mvm_layers[-3:]] == [
        (512, 512), (512, 512), (512, 100)]


def test_mlp_digits_is_64_32_10() -> None:
    w = ZOO["mlp_digits"]()
    assert w.input_shape == (1, 8, 8)
    assert [la.type for la in w.layers] == [LayerType.FLATTEN, LayerType.LINEAR, LayerType.LINEAR]
    assert [(la.in_channels, la.out_channels, la.relu) for la in w.mvm_layers] == [
        (64, 32, True), (32, 10, False)]


def test_lenet5_shapes() -> None:
    w = ZOO["lenet5_mnist"]()
    assert w.input_shape == (1, 28, 28)
    assert w.output_shape("conv1") == (6, 28, 28) and w.output_shape("pool2") == (16, 5, 5)
    assert [la.out_channels for la in w.mvm_layers] == [6, 16, 120, 84, 10]


def test_every_zoo_entry_is_shipped() -> None:
    assert sorted(p.stem for p in SHIPPED) == sorted(ZOO)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_workload_is_generated_and_loads(path: Path) -> None:
    assert path.stem in ZOO, f"{path.name} is not a zoo entry"
    expected = dump_workload(ZOO[path.stem]())
    assert path.read_bytes() == expected.encode("utf-8"), "regenerate with `xbarsim zoo`"
    assert load_workload(path) == ZOO[path.stem]()


def test_write_zoo(tmp_path: Path) -> None:
    paths = write_zoo(tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(f"{n}.yaml" for n in ZOO)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert (tmp_path / "out" / "mlp_digits.yaml").read_text() == dump_workload(
        ZOO["mlp_digits"]())
