"""The mechanism every dataflow shares, on one chip: the batch's input load, layers in
dependency order (a layer starts when all its inputs are complete), non-MVM layers on the vector
unit beside the global buffer, one block's write (DRAM -> NoC -> tile buffer -> write-verify
controller), transfers to and from tiles, and output storage (network outputs to DRAM;
activations larger than half the global buffer spill to DRAM and are read back).

A dataflow is a subclass with explicit inputs in its constructor: ``schedule()`` runs its MVM
layers during the batch, ``setup()`` writes what stays resident for the whole run
(``rounds.RoundsDataflow`` for static and reprogram, ``basis.BasisDataflow``).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from typing import Any

import numpy as np
import simpy

from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.hw.chip import Chip
from xbarsim.util import nbytes
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import INPUT, Layer, LayerType

Proc = Generator[Any, Any, None]


class Engine:
    """The mechanism every dataflow shares: inputs, digital layers, block writes, transfers and
    output storage on one chip. A dataflow subclass supplies ``schedule`` and ``setup``."""

    def __init__(self, chip: Chip, workload: Workload, enc: Encoding, batch: int,
                 per_vector_events: bool) -> None:
        self.chip, self.workload, self.enc, self.batch = chip, workload, enc, batch
        self.env = chip.env
        self.per_vector_events = per_vector_events
        self.act_bits = chip.arch.precision.input_bits
        self.psum_bits = chip.arch.precision.psum_bits
        self.done = {name: self.env.event() for name in [INPUT, *self._names()]}
        self.start: dict[str, int] = {}
        self.end: dict[str, int] = {}
        self.program_spans: dict[str, list[tuple[int, int]]] = {n: [] for n in self._names()}
        self.rounds_of: dict[str, int] = dict.fromkeys(self._names(), 0)
        self.copies: dict[str, int] = {}
        """Copies of each replicated MVM layer (absent: one)."""

    def _names(self) -> list[str]:
        return [layer.name for layer in self.workload.layers]

    def all_of(self, procs: Iterable[Proc]) -> simpy.events.AllOf:
        """Start processes and wait for all of them."""
        return self.env.all_of([self.env.process(p) for p in procs])

    # -- whole run ---------------------------------------------------------------------------

    def run(self) -> int:
        """Simulate the batch; return its cycles."""
        self.env.process(self.load_input())
        for layer in self.workload.layers:
            if not layer.is_mvm:
                self.env.process(self.run_digital_layer(layer))
        self.env.process(self.schedule())
        self.env.run()
        missing = [n for n, ev in self.done.items() if not ev.triggered]
        if missing:
            raise RuntimeError(f"simulation ended with layers not run: {missing[:5]}")
        return int(self.env.now)

    def image_done_cycles(self, cycles: int) -> list[int]:
        """Cycle at which each image's last output is stored: here the whole batch moves layer
        by layer, so every image is done when the batch is."""
        return [cycles] * self.batch

    def schedule(self) -> Proc:
        """The dataflow's MVM layers: programming (if any) and computation, as one process."""
        raise NotImplementedError

    def setup(self) -> Proc:
        """Write the weights that stay resident for the whole run, once (the setup cost)."""
        raise NotImplementedError

    def load_input(self) -> Proc:
        """Bring the batch's input images from DRAM into the global buffer."""
        first = self.workload.layers[0].name
        size = nbytes(self.batch * math.prod(self.workload.input_shape), self.act_bits)
        yield from self.chip.dram.transfer(first, size)
        yield from self.chip.global_buffer.access(first, size, "write")
        self.done[INPUT].succeed()

    # -- programming ------------------------------------------------------------------------

    def program_block(self, layer: str, slot: int, rows_used: int, cols_used: int,
                      level_counts: np.ndarray | None = None) -> Proc:
        """DRAM -> NoC -> tile buffer -> write-verify controller, for one block."""
        tile = self.chip.tile_of(slot)
        size = nbytes(rows_used * cols_used, self.enc.cell_bits)
        yield from self.chip.dram.transfer(layer, size)
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.tile_ports[tile].access(layer, size, "write")
        yield from self.chip.writers[tile].program(layer, rows_used, cols_used, level_counts)

    # -- MVM layers -------------------------------------------------------------------------

    def send_to_tile(self, layer: str, tile: int, size: int) -> Proc:
        """Global buffer -> NoC -> tile buffer."""
        yield from self.chip.global_buffer.access(layer, size, "read")
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.tile_ports[tile].access(layer, size, "write")

    def drain(self, layer: str, tile: int, size: int) -> Proc:
        """Tile buffer (write, then read) -> NoC -> global buffer."""
        port = self.chip.tile_ports[tile]
        yield from port.access(layer, size, "write")
        yield from port.access(layer, size, "read")
        yield from self.chip.noc.transfer(layer, tile, size)
        yield from self.chip.global_buffer.access(layer, size, "write")

    # -- digital layers and activations -----------------------------------------------------

    def run_digital_layer(self, layer: Layer) -> Proc:
        """Pool, add, concat or flatten on the vector unit beside the global buffer."""
        yield self.env.all_of([self.done[i] for i in layer.inputs])
        self.start[layer.name] = int(self.env.now)
        if layer.type is not LayerType.FLATTEN:  # flatten is a view: no data moves
            with self.chip.activity.busy("compute"):
                in_elems = sum(math.prod(s) for s in self.workload.input_shapes(layer.name))
                out_elems = math.prod(self.workload.output_shape(layer.name))
                ops = out_elems * self._ops_per_output(layer)
                gb = self.chip.global_buffer
                yield from gb.access(layer.name, nbytes(self.batch * in_elems, self.act_bits),
                                     "read")
                yield from self.chip.vector_unit.run(layer.name, self.batch * ops)
                yield from gb.access(layer.name, nbytes(self.batch * out_elems, self.act_bits),
                                     "write")
                yield from self.store_output(layer)
        self.finish(layer.name)

    @staticmethod
    def _ops_per_output(layer: Layer) -> int:
        if layer.type is LayerType.POOL:
            return layer.kernel[0] * layer.kernel[1]  # compare or add per window element
        if layer.type is LayerType.ADD:
            return len(layer.inputs) - 1
        return 0  # concat: placement only

    def store_output(self, layer: Layer) -> Proc:
        """Network outputs go to DRAM; activations too large for the global buffer spill."""
        size = nbytes(self.batch * math.prod(self.workload.output_shape(layer.name)),
                      self.act_bits)
        if not self.workload.consumers(layer.name):
            yield from self.chip.dram.transfer(layer.name, size)
        elif size > self.chip.global_buffer_bytes // 2:
            yield from self.chip.dram.transfer(layer.name, size)  # write out
            yield from self.chip.dram.transfer(layer.name, size)  # read back for consumers

    def finish(self, name: str) -> None:
        """Mark a layer complete."""
        self.end[name] = int(self.env.now)
        self.done[name].succeed()
