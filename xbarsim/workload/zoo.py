"""Standard networks built in code, shipped as ``workloads/<name>.yaml`` by ``write_zoo``.

All networks have batch-norm folded and biases ignored; a ReLU (or ReLU6) is ``relu: true`` on
the layer it follows. ImageNet variants follow torchvision (3x224x224 input, 1000 classes).
CIFAR-100 variants (3x32x32, 100 classes) follow the usual adaptations of kuangliu/pytorch-cifar:
a 3x3 stride-1 stem without max pool, the same stages, global average pooling, one classifier.
Fashion-MNIST networks (1x28x28, 10 classes) have trained weights shipped beside them
(``scripts/train_fashion.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from xbarsim.io.atomic import atomic_write_text
from xbarsim.workload.builder import NetBuilder
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import PoolMode
from xbarsim.workload.loader import dump_workload

IMAGENET = ((3, 224, 224), 1000)
"""ImageNet input shape and class count."""
CIFAR100 = ((3, 32, 32), 100)
"""CIFAR-100 input shape and class count."""

VGG16_CONVS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
               512, 512, 512, "M")
"""VGG-16 feature extractor: conv output channels, 'M' = 2x2 max pool."""


def vgg16(name: str, imagenet: bool) -> Workload:
    """VGG-16 (configuration D): 13 3x3 convs, 5 max pools, 3 fully connected layers.

    ImageNet: 25088-4096-4096-1000 classifier (torchvision's adaptive pool is the identity at
    224x224 and is left out). CIFAR-100: the 1x1x512 features feed a 512-512-512-100
    classifier, the common VGG-for-CIFAR variant (Liu & Deng 2015; chengyangfu/pytorch-vgg-cifar10).
    """
    shape, classes = IMAGENET if imagenet else CIFAR100
    b = NetBuilder(name, shape)
    stage, index, pool = 1, 1, 1
    for item in VGG16_CONVS:
        if item == "M":
            b.pool(f"pool{pool}", 2)
            stage, index, pool = stage + 1, 1, pool + 1
        else:
            b.conv(f"conv{stage}_{index}", int(item), 3)
            index += 1
    b.flatten("flatten")
    hidden = 4096 if imagenet else 512
    b.linear("fc6", hidden)
    b.linear("fc7", hidden)
    b.linear("fc8", classes, relu=False)
    return b.build()


def _resnet_stem(b: NetBuilder, imagenet: bool) -> None:
    """ImageNet: 7x7/2 conv and 3x3/2 max pool; CIFAR: one 3x3/1 conv, no pool."""
    if imagenet:
        b.conv("conv1", 64, 7, stride=2)
        b.pool("maxpool", 3, stride=2, padding=1)
    else:
        b.conv("conv1", 64, 3)


def _shortcut(b: NetBuilder, prefix: str, src: str, out: int, stride: int) -> str:
    """Identity, or a 1x1 projection (no ReLU) when the shape changes."""
    if stride == 1 and b.channels(src) == out:
        return src
    return b.conv(f"{prefix}.downsample", out, 1, stride=stride, relu=False, src=src)


def _basic_block(b: NetBuilder, prefix: str, width: int, stride: int) -> None:
    """Two 3x3 convs; the ReLU comes after the residual add."""
    src = b.last
    b.conv(f"{prefix}.conv1", width, 3, stride=stride)
    main = b.conv(f"{prefix}.conv2", width, 3, relu=False)
    b.add(f"{prefix}.add", [main, _shortcut(b, prefix, src, width, stride)], relu=True)


def _bottleneck(b: NetBuilder, prefix: str, width: int, stride: int) -> None:
    """1x1 reduce, 3x3 (carrying the stride, torchvision's ResNet v1.5), 1x1 expand by 4."""
    src = b.last
    b.conv(f"{prefix}.conv1", width, 1)
    b.conv(f"{prefix}.conv2", width, 3, stride=stride)
    main = b.conv(f"{prefix}.conv3", 4 * width, 1, relu=False)
    b.add(f"{prefix}.add", [main, _shortcut(b, prefix, src, 4 * width, stride)], relu=True)


def resnet(name: str, imagenet: bool, depth: int) -> Workload:
    """ResNet-18/34 (basic blocks) or ResNet-50 (bottlenecks), torchvision layer names.

    Stages of width 64, 128, 256, 512 with stride 2 at the start of stages 2-4; projection
    shortcuts only where the shape changes; global average pool and a linear classifier.
    """
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    block = _bottleneck if depth >= 50 else _basic_block
    shape, classes = IMAGENET if imagenet else CIFAR100
    b = NetBuilder(name, shape)
    _resnet_stem(b, imagenet)
    for stage, count in enumerate(blocks, start=1):
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            block(b, f"layer{stage}.{i}", 64 * 2 ** (stage - 1), stride)
    b.global_avg_pool("avgpool")
    b.linear("fc", classes, relu=False)
    return b.build()


def densenet121(name: str, imagenet: bool) -> Workload:
    """DenseNet-121 (growth 32, blocks 6-12-24-16, bottleneck 4x growth, compression 0.5).

    Each dense layer is 1x1 conv (128) then 3x3 conv (32) concatenated to its input;
    transitions are a 1x1 conv halving the channels and a 2x2 average pool. The pre-activation
    BN-ReLU is folded onto the producing conv (``relu: true``), a counting approximation.
    ImageNet stem: 7x7/2 conv (64) and 3x3/2 max pool; CIFAR stem: 3x3/1 conv (64), no pool.
    """
    growth, blocks = 32, (6, 12, 24, 16)
    shape, classes = IMAGENET if imagenet else CIFAR100
    b = NetBuilder(name, shape)
    if imagenet:
        b.conv("conv0", 2 * growth, 7, stride=2)
        b.pool("pool0", 3, stride=2, padding=1)
    else:
        b.conv("conv0", 2 * growth, 3)
    for bi, count in enumerate(blocks, start=1):
        for li in range(1, count + 1):
            prefix, src = f"denseblock{bi}.denselayer{li}", b.last
            b.conv(f"{prefix}.conv1", 4 * growth, 1)
            new = b.conv(f"{prefix}.conv2", growth, 3)
            b.concat(f"{prefix}.concat", [src, new])
        if bi < len(blocks):
            b.conv(f"transition{bi}.conv", b.channels() // 2, 1)
            b.pool(f"transition{bi}.pool", 2, mode=PoolMode.AVG)
    b.global_avg_pool("avgpool")
    b.linear("classifier", classes, relu=False)
    return b.build()


MOBILENETV2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                   (6, 160, 3, 2), (6, 320, 1, 1))
"""Inverted-residual stages: (expansion t, output channels c, blocks n, first stride s)."""


def mobilenetv2(name: str, imagenet: bool) -> Workload:
    """MobileNetV2 (width 1.0): 3x3 stem (32), 17 inverted residuals, 1x1 conv (1280), classifier.

    Each block: 1x1 expand (ReLU6, skipped when t = 1), 3x3 depthwise (groups = channels,
    ReLU6), 1x1 linear projection (no ReLU), and a residual add when stride 1 and shapes match.
    CIFAR (kuangliu/pytorch-cifar): stem stride 1 and the second stage's stride 2 -> 1, so the
    final feature map is 4x4 (ImageNet: 7x7).
    """
    shape, classes = IMAGENET if imagenet else CIFAR100
    b = NetBuilder(name, shape)
    b.conv("stem", 32, 3, stride=2 if imagenet else 1)
    block = 0
    for stage, (t, c, n, s) in enumerate(MOBILENETV2_CFG):
        first_stride = 1 if stage == 1 and not imagenet else s
        for i in range(n):
            block += 1
            _inverted_residual(b, f"block{block}", t, c, first_stride if i == 0 else 1)
    b.conv("head", 1280, 1)
    b.global_avg_pool("avgpool")
    b.linear("classifier", classes, relu=False)
    return b.build()


def _inverted_residual(b: NetBuilder, prefix: str, t: int, out: int, stride: int) -> None:
    """Expand (if t > 1), depthwise 3x3, project; add the input back when shapes match."""
    src, hidden = b.last, b.channels() * t
    if t != 1:
        b.conv(f"{prefix}.expand", hidden, 1)
    b.conv(f"{prefix}.dw", hidden, 3, stride=stride, groups=hidden)
    main = b.conv(f"{prefix}.project", out, 1, relu=False)
    if stride == 1 and b.channels(src) == out:
        b.add(f"{prefix}.add", [main, src])


def resnet20(name: str) -> Workload:
    """ResNet-20 for 1x28x28 Fashion-MNIST, the CIFAR ResNet of He et al. 2016 (section 4.2).

    A 3x3 conv (16), three stages of three basic blocks of width 16, 32, 64 (stride 2 at the
    start of stages 2 and 3: 28 -> 14 -> 7), 1x1 projection shortcuts where the shape changes
    (option B), global average pool, linear 64 -> 10. Layer names as in ``resnet``.
    """
    b = NetBuilder(name, (1, 28, 28))
    b.conv("conv1", 16, 3)
    for stage in range(1, 4):
        for i in range(3):
            stride = 2 if stage > 1 and i == 0 else 1
            _basic_block(b, f"layer{stage}.{i}", 16 * 2 ** (stage - 1), stride)
    b.global_avg_pool("avgpool")
    b.linear("fc", 10, relu=False)
    return b.build()


def lenet5(name: str) -> Workload:
    """LeNet-5 on 1x28x28 images (first conv padded by 2, as if 32x32), ReLU and max pooling.

    conv 6@5x5 -> pool 2 -> conv 16@5x5 -> pool 2 -> flatten (400) -> 120 -> 84 -> 10.
    """
    b = NetBuilder(name, (1, 28, 28))
    b.conv("conv1", 6, 5, padding=2)
    b.pool("pool1", 2)
    b.conv("conv2", 16, 5, padding=0)
    b.pool("pool2", 2)
    b.flatten("flatten")
    b.linear("fc1", 120)
    b.linear("fc2", 84)
    b.linear("fc3", 10, relu=False)
    return b.build()


def mlp_digits() -> Workload:
    """MLP for scikit-learn's 8x8 digits: flatten (64) -> 32 with ReLU -> 10.

    The shipped digits model is trained with exactly this shape; keep it 64-32-10.
    """
    b = NetBuilder("mlp_digits", (1, 8, 8))
    b.flatten("flatten")
    b.linear("fc1", 32)
    b.linear("fc2", 10, relu=False)
    return b.build()


def _variants(family: str, build: Callable[..., Workload]) -> dict[str, Callable[[], Workload]]:
    """``<family>_cifar100`` and ``<family>_imagenet`` entries for a network builder."""
    return {f"{family}_{data}": partial(build, f"{family}_{data}", data == "imagenet")
            for data in ("cifar100", "imagenet")}


ZOO: dict[str, Callable[[], Workload]] = {
    **_variants("vgg16", vgg16),
    **_variants("resnet18", partial(resnet, depth=18)),
    **_variants("resnet34", partial(resnet, depth=34)),
    **_variants("resnet50", partial(resnet, depth=50)),
    **_variants("densenet121", densenet121),
    **_variants("mobilenetv2", mobilenetv2),
    "lenet5_mnist": partial(lenet5, "lenet5_mnist"),
    "lenet5_fashion": partial(lenet5, "lenet5_fashion"),
    "resnet20_fashion": partial(resnet20, "resnet20_fashion"),
    "mlp_digits": mlp_digits,
}
"""Zoo workloads by name; each builds a fresh, validated Workload."""


def write_zoo(directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``<name>.yaml`` for every zoo entry into ``directory`` (atomically); return paths."""
    out = Path(directory)
    return [atomic_write_text(out / f"{name}.yaml", dump_workload(ZOO[name]()))
            for name in ZOO]
