"""Network-on-chip: a concentrated mesh with one link per tile and the global buffer at a corner.

A transfer to or from tile i holds that tile's link for ceil(bytes / link width) cycles, then pays
hop latency for the Manhattan distance from the global buffer (tile i sits at column i mod w,
row i div w of a w x w mesh, w = ceil(sqrt(tiles))). Energy is per byte per hop.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from xbarsim.config.schema import Noc as NocConfig
from xbarsim.timing.hw.clock import transfer_cycles
from xbarsim.timing.hw.stats import Counters


class Noc:
    """Links between the global buffer and each tile."""

    def __init__(self, env: simpy.Environment, cfg: NocConfig, tiles: int,
                 counters: Counters) -> None:
        self.env = env
        self.links = [simpy.Resource(env, capacity=1) for _ in range(tiles)]
        self.bytes_per_cycle = cfg.bytes_per_cycle
        self.hop_cycles = cfg.hop_cycles
        self.width = max(1, math.ceil(math.sqrt(tiles)))
        self.counters = counters

    def hops(self, tile: int) -> int:
        """Router hops between the global buffer and ``tile`` (at least one)."""
        return tile % self.width + tile // self.width + 1

    def transfer(self, layer: str | None, tile: int, nbytes: int) -> Generator[Any, Any, None]:
        """Move ``nbytes`` between the global buffer and ``tile``."""
        if nbytes <= 0:
            return
        hops = self.hops(tile)
        cycles = transfer_cycles(nbytes, self.bytes_per_cycle)
        with self.links[tile].request() as req:
            yield req
            yield self.env.timeout(cycles)
        self.counters.add_busy("noc", cycles)
        yield self.env.timeout(hops * self.hop_cycles)
        self.counters.add(layer, "noc_bytes", nbytes)
        self.counters.add(layer, "noc_byte_hops", nbytes * hops)
