"""Digital units: shift-and-add banks (merge ADC outputs, reduce partial sums) and the basis
coefficient combiner. Each is a SimPy resource whose users hold one unit for their ops."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from xbarsim.timing.hw.stats import Counters


class UnitBank:
    """``units`` identical units, each doing ``ops_per_cycle`` operations per cycle."""

    def __init__(self, env: simpy.Environment, units: int, ops_per_cycle: float,
                 counters: Counters, counter: str, kind: str) -> None:
        self.env = env
        self.units = simpy.Resource(env, capacity=units)
        self.whole = simpy.Resource(env, capacity=1)
        """The bank used as one unit (``run_all``)."""
        self.ops_per_cycle = ops_per_cycle
        self.counters = counters
        self.counter = counter
        self.kind = kind

    def run(self, layer: str | None, ops: int) -> Generator[Any, Any, None]:
        """Perform ``ops`` operations on one unit and count them."""
        if ops <= 0:
            return
        with self.units.request() as req:
            yield req
            cycles = math.ceil(ops / self.ops_per_cycle)
            yield self.env.timeout(cycles)
        self.counters.add_busy(self.kind, cycles)
        self.counters.add(layer, self.counter, ops)

    def run_all(self, layer: str | None, ops: int) -> Generator[Any, Any, None]:
        """Perform ``ops`` operations on the whole bank at once (a pool, add or reduction of
        one tile): ``ceil(ops / (units * ops_per_cycle))`` cycles, one such job at a time. Like
        the static pipeline's bookings (docs/design.md 6.2) it does not wait for the units the
        crossbars' own shift-adds hold."""
        if ops <= 0:
            return
        n = int(self.units.capacity)
        cycles = math.ceil(ops / (n * self.ops_per_cycle))
        with self.whole.request() as req:
            yield req
            yield self.env.timeout(cycles)
        self.counters.add_busy(self.kind, cycles * n)
        self.counters.add(layer, self.counter, ops)
