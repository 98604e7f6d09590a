"""Action counters and the activity clock that splits run time into compute/program/stall."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

COUNTERS = (
    "cells_written", "write_pulses", "verify_reads", "xbar_reads", "adc_conversions",
    "dac_conversions", "shift_add_ops", "digital_macs", "tile_buffer_read_bytes",
    "tile_buffer_write_bytes", "global_buffer_bytes", "coeff_buffer_bytes", "noc_bytes",
    "noc_byte_hops", "dram_bytes", "failed_cells",
)
"""Every action a component counts; energy.py prices them (``failed_cells`` costs nothing of
its own: its pulses and verifies are counted)."""


class Counters:
    """Action counts per layer (``None`` = not attributable to a layer, e.g. the input load)."""

    def __init__(self) -> None:
        self.busy: dict[str, int] = defaultdict(int)
        """Cycles each kind of shared hardware was held, summed over its instances."""
        self._by_layer: dict[str | None, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(COUNTERS, 0))

    def add(self, layer: str | None, counter: str, amount: int) -> None:
        """Count ``amount`` actions of one kind for a layer."""
        self._by_layer[layer][counter] += int(amount)

    def add_busy(self, kind: str, cycles: int) -> None:
        """Record that one unit of ``kind`` was held for ``cycles``."""
        self.busy[kind] += int(cycles)

    def layer(self, name: str | None) -> dict[str, int]:
        """Counts of one layer (zeros if it did nothing)."""
        return dict(self._by_layer[name])

    def total(self) -> dict[str, int]:
        """Counts summed over all layers."""
        out = dict.fromkeys(COUNTERS, 0)
        for counts in self._by_layer.values():
            for key, value in counts.items():
                out[key] += value
        return out


class Activity:
    """Splits elapsed cycles into compute, program and stall (nothing active) time.

    A cycle in which any layer computes counts as compute; otherwise, if any crossbar is being
    programmed, as program; otherwise as stall (waiting on DRAM, the NoC or dependencies).
    """

    KINDS = ("compute", "program")

    def __init__(self, env: Any) -> None:
        self.env = env
        self.active = dict.fromkeys(self.KINDS, 0)
        self.cycles = {"compute": 0, "program": 0, "stall": 0}
        self.overlapped = 0
        """Cycles in which compute and programming ran at the same time (within compute)."""
        self._last = 0
        self._spans: dict[str, list[tuple[int, int]]] = {}

    def _advance(self) -> None:
        now = int(self.env.now)
        elapsed = now - self._last
        if not elapsed:  # nothing to account (a round's parts start and end together)
            return
        state = next((k for k in self.KINDS if self.active[k]), "stall")
        self.cycles[state] += elapsed
        if all(self.active.values()):
            self.overlapped += elapsed
        self._last = now

    def busy(self, kind: str) -> _Busy:
        """Mark ``kind`` active for the duration of a ``with`` block inside a process."""
        return _Busy(self, kind)

    def add_spans(self, kind: str, spans: list[tuple[int, int]]) -> None:
        """Mark ``kind`` active during each [start, end) of ``spans``, for an engine that times
        its work without running it as ``busy`` blocks (the static pipeline: a chunk may start
        before the event that times it). Only for runs that mark nothing else."""
        self._spans.setdefault(kind, []).extend(spans)

    def finish(self) -> dict[str, int]:
        """Account up to now and return the split."""
        self._advance()
        for kind, spans in self._spans.items():
            covered, reach = 0, 0
            for start, end in sorted(spans):  # length of the union of the spans
                if end > reach:
                    covered += end - max(start, reach)
                    reach = end
            self.cycles[kind] += covered
            self.cycles["stall"] -= covered
        self._spans.clear()
        return dict(self.cycles)


class _Busy:
    """The ``with`` block of ``Activity.busy`` (a class, not ``contextlib.contextmanager``: a
    reprogram run enters one per round and part, and a generator costs more)."""

    __slots__ = ("activity", "kind")

    def __init__(self, activity: Activity, kind: str) -> None:
        self.activity, self.kind = activity, kind

    def __enter__(self) -> None:
        self.activity._advance()
        self.activity.active[self.kind] += 1

    def __exit__(self, *exc: object) -> None:
        self.activity._advance()
        self.activity.active[self.kind] -= 1
