"""Digital units: shift-and-add banks (merge ADC outputs, reduce partial sums) and the basis
coefficient combiner. A job holds one unit for its ops; units are booked by time in the order
jobs are requested, each job taking the unit free first (the schedule of a first-come,
first-served SimPy resource of that many units, with one event per job)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Generator
from typing import Any

import simpy

from xbarsim.timing.hw.clock import until
from xbarsim.timing.hw.stats import Counters


class UnitBank:
    """``units`` identical units, each doing ``ops_per_cycle`` operations per cycle."""

    def __init__(self, env: simpy.Environment, units: int, ops_per_cycle: float,
                 counters: Counters, counter: str, kind: str) -> None:
        self.env = env
        self.count = units
        self.free_at = [0] * units
        """Cycle each unit is next free (a heap)."""
        self.whole_free_at = 0
        """Cycle the bank used as one unit (``book_all``) is next free."""
        self.ops_per_cycle = ops_per_cycle
        self.counters = counters
        self.counter = counter
        self.kind = kind

    def run(self, layer: str | None, ops: int) -> Generator[Any, Any, None]:
        """Perform ``ops`` operations on one unit and count them."""
        end = self.book(layer, ops)
        yield from until(self.env, end)

    def book(self, layer: str | None, ops: int, at: int | None = None) -> int:
        """Book ``run`` requested now (or at cycle ``at``, as ``Port.book``) on the unit free
        first and count it; return the cycle it ends."""
        now = int(self.env.now) if at is None else at
        if ops <= 0:
            return now
        cycles = math.ceil(ops / self.ops_per_cycle)
        end = max(now, heapq.heappop(self.free_at)) + cycles
        heapq.heappush(self.free_at, end)
        self.count_booked(layer, ops, cycles)
        return end

    def count_booked(self, layer: str | None, ops: int, cycles: int) -> None:
        """Count jobs booked (here, or by compiled code: ``block_bookings``): ``ops`` in all,
        holding a unit of this kind for ``cycles``."""
        self.counters.add_busy(self.kind, cycles)
        self.counters.add(layer, self.counter, ops)

    def book_all(self, layer: str | None, ops: int, at: int | None = None) -> int:
        """Book ``ops`` operations on the whole bank at once (a pool, add or reduction of one
        tile), requested now (or at cycle ``at``, as ``Port.book``), and count them; return the
        cycle they end: ``ceil(ops / (units * ops_per_cycle))`` cycles, one such job at a time.
        Like the static pipeline's bookings (docs/design.md 6.2) it does not wait for the units
        the crossbars' own shift-adds hold."""
        now = int(self.env.now) if at is None else at
        if ops <= 0:
            return now
        n = self.count
        cycles = math.ceil(ops / (n * self.ops_per_cycle))
        self.whole_free_at = max(now, self.whole_free_at) + cycles
        self.count_booked(layer, ops, cycles * n)
        return self.whole_free_at
