"""Activations in the global buffer (``chip.global_buffer``; docs/design.md section 6.1): every
layer's output is drained to it over the star NoC and sent from it to the tiles that consume it;
pool, add, concat and the reduction of partial sums run on the vector unit beside it."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from xbarsim.timing.dataflows.spans import Span
from xbarsim.timing.hw.memory import Port
from xbarsim.util import nbytes
from xbarsim.workload.layer import Layer

if TYPE_CHECKING:
    from xbarsim.timing.dataflows.engine import Engine, Proc


class GlobalBufferMemory:
    """Activations in the global buffer: sent to tiles and drained back over the star NoC."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.chip = engine.chip

    def load_input(self) -> Proc:
        """The batch's input images from DRAM into the global buffer."""
        first = self.e.workload.layers[0].name
        size = nbytes(self.e.batch * math.prod(self.e.workload.input_shape), self.e.act_bits)
        yield from self.chip.dram.transfer(first, size)
        yield from self.gb().access(first, size, "write")

    def gb(self) -> Port:
        """The global buffer's port."""
        assert self.chip.global_buffer is not None
        return self.chip.global_buffer

    def fetch(self, layer: str, tile: int, size: int, span: Span) -> Proc:
        """Global buffer -> NoC -> tile buffer (``span`` does not matter here)."""
        yield from self.gb().access(layer, size, "read")
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.tile_ports[tile].access(layer, size, "write")

    def fetch_parts(self, layer: str, needed: dict[int, list[tuple[Span, float]]],
                    bits: int) -> Proc:
        """Each tile's input parts (``needed``: tile -> [(span, elements of ``bits``)]), in one
        transfer per tile, the tiles side by side."""
        yield self.e.all_of(
            self.fetch(layer, tile, nbytes(sum(e for _, e in parts), bits), Span.whole())
            for tile, parts in sorted(needed.items()))

    def fetch_whole(self, layer: str, tiles: list[int], size: int) -> Proc:
        """Every tile of ``tiles`` gets all ``size`` bytes of the layer's inputs."""
        yield self.e.all_of(self.fetch(layer, t, size, Span.whole()) for t in tiles)

    def keep(self, layer: str, tile: int, size: int, span: Span) -> Proc:
        """Tile buffer (write, then read) -> NoC -> global buffer."""
        port = self.chip.tile_ports[tile]
        yield from port.access(layer, size, "write")
        yield from port.access(layer, size, "read")
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.gb().access(layer, size, "write")

    def from_dram(self, layer: str, size: int) -> Proc:
        """Weights or coefficients of a layer from DRAM, staged in the global buffer."""
        yield from self.chip.dram.transfer(layer, size)
        yield from self.gb().access(layer, size, "write")

    def digital_operands(self, layer: str, tiles: list[int], weight_bytes: int,
                         weights: list[int], ins: list[int], *,
                         by_vectors: bool) -> Generator[Any, Any, list[int]]:
        """The digital baseline's operands: the layer's weights from DRAM into the global
        buffer; each tile then fetches its weights and inputs in one transfer. Returns the
        bytes each tile of ``tiles`` fetches."""
        yield from self.from_dram(layer, weight_bytes)
        return [weights[t] + ins[t] for t in tiles]

    def to_tile(self, layer: str, tile: int, size: int, *, resident: bool) -> Proc:
        """Staged bytes (``resident``: a copy kept in the global buffer, read again; else
        straight from DRAM) over the NoC to a tile, without the tile-buffer write."""
        if resident:
            yield from self.gb().access(layer, size, "read")
        else:
            yield from self.chip.dram.transfer(layer, size)
        yield from self.chip.noc.transfer(layer, tile, size)

    def store(self, layer: Layer) -> Proc:
        """Network outputs go to DRAM; activations larger than half the global buffer spill
        (written to DRAM and read back)."""
        size = self.e.output_bytes(layer.name)
        if not self.e.workload.consumers(layer.name):
            yield from self.chip.dram.transfer(layer.name, size)
        elif size > self.chip.global_buffer_bytes // 2:
            yield from self.chip.dram.transfer(layer.name, size)  # write out
            yield from self.chip.dram.transfer(layer.name, size)  # read back for consumers

    def digital_layer(self, layer: Layer, ops: int, in_bytes: int, out_bytes: int) -> Proc:
        """Pool, add or concat on the vector unit beside the global buffer."""
        yield from self.gb().access(layer.name, in_bytes, "read")
        yield from self.chip.vector_unit.run(layer.name, ops)
        yield from self.gb().access(layer.name, out_bytes, "write")
        yield from self.store(layer)

    def view(self, layer: Layer) -> None:
        """A flatten: nothing moves."""

    def partial_sums(self, layer: str, tile: int, size: int, key: Any, home: int, *,
                     adds: int) -> Proc:
        """A block's partial sums, drained to the global buffer until the layer's reduction
        (the home and the adds are the reduction's here)."""
        yield from self.keep(layer, tile, size, Span.whole())

    def resume_sums(self, layer: str, sets: dict[Any, tuple[int, int]]) -> Proc:
        """Nothing: the partial sums wait in the global buffer."""
        return
        yield

    def hold_sums(self, layer: str, sets: dict[Any, tuple[int, int]]) -> Proc:
        """Nothing: the partial sums wait in the global buffer."""
        return
        yield

    def reduce(self, layer: str, outputs: int, row_blocks: int,
               homes: dict[Any, tuple[int, Span]]) -> Proc:
        """Read the partial sums of a layer's ``outputs`` (every row block's), add them on the
        vector unit and write the sums (the homes do not matter here)."""
        yield from self.gb().access(layer, nbytes(outputs * row_blocks, self.e.psum_bits),
                                    "read")
        yield from self.chip.vector_unit.run(layer, outputs * (row_blocks - 1))
        yield from self.gb().access(layer, nbytes(outputs, self.e.act_bits), "write")

    def merge_pieces(self, layer: str, moves: list[tuple[int, int, int]], adds: int) -> Proc:
        """Pieces of split vectors ``(tile, to tile, bytes)``: each over the NoC into the
        global buffer, where the vector unit adds them (``adds`` outputs)."""
        for tile, _, size in moves:
            yield from self.chip.noc.transfer(layer, tile, size)
            yield from self.gb().access(layer, size, "write")
        yield from self.gb().access(layer, nbytes(adds, self.e.psum_bits), "read")
        yield from self.chip.vector_unit.run(layer, adds)

    def coefficients(self, layer: str, size: int, tiles: list[int]) -> Proc:
        """A layer's coefficients from DRAM into the global buffer and out once (the NoC
        multicasts them; each tile receives them with ``deliver``)."""
        yield from self.from_dram(layer, size)
        yield from self.gb().access(layer, size, "read")

    def deliver(self, layer: str, tile: int, size: int) -> Proc:
        """A tile receives the multicast coefficients over its link into its buffer."""
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.tile_ports[tile].access(layer, size, "write")
