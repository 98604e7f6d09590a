"""The basis dataflow: copies, hand-derived counts, setup, errors."""

from __future__ import annotations

import pytest

from xbarsim.config import load_arch
from xbarsim.dataflow.basis import BasisSpec, even_split, proportional_split
from xbarsim.dataflow.plan import Dataflow
from xbarsim.errors import XbarsimError
from xbarsim.mapping.basis_copies import BasisFootprint
from xbarsim.mapping.encoding import Encoding
from xbarsim.simulate import RunOptions, simulate
from xbarsim.workload import workload_from_dict

TINY = load_arch("arch_configs/tiny.yaml")
ENC = Encoding.from_arch(TINY)  # 16x16, s = 4, d = 2, t = 4


def linear(k: int, o: int):
    return workload_from_dict({"name": "lin", "input": [k, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "in_channels": k, "out_channels": o}]})


def spec(length: int, size: int, segments: int, nnz: int) -> BasisSpec:
    return BasisSpec(length, size, 4, {"fc": segments}, {"fc": nnz})


def run(workload, basis, crossbars, batch=1):
    return simulate(TINY, workload, RunOptions(Dataflow.BASIS, crossbars=crossbars,
                                               batch=batch, basis=basis)).summary


def test_footprint_by_hand():
    # L = 4, B = 2: a copy is 4 rows x 2*4*2 = 16 columns; 4 fit vertically, 1 across
    f = BasisFootprint(4, 2, ENC)
    assert (f.cols_per_copy, f.copies_per_crossbar, f.parallel_per_crossbar) == (16, 4, 1)
    assert f.total_copies(10) == 40 and f.units(10) == 10
    # L = 4, B = 1: 8 columns; 4 x 2 copies, but only 2 on the diagonal read independently
    g = BasisFootprint(4, 1, ENC)
    assert (g.copies_per_crossbar, g.parallel_per_crossbar) == (8, 2)
    # L = 20: a copy spans ceil(20/16) = 2 crossbars
    h = BasisFootprint(20, 2, ENC)
    assert (h.copies_per_crossbar, h.crossbars_per_copy, h.units(5)) == (0, 2, 2)


def test_projection_counts_by_hand():
    # K = 16, L = 4: S = 4 projections per vector, batch 3 -> 12, one per unit on 4 crossbars
    s = run(linear(16, 2), spec(4, 2, 4, nnz=5), crossbars=4, batch=3)
    assert s["xbar_reads"] == 12 * 4  # t = 4 reads each
    assert s["adc_conversions"] == 12 * 4 * 16  # B*s*d = 16 columns per read
    assert s["dac_conversions"] == 12 * 4 * 4  # L = 4 rows per read
    assert s["digital_macs"] == 3 * 5  # N * P * nnz
    assert s["cells_written"] == 0 and s["write_pulses"] == 0
    assert s["setup_cycles"] > 0 and s["setup_energy_j"] > 0


def test_parallel_copies_share_reads():
    # B = 1: two independent projections per read; 8 projections on one crossbar = 4 steps
    s = run(linear(32, 2), spec(4, 1, 8, nnz=16), crossbars=1)
    assert s["xbar_reads"] == 4 * 4
    assert s["adc_conversions"] == 8 * 4 * 8
    assert s["dac_conversions"] == 8 * 4 * 4


def test_copy_spanning_crossbars():
    # L = 20, B = 2: 2 crossbars per copy (16 + 4 rows); 2 projections on 2 units of 2
    s = run(linear(40, 2), spec(20, 2, 2, nnz=4), crossbars=4)
    assert s["xbar_reads"] == 2 * 2 * 4
    assert s["adc_conversions"] == 2 * 2 * 4 * 16
    assert s["dac_conversions"] == 2 * 4 * 20


def test_no_copy_fits_is_a_clear_error():
    with pytest.raises(XbarsimError, match=r"needs 3 crossbars but the chip has 2"):
        run(linear(40, 2), spec(40, 2, 1, nnz=2), crossbars=2)


def test_basis_needs_a_basis():
    with pytest.raises(XbarsimError, match="--basis"):
        simulate(TINY, linear(16, 2), RunOptions(Dataflow.BASIS, crossbars=4))


def test_more_crossbars_fewer_cycles_same_counts():
    w = linear(64, 4)
    few = run(w, spec(4, 2, 16, nnz=40), crossbars=2, batch=4)
    many = run(w, spec(4, 2, 16, nnz=40), crossbars=16, batch=4)
    assert many["cycles"] < few["cycles"]
    for key in ("adc_conversions", "dac_conversions", "digital_macs"):
        assert many[key] == few[key]


def test_splits_are_exact():
    assert even_split(10, 4) == [3, 3, 2, 2]
    assert proportional_split(10, [3, 3, 2, 2]) == [3, 3, 2, 2]
    assert sum(proportional_split(7, [1, 1, 1])) == 7
    assert proportional_split(5, [0, 0]) == [0, 0]
