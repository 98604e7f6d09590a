"""The digital baseline: every MVM layer on the tiles' digital MAC lanes, no crossbar in use.

It answers "is the RRAM doing the work?": the same chip's combiner lanes (``tile.combiner``)
compute every layer's multiply-accumulates, with the weights streamed from DRAM once per batch
(docs/design.md section 6.6). A layer is split over all tiles either by its output vectors
(each tile gets its share of the inputs and every weight) or by its output channels (each
tile gets its share of the weights and every input), whichever moves fewer bytes to the tiles.
Each tile streams its inputs and weights in, runs its MACs on its lanes and drains its
outputs, the stages overlapped; the layer then stores its output as the other dataflows do.
"""

from __future__ import annotations

import itertools
import math

from xbarsim.timing.dataflows.engine import Engine, Proc
from xbarsim.timing.dataflows.spans import CHANNELS, VECTORS, Span
from xbarsim.timing.dataflows.tile_memory import TileMemory
from xbarsim.timing.hw.clock import until
from xbarsim.util import even_split, nbytes
from xbarsim.workload.layer import Layer


class DigitalDataflow(Engine):
    """Runs every MVM layer on the combiner lanes of all tiles."""

    def schedule(self) -> Proc:
        """Start every MVM layer; each waits for its inputs."""
        yield self.all_of(self.run_mvm_layer(la) for la in self.workload.layers if la.is_mvm)

    def run_mvm_layer(self, layer: Layer) -> Proc:
        """Fetch the layer's weights, compute its MACs on every tile, store its output."""
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        name = layer.name
        self.start[name] = int(self.env.now)
        self.rounds_of[name] = 1
        with self.chip.activity.busy("compute"):
            vectors = self.batch * self.workload.out_pixels(name)
            k = layer.in_channels // layer.groups * layer.kernel[0] * layer.kernel[1]
            outputs = layer.out_channels
            macs = vectors * k * outputs
            weight_bytes = nbytes(k * outputs, self.chip.arch.precision.weight_bits)
            in_bytes = nbytes(self.batch * math.prod(self.workload.input_shape_of(name)),
                              self.act_bits)
            out_bytes = nbytes(vectors * outputs, self.act_bits)
            by_vectors = weight_bytes <= in_bytes
            tiles = min(self.chip.tiles, max(1, vectors if by_vectors else outputs))
            shares = even_split(macs, tiles)
            if by_vectors:  # by output vectors: every tile needs every weight
                ins, weights = even_split(in_bytes, tiles), [weight_bytes] * tiles
            else:  # by output channels: every tile needs every input
                ins, weights = [in_bytes] * tiles, even_split(weight_bytes, tiles)
            busy = [t for t in range(tiles) if shares[t]]
            outs = even_split(out_bytes, tiles)
            starts = list(itertools.accumulate([0, *shares[:-1]]))
            spans = [Span(a, a + m, macs, VECTORS if by_vectors else CHANNELS)
                     for a, m in zip(starts, shares)]
            fetch = yield from self.memory.digital_operands(name, busy, weight_bytes, weights,
                                                            ins, by_vectors=by_vectors)
            work = [(t, weights[t] + ins[t], shares[t], outs[t], spans[t], fetch[i])
                    for i, t in enumerate(busy)]
            if isinstance(self.memory, TileMemory):
                now = int(self.env.now)
                yield from until(self.env, max([self.book_tile(name, *w) for w in work],
                                                default=now))
            else:
                yield self.all_of(self.run_tile(name, *w) for w in work)
            yield from self.store_output(layer)
        self.finish(name)

    def run_tile(self, layer: str, tile: int, operand_bytes: int, macs: int, out_bytes: int,
                 span: Span, fetch_bytes: int) -> Proc:
        """One tile's share (``span`` of the layer's MACs) as a process: ``fetch_bytes`` of its
        weights and inputs sent in; then the read of its ``operand_bytes`` and its MACs on the
        lanes (``_book_stages``) beside the drain of its outputs."""
        if fetch_bytes:
            yield from self.send_to_tile(layer, tile, fetch_bytes, span)
        end = self._book_stages(layer, tile, operand_bytes, macs, int(self.env.now))
        yield from self.drain(layer, tile, out_bytes, span)
        yield from until(self.env, end)

    def book_tile(self, layer: str, tile: int, operand_bytes: int, macs: int, out_bytes: int,
                  span: Span, fetch_bytes: int) -> int:
        """``run_tile`` booked at once, requested now, when the memory books by time (the tile
        buffers, ``TileMemory``): the gather, then from the cycle the operands are in,
        the stages and the write of the outputs the tile keeps; return the cycle the last
        ends."""
        assert isinstance(self.memory, TileMemory)
        ready = int(self.env.now)
        if fetch_bytes:
            ready = self.memory.book_fetch(layer, tile, fetch_bytes, span)
        return max(self._book_stages(layer, tile, operand_bytes, macs, ready),
                   self.memory.book_keep(layer, tile, out_bytes, span, at=ready))

    def _book_stages(self, layer: str, tile: int, operand_bytes: int, macs: int, at: int) -> int:
        """Book the read of a tile's operands and its MACs on the lanes side by side, requested
        at cycle ``at``; return the cycle the later ends."""
        return max(self.chip.tile_ports[tile].book(layer, operand_bytes, "read", at=at),
                   self.chip.combiners[tile].book(layer, macs, at=at))
