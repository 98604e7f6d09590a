"""A crossbar unit: row DACs, the analog array read with sample-and-hold, and column ADCs.

One read drives ``rows_used`` DACs, settles the array for ``read_ns`` and samples every bit line;
the ``count`` ADCs then convert the ``cols_used`` held values, ceil(cols / count) conversions
each, back to back: convert = ceil(ceil(cols / count) x conversion_ns) cycles, rounded once per
read (ISAAC: 128 conversions of 0.78125 ns = 100 ns = 120 cycles at 1.2 GHz, not 128 cycles).
Reads are pipelined with conversions (ISAAC): n reads take
min(read, convert) + n * max(read, convert) cycles, so a stream of reads can be split into
work items without changing its duration (the fill term is paid by the first item only).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from xbarsim.config.schema import Crossbar
from xbarsim.timing.estimators import adc_conversion_ns
from xbarsim.timing.hw.clock import Clock, until
from xbarsim.timing.hw.stats import Counters
from xbarsim.util import ceil_div


class CrossbarUnit:
    """One crossbar with its DACs and ADC bank, used by one stream of reads at a time in the
    order they are requested (booked by time: it keeps the cycle it is next free, the same
    schedule as a first-come, first-served SimPy resource with one event per use)."""

    def __init__(self, env: simpy.Environment, xbar: Crossbar, clock: Clock,
                 counters: Counters) -> None:
        self.env = env
        self.free_at = 0
        self.clock = clock
        self.read_cycles = clock.cycles(xbar.read_ns)
        self.conversion_ns = adc_conversion_ns(xbar.adc)
        self.adcs = xbar.adc.count
        self.counters = counters

    def read_time(self, reads: int, conversions_per_read: int, first: bool) -> int:
        """Cycles of ``reads`` pipelined reads, each converting that many held values."""
        fill, per_read = self.pipeline_cycles(conversions_per_read)
        return (fill if first else 0) + reads * per_read

    def pipeline_cycles(self, conversions_per_read: int) -> tuple[int, int]:
        """(fill, cycles per read) of a stream of reads overlapped with their conversions."""
        convert = self.clock.cycles(ceil_div(conversions_per_read, self.adcs) * self.conversion_ns)
        return min(self.read_cycles, convert), max(self.read_cycles, convert)

    def compute(self, layer: str, reads: int, rows_used: int, cols_used: int,
                first: bool) -> Generator[Any, Any, None]:
        """Perform ``reads`` reads (vectors x input slices) of a block and count them."""
        yield from self.operate(layer, reads, reads * rows_used, reads * cols_used, first)

    def operate(self, layer: str, reads: int, dac: int, conversions: int,
                first: bool) -> Generator[Any, Any, None]:
        """``reads`` reads driving ``dac`` row inputs and converting ``conversions`` values in
        all, spread evenly over the reads (the general form, for analog combination)."""
        end = self.book(layer, reads, dac, conversions, first)
        yield from until(self.env, end)

    def book(self, layer: str, reads: int, dac: int, conversions: int, first: bool) -> int:
        """Book ``operate`` requested now and count it; return the cycle it ends."""
        if reads <= 0:
            return int(self.env.now)
        cycles = self.read_time(reads, ceil_div(conversions, reads), first)
        self.free_at = max(int(self.env.now), self.free_at) + cycles
        self.count_booked(layer, reads, dac, conversions, cycles)
        return self.free_at

    def count_booked(self, layer: str, reads: int, dac: int, conversions: int, cycles: int) -> None:
        """Count reads booked (here, or by compiled code: ``block_bookings``), holding a
        crossbar for ``cycles``."""
        self.counters.add_busy("crossbar", cycles)
        self.counters.add(layer, "xbar_reads", reads)
        self.counters.add(layer, "dac_conversions", dac)
        self.counters.add(layer, "adc_conversions", conversions)
