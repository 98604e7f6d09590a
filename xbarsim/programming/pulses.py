"""Per-cell program-verify pulse counts: fixed, or sampled from measured RRAM histograms.

The measured table (``xbarsim/data/write_verify_pulses.csv``) is the histogram of pulses-to-target
per cell from B. Q. Le, A. Levy et al., "RADAR: A Fast and Energy-Efficient Programming Technique
for Multiple Bits-per-Cell RRAM Arrays", IEEE TED 2021, doi:10.1109/TED.2021.3097975 (SkyWater 130
nm 1T1R). Sampling is exact but never draws every cell: a row's slowest cell is drawn from the
distribution of the maximum (CDF ** cells), and the total pulses of many cells from a multinomial
over the histogram bins. A cell fails when it did not converge in the measurement (its
``success`` column is 0) or needs more pulses than ``write_verify.max_iterations``; it then gets
at most that many pulses. """

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np

from xbarsim.config.schema import MeasuredAlgorithm, PulseModel, WriteVerify
from xbarsim.errors import XbarsimError
from xbarsim.io.package_data import read_package_text
from xbarsim.numba_settings import jit


@dataclass(frozen=True)
class PulseDistribution:
    """Pulses-per-cell distribution for each target level (rows of ``probs``)."""

    values: np.ndarray
    """Distinct pulse counts, ascending, shape [V]."""
    probs: np.ndarray
    """probs[level, v] = P(a cell at this level gets values[v] pulses), shape [levels, V]."""
    failed: np.ndarray
    """failed[level, v] = P(the cell gets values[v] pulses and ends outside its window)."""

    @cached_property
    def fail(self) -> np.ndarray:
        """P(a cell at this level ends outside its window), shape [levels]."""
        return np.asarray(self.failed.sum(axis=1))

    @cached_property
    def _uniform(self) -> np.ndarray:
        """Pulse distribution of a cell of a uniformly drawn level (``mixture()``; cached,
        read-only: every write of a block without known levels samples it)."""
        p = np.asarray(self.probs.mean(axis=0))
        p.setflags(write=False)
        return p

    @cached_property
    def _uniform_cdf(self) -> np.ndarray:
        """CDF of ``_uniform`` (cached, read-only)."""
        cdf = _cdf(self._uniform)
        cdf.setflags(write=False)
        return cdf

    @cached_property
    def _uniform_fail(self) -> float:
        """P(a cell of a uniformly drawn level fails) (cached: every write of a block without
        known levels draws its failures with it)."""
        return float(self.fail.mean())

    @cached_property
    def _uniform_normalized(self) -> np.ndarray:
        """``_uniform`` divided by its sum, as ``sample_total`` draws it (cached, read-only)."""
        p = self._uniform / self._uniform.sum()
        p.setflags(write=False)
        return p

    @property
    def levels(self) -> int:
        """Number of target levels."""
        return int(self.probs.shape[0])

    def mixture(self, level_weights: np.ndarray | None = None) -> np.ndarray:
        """Pulse distribution of a cell whose level is drawn with ``level_weights`` (uniform)."""
        if level_weights is None:
            return self._uniform
        w = np.asarray(level_weights, dtype=np.float64)
        return np.asarray(w @ self.probs / w.sum())

    def sample_row_max(self, cells: np.ndarray, rng: np.random.Generator,
                       probs: np.ndarray | None = None, compiled: bool = False,
                       sizes: RowSizes | None = None) -> np.ndarray:
        """Slowest cell of each row of ``cells[i]`` iid cells, by inverse CDF: P(max <= v) =
        CDF[v] ** n, so the draw for a uniform u is the first bin with u <= CDF[v] ** n (u
        against the CDF raised to each distinct row size, rather than a root of u per row).
        ``compiled``: find the bins with ``_row_max_bins`` (the same draws; worth it once the
        process runs compiled code anyway, ``windows.compiled_mode``); ``sizes``:
        ``row_sizes(cells)``, if the caller keeps it."""
        u = rng.random(cells.shape)
        distinct, which = sizes if sizes is not None else row_sizes(cells)
        powered = [self._powered_cdf(n, probs) for n in distinct]
        tables = powered[0][0][None] if len(powered) == 1 else np.stack([t for t, _ in powered])
        if compiled:
            guides = powered[0][1][None] if len(powered) == 1 else np.stack(
                [g for _, g in powered])
            return _row_max_bins(tables, guides, which, self.values, u,
                                 np.ascontiguousarray(cells))
        idx = np.empty(u.shape, dtype=np.int64)
        for k, table in enumerate(tables):
            rows = which == k
            idx[rows] = np.searchsorted(table, u[rows], side="left")
        out = self.values[np.minimum(idx, len(self.values) - 1)]
        return np.where(cells > 0, out, 0)

    def _powered_cdf(self, n: int, probs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """CDF ** n, the CDF of the slowest of ``n`` cells, and its guide (``_guide``); of the
        uniform mixture: cached."""
        if probs is not None:
            table = _cdf(probs) ** n
            return table, _guide(table)
        powered = self._powered_uniform.get(n)
        if powered is None:
            table = self._uniform_cdf ** n
            powered = self._powered_uniform[n] = (table, _guide(table))
        return powered

    @cached_property
    def _powered_uniform(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``_powered_cdf`` of the uniform mixture, by ``n`` (every write of a block without
        known levels uses one)."""
        return {}

    def sample_max_by_levels(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Slowest cell of each step with ``counts[step, level]`` cells per target level:
        P(max <= v) = prod over levels of CDF_level(v) ** count, inverted at a uniform draw."""
        cdf = np.minimum(np.cumsum(self.probs, axis=1), 1.0)
        cdf[:, -1] = 1.0
        with np.errstate(divide="ignore"):
            log_cdf = np.log(cdf)  # [levels, V], -inf where a level cannot finish yet
        counts = np.asarray(counts, dtype=np.float64)
        present = counts > 0
        # sum over present levels only, so that 0 cells x -inf counts as 0
        with np.errstate(invalid="ignore"):
            terms = counts[:, :, None] * log_cdf[None]
        log_max = np.where(present[:, :, None], terms, 0.0).sum(axis=1)
        with np.errstate(divide="ignore"):
            log_u = np.log(rng.random(counts.shape[0]))
        idx = np.argmax(log_max >= log_u[:, None], axis=1)
        return np.where(present.any(axis=1), self.values[idx], 0)

    def sample_total_by_levels(self, cells_per_level: np.ndarray,
                               rng: np.random.Generator) -> int:
        """Total pulses of cells with known target levels: one multinomial per level."""
        return sum(self.sample_total(int(n), rng, self.probs[level])
                   for level, n in enumerate(cells_per_level) if n)

    def sample_failed(self, cells: int, rng: np.random.Generator) -> int:
        """Failed cells among ``cells`` iid cells of uniformly drawn target levels."""
        q = self._uniform_fail
        return int(rng.binomial(cells, q)) if cells > 0 and q > 0 else 0

    def sample_failed_by_levels(self, cells_per_level: np.ndarray,
                                rng: np.random.Generator) -> int:
        """Failed cells among cells of known target levels."""
        return sum(int(rng.binomial(int(n), self.fail[level]))
                   for level, n in enumerate(cells_per_level) if n and self.fail[level] > 0)

    def capped(self, cap: int | None) -> PulseDistribution:
        """The distribution when the verify loop stops a cell after ``cap`` pulses: counts
        above the cap become the cap, and those cells fail."""
        if cap is None or self.values[-1] <= cap:
            return self
        keep = self.values < cap
        over = ~keep  # at the cap or above: one bin at the cap
        values = np.append(self.values[keep], cap)
        probs = np.concatenate([self.probs[:, keep], self.probs[:, over].sum(1)[:, None]], 1)
        at_cap = self.values == cap
        failed = np.concatenate([self.failed[:, keep],
                                 (self.failed[:, at_cap].sum(1)
                                  + self.probs[:, self.values > cap].sum(1))[:, None]], 1)
        return PulseDistribution(values=values, probs=probs, failed=failed)

    def sample_total(self, cells: int, rng: np.random.Generator,
                     probs: np.ndarray | None = None) -> int:
        """Total pulses of ``cells`` iid cells: counts per bin ~ Multinomial(cells, p)."""
        if cells <= 0:
            return 0
        counts = rng.multinomial(cells, self._uniform_normalized if probs is None
                                 else probs / probs.sum())
        return int(counts @ self.values)


class RowSizes(NamedTuple):
    """The distinct sizes of rows of cells, ascending (an empty row counts as one cell), and
    the index of each row's size among them."""

    distinct: list[int]
    which: np.ndarray


def row_sizes(cells: np.ndarray) -> RowSizes:
    """``RowSizes`` of rows of ``cells[i]`` cells."""
    sizes = np.maximum(cells, 1)
    smallest = int(sizes.min()) if sizes.size else 1
    if smallest == sizes.max(initial=1):  # the common case: every row of the same size
        return RowSizes([smallest], np.zeros(sizes.shape, dtype=np.int64))
    unique, which = np.unique(sizes, return_inverse=True)
    return RowSizes(unique.tolist(), which)


GUIDE = 256
"""Intervals of the unit interval a table's guide splits it into (a power of two, so that
``u * GUIDE`` rounds down exactly)."""


def _guide(table: np.ndarray) -> np.ndarray:
    """Entries of ``table`` below ``g / GUIDE`` for each g: where the search for a draw in
    ``[g / GUIDE, (g + 1) / GUIDE)`` starts (an index table, Chen and Asau 1974)."""
    return np.searchsorted(table, np.arange(GUIDE) / GUIDE, side="left").astype(np.int64)


@jit
def _row_max_bins(tables: np.ndarray, guides: np.ndarray, which: np.ndarray, values: np.ndarray,
                  u: np.ndarray, cells: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    """``sample_row_max``'s bins, compiled: ``values`` at the count of entries of row
    ``tables[which[i]]`` below ``u[i]`` (``searchsorted``, side left), the last value at most;
    0 for a row of no cells. The count starts at the guide of the draw's interval (every
    entry before it is below the draw) and steps over the few entries left, where a binary
    search over random draws mispredicts a branch at each step."""
    out = np.zeros(u.size, dtype=np.int64)
    last = values.size - 1
    bins = tables.shape[1]
    for i in range(u.size):
        x, k = u[i], which[i]
        below = guides[k, min(max(int(x * GUIDE), 0), GUIDE - 1)]
        while below < bins and tables[k, below] < x:
            below += 1
        out[i] = values[min(below, last)] if cells[i] > 0 else 0
    return out


def _cdf(probs: np.ndarray) -> np.ndarray:
    """CDF over the pulse bins, its last entry exactly 1 (rounding)."""
    cdf = np.minimum(np.cumsum(probs), 1.0)
    cdf[-1] = 1.0
    return cdf


@lru_cache(maxsize=8)
def measured_distribution(algorithm: MeasuredAlgorithm, cell_bits: int) -> PulseDistribution:
    """Load the measured histogram for one algorithm and bits per cell (cached)."""
    table: dict[tuple[int, int], int] = {}
    failed: dict[tuple[int, int], int] = {}
    text = read_package_text("write_verify_pulses.csv")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    for row in rows:
        if row["algorithm"] == algorithm.value and int(row["bits_per_cell"]) == cell_bits:
            key = (int(row["level"]), int(row["pulses"]))
            table[key] = table.get(key, 0) + int(row["count"])
            if row["success"] == "0":
                failed[key] = failed.get(key, 0) + int(row["count"])
    if not table:
        raise XbarsimError(
            f"no measured pulse data for algorithm {algorithm.value} with {cell_bits} bits per "
            "cell (data: fppv 2 and 3 bits, ispp 2 bits, sdr 2 bits; or use pulse_model: fixed)",
            key="write_verify.measured_algorithm",
        )
    values = np.array(sorted({p for _, p in table}), dtype=np.int64)
    column = {v: i for i, v in enumerate(values)}
    counts = np.zeros((2**cell_bits, len(values)))
    fails = np.zeros_like(counts)
    for (level, pulses), count in table.items():
        counts[level, column[pulses]] += count
    for (level, pulses), count in failed.items():
        fails[level, column[pulses]] += count
    total = counts.sum(axis=1, keepdims=True)
    return PulseDistribution(values=values, probs=counts / total, failed=fails / total)


def pulse_distribution(wv: WriteVerify, cell_bits: int) -> PulseDistribution:
    """The per-level pulse distribution a write-verify config implies, capped at
    ``max_iterations``."""
    if wv.pulse_model is PulseModel.FIXED:
        dist = PulseDistribution(values=np.array([wv.fixed_pulses], dtype=np.int64),
                                 probs=np.ones((2**cell_bits, 1)),
                                 failed=np.zeros((2**cell_bits, 1)))
    else:
        dist = measured_distribution(wv.measured_algorithm, cell_bits)
    return dist.capped(wv.max_iterations)
