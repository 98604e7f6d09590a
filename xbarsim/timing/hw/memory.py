"""Buffers and the off-chip channel: ports are SimPy resources held for ceil(bytes / width)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from xbarsim.timing.hw.clock import Clock, transfer_cycles, until
from xbarsim.timing.hw.stats import Counters
from xbarsim.timing.hw.windows import Windows


class Port:
    """A buffer port moving ``bytes_per_cycle``; one access at a time, in the order they are
    requested. An access's length is known when it is requested, so the port is booked by
    time (it keeps the cycle it is next free): the same schedule as a first-come,
    first-served SimPy resource, with one event per access instead of three."""

    def __init__(self, env: simpy.Environment, bytes_per_cycle: float, counters: Counters,
                 read_counter: str, write_counter: str, kind: str) -> None:
        self.env = env
        self.free_at = 0
        self.bytes_per_cycle = bytes_per_cycle
        self.counters = counters
        self._counter = {"read": read_counter, "write": write_counter}
        self.kind = kind

    def access(self, layer: str | None, nbytes: int, kind: str) -> Generator[Any, Any, None]:
        """Read or write ``nbytes`` through the port."""
        end = self.book(layer, nbytes, kind)
        yield from until(self.env, end)

    def book(self, layer: str | None, nbytes: int, kind: str, at: int | None = None) -> int:
        """Book a read or write of ``nbytes`` requested now (or at cycle ``at``, the end of
        the step before it in one booked sequence) and count it; return the cycle it ends
        (``access`` without the wait)."""
        at = int(self.env.now) if at is None else at
        if nbytes <= 0:
            return at
        cycles = transfer_cycles(nbytes, self.bytes_per_cycle)
        self.free_at = max(at, self.free_at) + cycles
        self.count_booked(layer, kind, nbytes, cycles)
        return self.free_at

    def count_booked(self, layer: str | None, kind: str, nbytes: int, cycles: int) -> None:
        """Count accesses booked (here, or by compiled code: ``block_bookings``): ``nbytes``
        read or written in all, holding a port of this kind for ``cycles``."""
        self.counters.add_busy(self.kind, cycles)
        self.counters.add(layer, self._counter[kind], nbytes)


class Dram:
    """The off-chip channel: transfers queue for the bandwidth; the access latency overlaps."""

    def __init__(self, env: simpy.Environment, gbytes_per_s: float, latency_ns: float,
                 clock: Clock, counters: Counters) -> None:
        self.env = env
        self.channel = simpy.Resource(env, capacity=1)
        self.bytes_per_cycle = gbytes_per_s / clock.ghz  # GB/s / (Gcycles/s)
        self.latency_cycles = clock.cycles(latency_ns)
        self.counters = counters
        self.windows = Windows(1)
        """The channel's reserved windows, for transfers booked by time (``book``)."""

    def transfer(self, layer: str | None, nbytes: int) -> Generator[Any, Any, None]:
        """Move ``nbytes`` to or from DRAM: latency, then the channel for the payload."""
        if nbytes <= 0:
            return
        yield self.env.timeout(self.latency_cycles)
        cycles = transfer_cycles(nbytes, self.bytes_per_cycle)
        with self.channel.request() as req:
            yield req
            yield self.env.timeout(cycles)
        self.counters.add_busy("dram", cycles)
        self.counters.add(layer, "dram_bytes", nbytes)

    def book(self, layer: str | None, nbytes: int, now: int) -> tuple[int, int]:
        """Reserve the channel for ``nbytes`` requested at cycle ``now``, in its earliest free
        window (``windows.Windows``: a request for an earlier cycle than others already booked
        may use a gap they left): return the cycle its transfer ends and the cycle the data
        arrives (the access latency overlaps the next transfer)."""
        if nbytes <= 0:
            return now, now
        cycles = transfer_cycles(nbytes, self.bytes_per_cycle)
        end = self.windows.reserve((0,), now, cycles) + cycles
        self.counters.add_busy("dram", cycles)
        self.counters.add(layer, "dram_bytes", nbytes)
        return end, end + self.latency_cycles
