"""The chip: tiles of crossbars with their buffer, shift-add bank, write controllers, the NoC,
global buffer, a digital vector unit and the DRAM channel, all on one SimPy environment."""

from __future__ import annotations

import numpy as np

from xbarsim.config.schema import Arch
from xbarsim.programming.pulses import pulse_distribution
from xbarsim.timing.hw.clock import Clock
from xbarsim.timing.hw.crossbar import CrossbarUnit
from xbarsim.timing.hw.digital import UnitBank
from xbarsim.timing.hw.environment import Environment
from xbarsim.timing.hw.memory import Dram, Port
from xbarsim.timing.hw.mesh import Mesh
from xbarsim.timing.hw.noc import Noc
from xbarsim.timing.hw.stats import Activity, Counters
from xbarsim.timing.hw.write_verify import (
    WriteVerifyController,
    chip_write_circuits,
    tile_crossbars,
    write_circuits,
)
from xbarsim.util import ceil_div


class Chip:
    """Every hardware component of one configured chip."""

    def __init__(self, arch: Arch, seed: int, per_row_events: bool) -> None:
        self.arch = arch
        self.env = Environment()
        self.clock = Clock(arch.clock_ghz)
        self.counters = Counters()
        self.activity = Activity(self.env)
        self.rng = np.random.default_rng(seed)
        env, c, tile = self.env, self.counters, arch.tile
        self.crossbars_per_tile = arch.chip.crossbars_per_tile
        self.tiles = arch.chip.tiles
        self.xbars = [CrossbarUnit(env, arch.crossbar, self.clock, c)
                      for _ in range(arch.chip.crossbars)]
        self.tile_ports = [
            Port(env, tile.buffer.port_bytes_per_cycle, c,
                 "tile_buffer_read_bytes", "tile_buffer_write_bytes", "tile_buffer")
            for _ in range(self.tiles)
        ]
        self.shift_add = [
            UnitBank(env, tile.shift_add.units, tile.shift_add.ops_per_cycle, c, "shift_add_ops",
                     "shift_add")
            for _ in range(self.tiles)
        ]
        self.combiners = [
            UnitBank(env, 1, tile.combiner.lanes, c, "digital_macs", "combiner")
            for _ in range(self.tiles)
        ]
        pulses = pulse_distribution(arch.write_verify, arch.crossbar.cell_bits)
        self.writers = [
            WriteVerifyController(env, arch.write_verify, write_circuits(arch, n), self.clock, c,
                                  pulses, self.rng, per_row_events)
            for n in tile_crossbars(arch)
        ]
        self.noc = Noc(env, arch.chip.noc, self.tiles, c)
        self.mesh = Mesh(arch.chip.noc, self.tiles, c, io_ports=arch.chip.dram.io_ports)
        gb = arch.chip.global_buffer
        self.global_buffer = None if gb is None else Port(
            env, gb.bytes_per_cycle, c, "global_buffer_bytes", "global_buffer_bytes",
            "global_buffer")
        """The global buffer's port; None on a chip without one (activations in the tiles)."""
        self.global_buffer_bytes = 0 if gb is None else gb.kib * 1024
        # With a global buffer, pooling, adds and partial-sum reduction run beside it on a
        # vector unit as wide as one tile's shift-add bank (without one: in the tiles).
        self.vector_unit = UnitBank(env, 1, tile.shift_add.units * tile.shift_add.ops_per_cycle,
                                    c, "shift_add_ops", "vector_unit")
        dram = arch.chip.dram
        self.dram = Dram(env, dram.gbytes_per_s, dram.latency_ns, self.clock, c)

    def capacity(self) -> dict[str, int]:
        """Units of each kind of shared hardware that can be busy at once."""
        tile = self.arch.tile
        return {
            "crossbar": len(self.xbars), "tile_buffer": self.tiles,
            "shift_add": self.tiles * tile.shift_add.units, "combiner": self.tiles,
            "write_controller": chip_write_circuits(self.arch), "noc": self.tiles,
            "mesh_link": self.mesh.links,
            "global_buffer": 1, "vector_unit": 1, "dram": 1,
        }

    def utilization(self, cycles: int) -> dict[str, float]:
        """Fraction of the run each kind of hardware was busy (busy / (capacity x cycles))."""
        cap = self.capacity()
        return {k: self.counters.busy[k] / (cap[k] * cycles) if cycles else 0.0 for k in cap}

    def tile_of(self, slot: int) -> int:
        """Tile holding crossbar ``slot``."""
        return slot // self.crossbars_per_tile

    def ima_of(self, slots: np.ndarray) -> np.ndarray:
        """Chip-wide IMA of each crossbar slot (``tile.crossbars_per_ima``): IMAs fill a tile in
        order and never span two tiles (a tile's last IMA may be partial; a tile smaller than
        an IMA is one IMA)."""
        per_ima = min(self.arch.tile.crossbars_per_ima, self.crossbars_per_tile)
        tile, within = np.divmod(np.asarray(slots, dtype=np.int64), self.crossbars_per_tile)
        return tile * ceil_div(self.crossbars_per_tile, per_ima) + within // per_ima
