"""Build a workload layer by layer in code, tracking shapes so channel counts come for free.

Used by the zoo and tests: each method appends one layer reading the previous layer (or
``src``/``srcs``) and returns the new layer's name.
"""

from __future__ import annotations

from collections.abc import Sequence

from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import INPUT, Layer, LayerType, PoolMode, Shape, infer_shape


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


class NetBuilder:
    """Accumulates layers and their output shapes; ``build()`` returns the checked Workload."""

    def __init__(self, name: str, input_shape: Shape) -> None:
        self.name = name
        self.input_shape = input_shape
        self.last = INPUT
        """Name of the most recently added layer (``"input"`` at first)."""
        self._layers: list[Layer] = []
        self._shapes: dict[str, Shape] = {INPUT: input_shape}

    def shape(self, src: str | None = None) -> Shape:
        """Output shape of ``src`` (default: the last layer)."""
        return self._shapes[src or self.last]

    def channels(self, src: str | None = None) -> int:
        """Output channels of ``src`` (default: the last layer)."""
        return self.shape(src)[0]

    def conv(self, name: str, out_channels: int, kernel: int | tuple[int, int], *,
             stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | None = None,
             groups: int = 1, relu: bool = True, src: str | None = None) -> str:
        """Append a conv; padding defaults to kernel // 2 ("same" for odd kernels at stride 1)."""
        k = _pair(kernel)
        pad = (k[0] // 2, k[1] // 2) if padding is None else _pair(padding)
        src = src or self.last
        return self._add(Layer(name=name, type=LayerType.CONV, inputs=(src,), relu=relu,
                               in_channels=self.channels(src), out_channels=out_channels,
                               kernel=k, stride=_pair(stride), padding=pad, groups=groups))

    def linear(self, name: str, out_features: int, *, relu: bool = True,
               src: str | None = None) -> str:
        """Append a fully connected layer reading the flattened output of ``src``."""
        src = src or self.last
        c, h, w = self.shape(src)
        return self._add(Layer(name=name, type=LayerType.LINEAR, inputs=(src,), relu=relu,
                               in_channels=c * h * w, out_channels=out_features))

    def pool(self, name: str, kernel: int | tuple[int, int], *,
             stride: int | tuple[int, int] | None = None, padding: int | tuple[int, int] = 0,
             mode: PoolMode = PoolMode.MAX, relu: bool = False, src: str | None = None) -> str:
        """Append a pool; stride defaults to the kernel."""
        k = _pair(kernel)
        return self._add(Layer(name=name, type=LayerType.POOL, inputs=(src or self.last,),
                               relu=relu, kernel=k, stride=k if stride is None else _pair(stride),
                               padding=_pair(padding), mode=mode))

    def global_avg_pool(self, name: str, *, src: str | None = None) -> str:
        """Append an average pool whose kernel is the whole spatial size (output C x 1 x 1)."""
        _, h, w = self.shape(src)
        return self.pool(name, (h, w), mode=PoolMode.AVG, src=src)

    def add(self, name: str, srcs: Sequence[str], *, relu: bool = False) -> str:
        """Append an element-wise sum of ``srcs``."""
        return self._add(Layer(name=name, type=LayerType.ADD, inputs=tuple(srcs), relu=relu))

    def concat(self, name: str, srcs: Sequence[str], *, relu: bool = False) -> str:
        """Append a channel concatenation of ``srcs``."""
        return self._add(Layer(name=name, type=LayerType.CONCAT, inputs=tuple(srcs), relu=relu))

    def flatten(self, name: str, *, src: str | None = None) -> str:
        """Append a flatten to (C*H*W, 1, 1)."""
        return self._add(Layer(name=name, type=LayerType.FLATTEN, inputs=(src or self.last,),
                               relu=False))

    def build(self) -> Workload:
        """The finished workload (shapes re-checked by ``Workload``)."""
        return Workload(self.name, self.input_shape, tuple(self._layers))

    def _add(self, layer: Layer) -> str:
        if layer.name in self._shapes:
            raise ValueError(f"duplicate layer name {layer.name!r}")
        self._shapes[layer.name] = infer_shape(layer, [self._shapes[s] for s in layer.inputs])
        self._layers.append(layer)
        self.last = layer.name
        return layer.name
