"""The basis dataflow: copies, hand-derived counts, setup, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.basis.analog_groups import analog_steps, bitplane_masks
from xbarsim.basis.copies import BasisFootprint
from xbarsim.basis.timing_spec import BasisSpec
from xbarsim.config import load_arch, with_crossbars
from xbarsim.config.schema import Combine
from xbarsim.errors import XbarsimError
from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate
from xbarsim.util import even_split, proportional_split
from xbarsim.workload import workload_from_dict

TINY = load_arch("arch_configs/tiny.yaml")
ENC = Encoding.from_arch(TINY)  # 16x16, s = 4, d = 2, t = 4


def linear(k: int, o: int):
    return workload_from_dict({"name": "lin", "input": [k, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "in_channels": k, "out_channels": o}]})


def spec(length: int, size: int, segments: int, nnz: int) -> BasisSpec:
    return BasisSpec(length, size, 4, {"fc": segments}, {"fc": nnz}, basis_bits=8)


def run(workload, basis, crossbars, batch=1):
    return simulate(with_crossbars(TINY, crossbars), workload,
                    RunOptions(Dataflow.BASIS, batch=batch, basis=basis)).summary


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
    with pytest.raises(XbarsimError, match=r"^basis: the basis dataflow needs one"):
        simulate(with_crossbars(TINY, 4), linear(16, 2), RunOptions(Dataflow.BASIS))


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


@given(st.integers(0, 10**6), st.lists(st.integers(0, 10**4), min_size=1, max_size=5))
def test_proportional_split_gives_the_largest_remainders_the_extra_units(total, weights):
    """Largest remainder: each share is its quota total * w / sum rounded down, and the units
    left go one each to the largest remainders (ties: the first); all weights 0: nothing."""
    got = proportional_split(total, weights)
    weight_sum = sum(weights)
    if weight_sum == 0:
        assert got == [0] * len(weights)
        return
    floors = [total * w // weight_sum for w in weights]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    assert got == [f + (i in order[:left]) for i, f in enumerate(floors)]


# -- analog combination ----------------------------------------------------------------------

def naive_groups(masks_column):
    """First-fit colouring in plain Python: list of unions."""
    unions = []
    for m in masks_column:
        if m == 0:
            continue
        for i, u in enumerate(unions):
            if u & m == 0:
                unions[i] |= m
                break
        else:
            unions.append(m)
    return unions


def test_analog_groups_by_hand():
    # 2-bit coefficients, S = 1, O = 4, B = 3; -1 is 0b11 in two's complement.
    # plane 0 masks: {b0}, {b1}, {b0,b1}, {b0} -> groups {o0,o1}, {o2}, {o3}: 3 steps, 4 active
    # plane 1 masks: -, -, -, {b0} -> 1 step, 1 active
    coeff = np.array([[[1, 0, 0], [0, 1, 0], [1, 1, 0], [-1, 0, 0]]])
    assert bitplane_masks(coeff, 2)[0].tolist() == [[1, 0], [2, 0], [3, 0], [1, 1]]
    assert analog_steps(coeff, 2, groups=1) == (4, 5)
    # as two groups of two outputs, each colours apart: {o0,o1} 1 step; {o2},{o3} 2 + 1 steps
    assert analog_steps(coeff, 2, groups=2) == (4, 5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 6), st.integers(2, 4), st.data())
def test_analog_groups_match_naive_first_fit(segments, outputs, size, bits, data):
    lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
    values = data.draw(st.lists(st.integers(lo, hi), min_size=segments * outputs * size,
                                max_size=segments * outputs * size))
    coeff = np.array(values).reshape(segments, outputs, size)
    masks = bitplane_masks(coeff, bits)
    steps = active = 0
    for s in range(segments):
        for k in range(bits):
            column = [int(m) for m in masks[s, :, k]]
            unions = naive_groups(column)
            steps += len(unions)
            active += sum(1 for m in column if m)
            # a step never needs more groups than outputs using it, nor fewer than the busiest
            # basis vector's users
            busiest = max(sum((m >> b) & 1 for m in column) for b in range(size))
            assert busiest <= len(unions) <= sum(1 for m in column if m)
    assert analog_steps(coeff, bits, 1) == (steps, active)


def test_analog_combine_counts():
    # K = 16, L = 4, B = 2, 4 outputs, 2-bit coefficients on tiny (t = 4, s*d = 8)
    coeff = np.array([[[1, 0], [0, 1], [1, 1], [-1, 0]]] * 4)  # S = 4 segments alike
    steps, active = analog_steps(coeff, 2, 1)
    basis = BasisSpec(4, 2, 2, {"fc": 4}, {"fc": int(np.count_nonzero(coeff))},
                      combine=Combine.ANALOG, analog_steps={"fc": steps},
                      analog_active={"fc": active}, basis_bits=8)
    s = simulate(with_crossbars(TINY, 1), linear(16, 4), RunOptions(Dataflow.BASIS, batch=2,
                                                  basis=basis)).summary
    assert s["digital_macs"] == 0
    assert s["adc_conversions"] == 2 * 4 * 8 * active
    assert s["xbar_reads"] == 2 * 4 * steps  # one copy per crossbar read at a time
    assert s["dac_conversions"] == 2 * 4 * steps * 4


def test_run_with_shipped_basis_counts_combination_macs(tmp_path):
    from xbarsim.basis import load_basis
    from xbarsim.cli.main import main
    from xbarsim.workload import load_workload

    out = tmp_path / "run"
    assert main(["run", "--arch", "arch_configs/tiny.yaml", "--workload",
                 "workloads/mlp_digits.yaml", "--dataflow", "basis", "--crossbars", "8",
                 "--batch", "2", "--basis", "workloads/mlp_digits.basis.npz",
                 "--out", str(out)]) == 0
    w = load_workload("workloads/mlp_digits.yaml")
    bs = load_basis("workloads/mlp_digits.basis.npz", w)
    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert summary["digital_macs"] == 2 * sum(bs.nnz_total(la.name) for la in w.mvm_layers)
    assert summary["cells_written"] == 0


@pytest.mark.parametrize("crossbars,setup", [(1, 1675), (2, 3299)])
def test_setup_is_writing_the_basis_copies_once(crossbars, setup):
    # L = 4, B = 2: four 4x16 copies fill each 16x16 crossbar, written like one full block
    # (tiny: fetch 64 B 50 + 8, NoC 8 + 1, tile write 8 -> 75; 16 rows x 100 cycles -> 1675).
    # Two crossbars share a tile and its single controller: the tile's 128 B come in one fetch
    # (50 + 16, NoC 16 + 1, tile write 16 -> 99), then the two blocks one after the other on
    # the controller: 99 + 2 x 1600 = 3299.
    s = run(linear(16, 2), spec(4, 2, 4, nnz=8), crossbars=crossbars)
    assert s["setup_cycles"] == setup
    assert s["cells_written"] == 0


def test_projections_per_layer_are_n_p_s():
    # conv 2 -> 3 channels, 3x3 kernel on 4x4 (padding 1): P = 16, K = 18, L = 9: S = 2
    w = workload_from_dict({"name": "c", "input": [2, 4, 4], "layers": [
        {"name": "fc", "type": "conv", "in_channels": 2, "out_channels": 3, "kernel": 3,
         "padding": 1}]})
    s = run(w, BasisSpec(9, 1, 4, {"fc": 2}, {"fc": 6}, basis_bits=8), crossbars=3, batch=2)
    projections = 2 * 16 * 2
    assert s["adc_conversions"] == projections * 4 * 8  # t = 4 reads, B*s*d = 8 columns
    assert s["digital_macs"] == 2 * 16 * 6


def test_basis_bits_set_the_copy_and_a_partial_step_is_one_read():
    # tiny: 16x16 crossbars, differential, 2-bit cells, t = 4 reads per vector. A 2-bit basis
    # (1 magnitude bit: s_b = 1, d = 2) of B = 2 vectors is 4 columns per copy, L = 4 rows:
    # 4 copies on the diagonal of one crossbar. A 4 -> 1 linear layer (S = 1) on a batch of 7
    # has 7 projections: one full step of 4 (t reads of 16 rows and 16 columns) and one step of
    # 3 copies side by side (t reads of 12 rows and 12 columns), not 3 x t reads.
    spec = BasisSpec(4, 2, 4, {"fc": 1}, {"fc": 2}, basis_bits=2)
    s = simulate(with_crossbars(TINY, 1), linear(4, 1),
                 RunOptions(Dataflow.BASIS, batch=7, basis=spec)).summary
    assert s["xbar_reads"] == 2 * 4
    assert s["dac_conversions"] == 4 * 16 + 4 * 12
    assert s["adc_conversions"] == 4 * 16 + 4 * 12
    # at 8 basis bits (s_b = 4: 16 columns per copy) only one copy fits: 7 steps of t reads
    wide = simulate(with_crossbars(TINY, 1), linear(4, 1), RunOptions(
        Dataflow.BASIS, batch=7, basis=dataclasses.replace(spec, basis_bits=8))).summary
    assert wide["xbar_reads"] == 7 * 4


def test_units_grouped_by_tile_keep_every_count():
    """A tile's projection units are simulated as one process (digital combine): grouping
    them by 1, 4 or 16 crossbars per tile moves time, never a counted action, except that
    every tile that combines receives the layer's coefficients once: 40 nonzeros x 4 bits =
    20 B over the NoC per tile (16, 4 and 1 tiles), and a vector split between tiles sends a
    piece of partial outputs home: 48 projections of S = 16 dealt 3, 12 or 48 to a tile start
    15, 3 or 0 tiles inside a vector, each piece 4 outputs x 16 bits = 8 B over the NoC."""
    w = linear(64, 4)
    runs = [simulate(with_crossbars(load_arch("arch_configs/tiny.yaml",
                                              [f"chip.crossbars_per_tile={per_tile}"]), 16),
                     w, RunOptions(Dataflow.BASIS, batch=3, basis=spec(4, 2, 16, nnz=40))).summary
            for per_tile in (1, 4, 16)]
    for key in ("xbar_reads", "adc_conversions", "dac_conversions", "digital_macs",
                "dram_bytes"):
        assert runs[0][key] == runs[1][key] == runs[2][key], key
    assert [r["noc_bytes"] - 20 * tiles - 8 * pieces
            for r, tiles, pieces in zip(runs, (16, 4, 1), (15, 3, 0))] == \
        [runs[2]["noc_bytes"] - 20] * 3


def test_a_tile_takes_as_long_as_its_busiest_unit():
    """A copy of L = 4 rows and B = 2 vectors x s*d = 8 columns fills a 16-column crossbar (one
    projection per read). Five projections over two crossbars of one tile: 3 and 2. The tile's
    reads take as long as the first unit's: 3 x t = 4 = 12 reads, pipelined with 16
    conversions on 4 ADCs (4 cycles): 4 + 12 x 10 = 124; then its 12 x 16 shift-adds at 16 per
    cycle, 12 (both units fit on the bank's 4 units at once): 136. One crossbar alone does all
    20 reads: 4 + 200, then 320 shift-adds in 20: 224. The rest (inputs, combine, outputs) is
    the same, so the two-crossbar chip is 88 cycles faster."""
    w = linear(20, 4)  # K = 20, L = 4: S = 5 segments, one vector
    one = run(w, spec(4, 2, 5, nnz=5), crossbars=1)
    two = run(w, spec(4, 2, 5, nnz=5), crossbars=2)
    assert one["xbar_reads"] == two["xbar_reads"] == 20
    assert one["cycles"] - two["cycles"] == 224 - 136


@pytest.mark.parametrize(("batch", "gb_kib", "from_dram"), [
    (16, 64, False), (40, 64, False), (40, 8, True)])
def test_coefficients_beyond_the_coefficient_buffer_are_streamed_again_per_group(
        batch: int, gb_kib: int, from_dram: bool) -> None:
    """A 576 -> 32 linear layer, L = 9, B = 8: S = 64 segments, 32 x 64 x 8 = 16,384 nonzero
    4-bit coefficients = 8,192 bytes, over tiny's 4 KiB coefficient buffer. Four crossbars
    hold one basis copy (8 vectors x 8 columns = 64 columns), one tile. Per vector the tile
    holds 64 projections x 8 values x 16-bit partial sums = 1,024 bytes: 16 vectors fill its
    16 KiB buffer exactly (one group, no refill); 40 vectors are ceil(40,960 / 16,384) = 3
    groups, so the coefficients stream through twice more: 16,384 bytes, read from the global
    buffer (8,192 <= half of 64 KiB) or, with an 8 KiB global buffer, from DRAM. A large
    coefficient buffer (1 GiB) refills nothing."""
    work = linear(576, 32)
    basis = spec(9, 8, 64, 32 * 64 * 8)

    def summary(coeff_kib: int) -> dict:
        arch = load_arch("arch_configs/tiny.yaml", [
            f"tile.combiner.coeff_buffer_kib={coeff_kib}", f"chip.global_buffer.kib={gb_kib}",
            "chip.crossbars=4"])
        return simulate(arch, work, RunOptions(Dataflow.BASIS, batch=batch, basis=basis)).summary

    small, large = summary(4), summary(2**20)
    refill = 0 if batch == 16 else 2 * 8192
    if from_dram:
        assert small["dram_bytes"] - large["dram_bytes"] == refill
        assert small["buffer_bytes"] == large["buffer_bytes"]
    else:
        assert small["buffer_bytes"] - large["buffer_bytes"] == refill
        assert small["dram_bytes"] == large["dram_bytes"]
    assert small["digital_macs"] == large["digital_macs"]


def test_split_vectors_by_hand() -> None:
    from xbarsim.timing.dataflows.basis import split_vectors

    # 64 segments a vector: 96 + 96 projections split vector 1 at 96 (one piece in tile 1);
    # 64 + 64 split nothing; runs of 40 cut vector 0 over tiles 0, 1 (40..80) and vector 1
    # over 1, 2, 3 (80..160): tiles 1, 2 and 3 each continue a vector; an empty tile nothing
    assert split_vectors([96, 96], 64) == [0, 1]
    assert split_vectors([64, 64], 64) == [0, 0]
    assert split_vectors([40, 40, 40, 40, 0], 64) == [0, 1, 1, 1, 0]


@pytest.mark.parametrize(("batch", "pieces"), [(2, 0), (3, 1)])
def test_partial_outputs_of_a_vector_split_over_tiles_are_gathered(batch: int,
                                                                    pieces: int) -> None:
    """The 576 -> 32 linear layer (S = 64, 8,192 coefficient bytes) on 8 tiny crossbars: two
    tiles of one basis copy each. Batch 2: 128 projections, 64 a tile, no vector split. Batch
    3: 192, 96 a tile: vector 1 is split at 96, so tile 1 sends its 32 partial outputs
    (16-bit: 64 bytes) to the global buffer, where 32 adds merge them. Global-buffer bytes:
    coefficients in and out (2 x 8,192), the network input loaded from DRAM and read out to
    the tiles (2 x 576 a vector), the outputs written (32 a vector) and the gathered partials
    written and read (2 x 64 a piece)."""
    arch = load_arch("arch_configs/tiny.yaml", ["chip.crossbars=8"])
    result = simulate(arch, linear(576, 32), RunOptions(Dataflow.BASIS, batch=batch,
                                                      basis=spec(9, 8, 64, 32 * 64 * 8)))
    fc = next(row for row in result.layers if row["layer"] == "fc")
    assert fc["global_buffer_bytes"] == (2 * 8192 + 2 * 576 * batch + 32 * batch
                                         + 2 * 64 * pieces)
    assert fc["noc_bytes"] - 32 * batch - 576 * batch - 2 * 8192 == 64 * pieces


@pytest.mark.parametrize(("arch", "workload", "crossbars", "batch"), [
    ("arch_configs/tiny.yaml", "workloads/lenet5_mnist.yaml", 32, 3),
    ("arch_configs/isaac_like.yaml", "workloads/resnet18_cifar100.yaml", 512, 2)])
def test_aggregated_units_give_the_same_outputs_as_units_one_by_one(
        monkeypatch: pytest.MonkeyPatch, tmp_path, arch: str, workload: str, crossbars: int,
        batch: int) -> None:
    """The units of a tile with the same share are simulated once with a multiplicity
    (``basis.AGGREGATE``); simulated one by one they give byte-identical CSVs (but wall_s)."""
    import xbarsim.timing.dataflows.basis as basis_flow
    from xbarsim.cli.main import main

    def outputs(aggregate: bool) -> dict[str, pd.DataFrame]:
        monkeypatch.setattr(basis_flow, "AGGREGATE", aggregate)
        out = tmp_path / str(aggregate)
        assert main(["run", "--arch", arch, "--workload", workload, "--dataflow", "basis",
                     "--crossbars", str(crossbars), "--batch", str(batch),
                     "--out", str(out)]) == 0
        return {name: pd.read_csv(out / name).drop(columns="wall_s", errors="ignore")
                for name in ("summary.csv", "layers.csv", "utilization.csv", "area.csv")}

    grouped, one_by_one = outputs(True), outputs(False)
    for name, frame in grouped.items():
        pd.testing.assert_frame_equal(frame, one_by_one[name], check_exact=True)
