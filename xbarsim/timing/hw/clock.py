"""The integer simulation clock: analog latencies in ns become digital cycles once, with ceil."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

EPS = 1e-9  # absorbs float error such as 100 ns x 1.2 GHz = 119.99999999999999


@dataclass(frozen=True)
class Clock:
    """Converts nanoseconds and byte counts to whole cycles of the digital clock."""

    ghz: float

    def cycles(self, ns: float) -> int:
        """Cycles covering ``ns`` (ceil); any positive latency takes at least one cycle."""
        return max(0, math.ceil(ns * self.ghz - EPS))

    def seconds(self, cycles: int) -> float:
        """Wall time of ``cycles``."""
        return cycles / (self.ghz * 1e9)


def transfer_cycles(nbytes: float, bytes_per_cycle: float) -> int:
    """Cycles to move ``nbytes`` through a port of ``bytes_per_cycle`` (ceil)."""
    if nbytes <= 0:
        return 0
    return math.ceil(nbytes / bytes_per_cycle - EPS)


def until(env: Any, cycle: int) -> Generator[Any, Any, None]:
    """Wait until ``cycle`` (no event when it has come, or when nothing can come before it:
    ``environment.Environment.skip_to``): the wait of an action booked by time, which knows its
    end when it is requested."""
    if cycle > env.now and not env.skip_to(cycle):
        yield env.timeout(cycle - int(env.now))
