"""Pulse-count sampling: exact distributions of the slowest cell and of the total."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xbarsim.config import load_arch
from xbarsim.config.schema import MeasuredAlgorithm
from xbarsim.errors import XbarsimError
from xbarsim.programming.pulses import (
    GUIDE,
    PulseDistribution,
    _guide,
    _row_max_bins,
    measured_distribution,
    pulse_distribution,
)
from xbarsim.timing.hw.clock import Clock
from xbarsim.timing.hw.stats import Counters
from xbarsim.timing.hw.write_verify import WriteVerifyController

CSV = "xbarsim/data/write_verify_pulses.csv"


def test_fixed_model_is_exact():
    arch = load_arch("arch_configs/tiny.yaml")
    dist = pulse_distribution(arch.write_verify, arch.crossbar.cell_bits)
    rng = np.random.default_rng(0)
    assert dist.sample_row_max(np.array([16, 3, 0]), rng).tolist() == [3, 3, 0]
    assert dist.sample_total(100, rng) == 300


@pytest.mark.parametrize("algorithm", list(MeasuredAlgorithm))
def test_measured_table_matches_the_csv(algorithm):
    dist = measured_distribution(algorithm, 2)
    table = pd.read_csv(CSV, comment="#")
    rows = table[(table.algorithm == algorithm.value) & (table.bits_per_cell == 2)]
    for level, group in rows.groupby("level"):
        mean = (group.pulses * group["count"]).sum() / group["count"].sum()
        assert dist.probs[level] @ dist.values == pytest.approx(mean)
    np.testing.assert_allclose(dist.probs.sum(axis=1), 1.0)


def test_row_max_matches_brute_force_max_of_cells():
    dist = measured_distribution(MeasuredAlgorithm.SDR, 2)
    p = dist.mixture()
    rng = np.random.default_rng(7)
    fast = dist.sample_row_max(np.full(4000, 128), rng)
    brute = rng.choice(dist.values, size=(4000, 128), p=p).max(axis=1)
    # same distribution: medians and quartiles agree closely (fixed seeds: deterministic)
    for q in (0.25, 0.5, 0.75):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(brute, q), rel=0.1)


@pytest.mark.parametrize("dist", [
    measured_distribution(MeasuredAlgorithm.SDR, 2),
    # 1 or 3 pulses, each with probability 1/2: the CDF and its square, 1/2 and 1/4, are
    # interval edges themselves
    PulseDistribution(values=np.array([1, 3]), probs=np.array([[0.5, 0.5]]),
                      failed=np.zeros((1, 2)))])
def test_compiled_bins_are_searchsorted_at_every_edge(dist):
    # _row_max_bins counts the entries of a row's table below its draw, which is searchsorted
    # with side="left": a draw equal to an entry is not above it. The count starts at the
    # guide of the draw's interval [g / GUIDE, (g + 1) / GUIDE). Draws at every entry of each
    # table (the CDF, and its square for rows of two cells) and at every interval's edge, one
    # ulp either side, and below 0 / above 1; a row of no cells is 0 pulses.
    tables = np.stack([dist._uniform_cdf, dist._uniform_cdf ** 2])
    guides = np.stack([_guide(t) for t in tables])
    edges = np.arange(GUIDE + 1) / GUIDE
    draws, which = [], []
    for k, table in enumerate(tables):
        for points in (table, edges):
            for u in (points, np.nextafter(points, -1), np.nextafter(points, 2)):
                draws.append(np.asarray(u))
                which.append(np.full(len(u), k))
        draws.append(np.array([-1.0, 2.0]))
        which.append(np.full(2, k))
    u, rows = np.concatenate(draws), np.concatenate(which)
    cells = np.arange(u.size) % 5
    expected = np.where(cells > 0, dist.values[np.minimum(
        [np.searchsorted(tables[k], x, side="left") for k, x in zip(rows, u)],
        len(dist.values) - 1)], 0)
    np.testing.assert_array_equal(_row_max_bins(tables, guides, rows, dist.values, u, cells),
                                  expected)


def test_row_max_is_the_inverse_cdf_of_the_slowest_cell_by_hand():
    # Two bins, 1 or 3 pulses, each with probability 1/2: the slowest of n cells takes 1
    # pulse with probability (1/2) ** n, so a draw u takes 1 pulse when u <= (1/2) ** n.
    # The generator's draws decide, row by row, for rows of 1, 2, 3 and 0 cells; among the
    # 400 rows some draws fall between (1/2) ** 3 and 1/2, where the row size decides.
    dist = PulseDistribution(values=np.array([1, 3]), probs=np.array([[0.5, 0.5]]),
                             failed=np.zeros((1, 2)))
    cells = np.tile([1, 2, 3, 0], 100)
    u = np.random.default_rng(4).random(cells.size)
    expected = [0 if n == 0 else 1 if x <= 0.5 ** n else 3 for n, x in zip(cells, u)]
    assert any(0.5 ** n < x <= 0.5 for n, x in zip(cells, u) if n > 1)
    for compiled in (False, True):
        got = dist.sample_row_max(cells, np.random.default_rng(4), compiled=compiled)
        assert got.tolist() == expected


@given(st.lists(st.integers(0, 300), min_size=1, max_size=200), st.integers(0, 2**32),
       st.sampled_from(list(MeasuredAlgorithm)))
def test_compiled_row_max_draws_what_numpy_draws(cells, seed, algorithm):
    # the same generator state gives the same slowest cells, and leaves the same state
    dist = measured_distribution(algorithm, 2)
    cells_arr = np.array(cells, dtype=np.int64)
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    np.testing.assert_array_equal(dist.sample_row_max(cells_arr, a),
                                  dist.sample_row_max(cells_arr, b, compiled=True))
    assert a.random() == b.random()


def test_total_matches_sum_of_cells_in_expectation():
    dist = measured_distribution(MeasuredAlgorithm.ISPP, 2)
    mean = dist.mixture() @ dist.values
    rng = np.random.default_rng(1)
    totals = [dist.sample_total(10_000, rng) for _ in range(200)]
    assert np.mean(totals) == pytest.approx(10_000 * mean, rel=0.01)


def test_missing_measured_data_is_a_clear_error():
    with pytest.raises(XbarsimError, match=r"write_verify\.measured_algorithm.*sdr with 3 bits"):
        measured_distribution(MeasuredAlgorithm.SDR, 3)


@pytest.mark.parametrize("algorithm", list(MeasuredAlgorithm))
def test_sampled_mean_pulses_per_level_within_two_percent(algorithm):
    dist = measured_distribution(algorithm, 2)
    rng = np.random.default_rng(11)
    for level in range(dist.levels):
        mean = dist.probs[level] @ dist.values
        sampled = dist.sample_total_by_levels(
            np.eye(dist.levels, dtype=np.int64)[level] * 2_000_000, rng) / 2_000_000
        assert sampled == pytest.approx(mean, rel=0.02)


def test_row_max_equals_brute_force_on_small_rows():
    # exact distribution of the max of 3 cells, enumerated, against 20000 fast draws
    dist = measured_distribution(MeasuredAlgorithm.SDR, 2)
    p = dist.mixture()
    cdf = np.cumsum(p)
    exact_median_idx = int(np.searchsorted(cdf**3, 0.5))
    draws = dist.sample_row_max(np.full(20000, 3), np.random.default_rng(5))
    assert np.median(draws) == dist.values[exact_median_idx]
    # P(max <= v) for the first few values, exact vs sampled
    for i in range(4):
        assert np.mean(draws <= dist.values[i]) == pytest.approx(cdf[i] ** 3, abs=0.01)


class _Stub:
    """Pulse counts chosen by hand: slowest cell per step and the block's total pulses."""

    def __init__(self, slowest: list[int], total: int) -> None:
        self.slowest, self.total = np.array(slowest), total

    def sample_row_max(self, cells: np.ndarray, rng: object) -> np.ndarray:
        return self.slowest

    def sample_total(self, cells: int, rng: object) -> int:
        return self.total

    def sample_failed(self, cells: int, rng: object) -> int:
        return 0


def test_every_verify_reads_the_whole_step():
    # A 3-row x 5-column block written one row at a time (5 cells per step). The rows' slowest
    # cells need 2, 0 and 7 pulses; the 15 cells get 20 pulses in all. Step r takes
    # verify + slowest x (pulse + verify) = 10 + s x 30 cycles on tiny's 20 ns pulse and
    # 10 ns verify; each verify senses all 5 cells: 5 x (1 + 2) + 5 x 1 + 5 x (1 + 7) = 60.
    wv = dataclasses.replace(load_arch("arch_configs/tiny.yaml").write_verify, rows_parallel=1,
                             cells_per_row_parallel=8)
    ctl = WriteVerifyController(None, wv, 1, Clock(1.0), Counters(),  # type: ignore[arg-type]
                                _Stub([2, 0, 7], 20), np.random.default_rng(0), False)
    cycles, pulses, verifies, failed = ctl.step_cycles(ctl.step_cells(3, 5))
    assert cycles.tolist() == [10 + 2 * 30, 10, 10 + 7 * 30]
    assert (pulses, verifies, failed) == (20, 60, 0)


def test_capping_a_distribution_by_hand():
    # one level: 1 pulse (p 0.5, converged), 10 pulses (0.3, of which 0.1 never converged),
    # 200 pulses (0.2, converged). Capped at 50: 1 -> 0.5, 10 -> 0.3, 50 -> 0.2; failing:
    # the 0.1 that never converge plus the 0.2 that would need more than 50.
    dist = PulseDistribution(values=np.array([1, 10, 200]), probs=np.array([[0.5, 0.3, 0.2]]),
                             failed=np.array([[0.0, 0.1, 0.0]]))
    capped = dist.capped(50)
    assert capped.values.tolist() == [1, 10, 50]
    assert capped.probs.tolist() == [[0.5, 0.3, 0.2]]
    assert capped.fail.tolist() == pytest.approx([0.3])
    assert dist.capped(None) is dist and dist.capped(200) is dist
    # a cap on an existing count merges the bins above into it
    assert dist.capped(10).probs.tolist() == [[0.5, 0.5]]
    assert dist.capped(10).fail.tolist() == pytest.approx([0.3])


def test_the_measured_success_column_sets_the_failures():
    # RADAR's 2-bit sdr cells: 3.44% never converge (success = 0), the slowest converging
    # cell needs 275 pulses
    sdr = measured_distribution(MeasuredAlgorithm.SDR, 2)
    assert sdr.fail.mean() == pytest.approx(0.0344, abs=5e-4)
    assert sdr.capped(275).fail.mean() == pytest.approx(sdr.fail.mean())
    capped = sdr.capped(50)  # levels 0-2 lose slow converging cells; level 3 has none
    assert (capped.fail >= sdr.fail).all() and (capped.fail[:3] > sdr.fail[:3]).all()


@given(st.integers(1, 300), st.integers(1, 256), st.integers(0, 2**32 - 1))
def test_a_capped_row_never_takes_more_pulses_than_the_cap(cap, cells, seed):
    dist = measured_distribution(MeasuredAlgorithm.SDR, 2).capped(cap)
    rng = np.random.default_rng(seed)
    assert dist.sample_row_max(np.full(16, cells), rng).max() <= cap
    assert 0 <= dist.sample_failed(cells, rng) <= cells
