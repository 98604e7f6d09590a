"""The SimPy engine: hand-derived timelines and counts on the tiny chip, invariants."""

from __future__ import annotations

import dataclasses
import gc
import math
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.cli.main import main
from xbarsim.config import load_arch, with_crossbars
from xbarsim.config.schema import WritePolicy
from xbarsim.errors import XbarsimError
from xbarsim.mapping.blocks import map_workload
from xbarsim.mapping.encoding import Encoding
from xbarsim.timing import simulate as simulate_module
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.energy import ENERGY_COLUMNS, ActionEnergies, static_power_w
from xbarsim.timing.hw.stats import COUNTERS
from xbarsim.timing.simulate import Granularity, RunOptions, simulate
from xbarsim.workload import load_workload, workload_from_dict

TINY = load_arch("arch_configs/tiny.yaml")


def chain(*sizes: int):
    """Linear layers sizes[0] -> sizes[1] -> ... on an input of shape [sizes[0], 1, 1]."""
    layers = [
        {"name": f"fc{i + 1}", "type": "linear", "in_channels": a, "out_channels": b}
        for i, (a, b) in enumerate(zip(sizes, sizes[1:]))
    ]
    return workload_from_dict({"name": "chain", "input": [sizes[0], 1, 1], "layers": layers})


def run(workload, dataflow="static", crossbars=None, **kw):
    arch = TINY if "arch" not in kw else kw.pop("arch")
    if crossbars is not None:
        arch = with_crossbars(arch, crossbars)
    return simulate(arch, workload, RunOptions(Dataflow(dataflow), **kw))


def test_static_single_block_timeline_by_hand():
    # tiny: 1 GHz, 16x16, 8-bit weights as 4 slices x 2 (differential), 8-bit inputs, 2-bit DACs.
    # Pipelined static engine, one linear layer of one block (one vector: no copies).
    # Input: DRAM channel 16 B / 8 B/cycle = 2, + 50 latency -> 52; I/O port to tile 0's router,
    # one hop -> 53. Block: 4 reads; read 10 cycles, convert ceil(16 cols / 4 ADCs) x 1 = 4;
    # pipelined: fill min(10, 4) + 4 x max(10, 4) = 44 -> 97 (the tile's port, 16 + 2 B at
    # 8 B/cycle = 3, and shift-add bank, 64 ops at 4 x 16 per cycle = 1, work alongside).
    # Output (no consumer): one hop to the I/O port -> 98, DRAM 2 B = 1 cycle + 50 -> 149.
    s = run(chain(16, 2), crossbars=32).summary
    assert s["cycles"] == 149
    assert (s["compute_cycles"], s["program_cycles"], s["stall_cycles"]) == (44, 0, 105)
    assert s["xbar_reads"] == 4 and s["dac_conversions"] == 64 and s["adc_conversions"] == 64
    assert s["noc_bytes"] == 18 and s["dram_bytes"] == 18
    # tile reads: inputs 16 + output 2 sent out; writes: inputs 16 arriving + output 2
    assert s["buffer_bytes"] == 18 + 18
    assert s["cells_written"] == 0 and s["write_pulses"] == 0
    # one image: its latency is the run's; throughput is 1 / latency
    assert s["image_latency_s"] == pytest.approx(149e-9)
    assert s["throughput_inf_per_s"] == pytest.approx(1 / 149e-9)
    # Setup: fetch 64 B (50 + 8), NoC 8 + 1 hop, tile write 8 -> 75; 16 rows, each
    # verify 10 + 3 pulses x (20 + 10) = 100 -> 1675.
    assert s["setup_cycles"] == 1675
    # Energy in pJ: xbar 4x2, dac 64x0.1, adc 64x(1 mW x 1 ns), buffer 36x0.5,
    # noc 18 byte-hops x 0.5, dram 18x8x10, digital 64 shift-adds x 0.02
    expected = {"energy_xbar_j": 8, "energy_dac_j": 6.4, "energy_adc_j": 64,
                "energy_buffer_j": 18, "energy_noc_j": 9, "energy_dram_j": 1440,
                "energy_digital_j": 1.28, "energy_write_j": 0}
    for key, pj in expected.items():
        assert s[key] == pytest.approx(pj * 1e-12), key
    # leakage: 32 x (0.01 + 4 x 0.1) + 8 tiles x (0.5 + 0.05 + 0.1 + 0.5) + 1.0 = 23.32 mW
    assert s["energy_static_j"] == pytest.approx(23.32e-3 * 149e-9)


def test_reprogram_two_rounds_by_hand():
    # Two one-block layers on one crossbar: two rounds.
    # Round 0 program: as the setup above, but the weight fetch queues on the DRAM channel
    # behind the input images (2 cycles): 1677. fc1 compute: inputs 6, block 44 -> 1727.
    # Round 1: fetch 2x16 cells x 2 bits = 8 B: 50 + 1, NoC 1 + 1, tile 1 -> 54, program 2 rows
    # x 100 = 200 -> 1981. fc2: inputs gb 1 + NoC 1 + 1 + tile 1 = 4, block 44 -> 2029,
    # output to DRAM 51 -> 2080.
    s = run(chain(16, 2, 2), "reprogram", crossbars=1).summary
    assert s["cycles"] == 2080
    assert s["program_cycles"] == 1677 + 254
    assert s["compute_cycles"] == 50 + 99
    assert s["stall_cycles"] == 0
    assert s["setup_cycles"] == 0
    assert s["cells_written"] == 16 * 16 + 2 * 16
    assert s["write_pulses"] == 3 * s["cells_written"]
    assert s["verify_reads"] == 4 * s["cells_written"]


def test_static_that_does_not_fit_names_both_numbers():
    with pytest.raises(XbarsimError, match=r"74 crossbars .* chip has 16"):
        run(load_workload("workloads/mlp_digits.yaml"), "static", crossbars=16)


@pytest.mark.parametrize("dataflow,crossbars", [("static", 2000), ("reprogram", 2000),
                                                ("reprogram", 64), ("reprogram", 7)])
@pytest.mark.parametrize("batch", [1, 3])
def test_counts_match_design_formulas(dataflow, crossbars, batch):
    w = load_workload("workloads/lenet5_mnist.yaml")
    enc = Encoding.from_arch(TINY)
    maps = map_workload(w, enc)
    s = run(w, dataflow, crossbars=crossbars, batch=batch).summary
    assert s["xbar_reads"] == sum(m.expected_xbar_reads(enc, batch) for m in maps)
    assert s["adc_conversions"] == sum(m.expected_adc_conversions(enc, batch) for m in maps)
    assert s["dac_conversions"] == sum(m.expected_dac_conversions(enc, batch) for m in maps)
    fits = sum(m.blocks for m in maps) <= crossbars
    # reprogramming writes every cell once per batch: weights x slices x polarities
    weights = sum(la.params for la in w.mvm_layers)
    assert s["cells_written"] == (0 if fits else weights * enc.s * enc.d)
    assert s["write_pulses"] == 3 * s["cells_written"]


@pytest.mark.parametrize("dataflow,crossbars", [("static", 2000), ("reprogram", 50)])
def test_energy_is_sum_of_parts_and_layers_sum_to_total(dataflow, crossbars):
    w = load_workload("workloads/lenet5_mnist.yaml")
    r = run(w, dataflow, crossbars=crossbars, batch=2)
    s = r.summary
    parts = sum(s[k] for k in ENERGY_COLUMNS) + s["energy_static_j"]
    assert s["energy_j"] == pytest.approx(parts, rel=1e-12)
    assert s["compute_cycles"] + s["program_cycles"] + s["stall_cycles"] == s["cycles"]
    for counter in ("xbar_reads", "adc_conversions", "cells_written", "dram_bytes", "noc_bytes"):
        assert sum(row[counter] for row in r.layers) == s[counter], counter
    dynamic = sum(s[k] for k in ENERGY_COLUMNS)
    assert sum(row["energy_j"] for row in r.layers) == pytest.approx(dynamic, rel=1e-9)
    assert s["energy_static_j"] == pytest.approx(
        static_power_w(dataclasses.replace(
            TINY, chip=dataclasses.replace(TINY.chip, crossbars=crossbars))) * s["latency_s"])
    assert s["edp_per_inference_js"] == pytest.approx(
        s["energy_per_inference_j"] * s["latency_s"] / 2)


def test_layers_run_in_dependency_order():
    r = run(load_workload("workloads/lenet5_mnist.yaml"), "reprogram", crossbars=60)
    end = {row["layer"]: row["end_cycle"] for row in r.layers}
    start = {row["layer"]: row["start_cycle"] for row in r.layers}
    w = load_workload("workloads/lenet5_mnist.yaml")
    for layer in w.layers:
        for src in layer.inputs:
            if src != "input":
                assert start[layer.name] >= end[src]


def test_vector_granularity_equals_work_items_without_contention():
    # one crossbar-bound block per layer: 32 vectors, each 4 pipelined reads of 10 cycles
    w = workload_from_dict({"name": "convs", "input": [1, 4, 4], "layers": [
        {"name": "c1", "type": "conv", "in_channels": 1, "out_channels": 2, "kernel": 3,
         "padding": 1},
        {"name": "c2", "type": "conv", "in_channels": 2, "out_channels": 1, "kernel": 2}]})
    a = run(w, "static", crossbars=8, batch=2).summary
    b = run(w, "static", crossbars=8, batch=2, granularity=Granularity.VECTOR).summary
    for key in ("cycles", "xbar_reads", "adc_conversions", "dac_conversions", "compute_cycles"):
        assert a[key] == b[key], key


def test_row_granularity_equals_block_writes():
    # with a fixed pulse count nothing is random: one event per written row group or one per
    # tile's batch of blocks must give the same run
    w = load_workload("workloads/lenet5_mnist.yaml")
    arch = load_arch("arch_configs/tiny.yaml", ["write_verify.pulse_model=fixed"])
    a = run(w, "reprogram", arch=arch, crossbars=64, seed=3).summary
    b = run(w, "reprogram", arch=arch, crossbars=64, seed=3, granularity=Granularity.ROW).summary
    assert {k: v for k, v in a.items() if k != "wall_s"} == {
        k: v for k, v in b.items() if k != "wall_s"}


def test_same_seed_same_result_other_seed_differs():
    w = load_workload("workloads/lenet5_mnist.yaml")
    arch = load_arch("arch_configs/tiny.yaml", ["write_verify.pulse_model=measured"])
    r1 = run(w, "reprogram", arch=arch, crossbars=64, seed=1)
    r2 = run(w, "reprogram", arch=arch, crossbars=64, seed=1)
    r3 = run(w, "reprogram", arch=arch, crossbars=64, seed=2)
    drop = lambda d: {k: v for k, v in d.items() if k != "wall_s"}  # noqa: E731
    assert drop(r1.summary) == drop(r2.summary) and r1.layers == r2.layers
    assert r1.summary["write_pulses"] != r3.summary["write_pulses"]


def test_overlap_writes_a_tile_as_soon_as_its_own_blocks_have_computed():
    # Two tiles of one crossbar each; three one-block layers: round 0 = fc1 (tile 0) and fc2
    # (tile 1), round 1 = fc3 (tile 0). With --overlap, tile 0 writes fc3 as soon as fc1 has
    # computed, while fc2 still computes on tile 1; without it, only after fc2 has computed.
    w = chain(16, 2, 2, 2)
    arch = load_arch("arch_configs/tiny.yaml", ["chip.crossbars_per_tile=1"])
    serial = run(w, "reprogram", crossbars=2, arch=arch)
    over = run(w, "reprogram", crossbars=2, arch=arch, overlap=True)
    rows = {r["layer"]: r for r in over.layers}
    plain = {r["layer"]: r for r in serial.layers}
    # fc3 computes right after its write in both runs, so its write began at start - program
    def fc3_write(rows):
        return rows["fc3"]["start_cycle"] - rows["fc3"]["program_cycles"]

    assert fc3_write(rows) == rows["fc1"]["end_cycle"]
    assert fc3_write(plain) == plain["fc2"]["end_cycle"]
    # so the run is shorter by fc2's compute time, which the write now hides
    fc2 = plain["fc2"]["end_cycle"] - plain["fc2"]["start_cycle"]
    assert serial.summary["cycles"] - over.summary["cycles"] == fc2
    assert over.summary["cells_written"] == serial.summary["cells_written"] == 16 * 16 + 2 * 2 * 16


def test_overlap_keeps_counts_and_overlaps_activity():
    w = load_workload("workloads/lenet5_mnist.yaml")
    plain = run(w, "reprogram", crossbars=64).summary
    over = run(w, "reprogram", crossbars=64, overlap=True).summary
    for key in ("cells_written", "write_pulses", "xbar_reads", "adc_conversions"):
        assert over[key] == plain[key], key


def test_single_pass_writes_one_pulse_per_cell_without_verify():
    arch = load_arch("arch_configs/tiny.yaml", ["write_verify.policy=single_pass"])
    assert arch.write_verify.policy is WritePolicy.SINGLE_PASS
    s = run(chain(16, 2, 2), "reprogram", arch=arch, crossbars=1).summary
    assert s["write_pulses"] == s["cells_written"] == 16 * 16 + 2 * 16
    assert s["verify_reads"] == 0
    # 16 + 2 rows, one 20-cycle pulse each, instead of 100 cycles per row
    pv = run(chain(16, 2, 2), "reprogram", crossbars=1).summary
    assert pv["program_cycles"] - s["program_cycles"] == (16 + 2) * (100 - 20)


@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, 40), o=st.integers(1, 12), batch=st.integers(1, 3),
       crossbars=st.integers(1, 12))
def test_reprogram_counters_property(k, o, batch, crossbars):
    w = chain(k, o)
    enc = Encoding.from_arch(TINY)
    (m,) = map_workload(w, enc)
    s = run(w, "reprogram", crossbars=crossbars, batch=batch).summary
    assert s["xbar_reads"] == m.expected_xbar_reads(enc, batch)
    assert s["adc_conversions"] == m.expected_adc_conversions(enc, batch)
    assert s["cells_written"] == (0 if m.blocks <= crossbars else k * o * enc.s * enc.d)
    rounds = math.ceil(m.blocks / crossbars)
    assert s["cycles"] > 0 and (rounds == 1 or s["program_cycles"] > 0)


def test_action_energies_adc_from_power_or_given():
    e = ActionEnergies.from_arch(TINY)
    assert e.adc_conversion == pytest.approx(1.0)  # 1 mW x 1 ns
    given_arch = load_arch("arch_configs/tiny.yaml", ["crossbar.adc.energy_pj=2.5"])
    assert ActionEnergies.from_arch(given_arch).adc_conversion == 2.5


def test_every_counter_is_reported_per_layer():
    r = run(load_workload("workloads/mlp_digits.yaml"), "reprogram", crossbars=10)
    for row in r.layers:
        assert set(COUNTERS) <= set(row)


# -- issue checklist: zoo formulas, static equivalence, monotonicity, bad input ----------------

ISAAC = load_arch("arch_configs/isaac_like.yaml")
ZOO_FILES = sorted(p.stem for p in __import__("pathlib").Path("workloads").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO_FILES)
def test_counters_equal_design_formulas_on_every_zoo_workload(name):
    w = load_workload(f"workloads/{name}.yaml")
    enc = Encoding.from_arch(ISAAC)
    maps = map_workload(w, enc)
    # a chip a quarter of the network's size forces several reprogramming rounds
    crossbars = max(1, sum(m.blocks for m in maps) // 4)
    s = simulate(with_crossbars(ISAAC, crossbars), w, RunOptions(Dataflow.REPROGRAM)).summary
    assert s["xbar_reads"] == sum(m.expected_xbar_reads(enc) for m in maps)
    assert s["adc_conversions"] == sum(m.expected_adc_conversions(enc) for m in maps)
    assert s["dac_conversions"] == sum(m.expected_dac_conversions(enc) for m in maps)
    assert s["cells_written"] == sum(m.cells for m in maps)


@pytest.mark.slow
def test_reprogramming_dominates_resnet18_on_64_crossbars():
    w = load_workload("workloads/resnet18_cifar100.yaml")
    s = simulate(with_crossbars(ISAAC, 64), w, RunOptions(Dataflow.REPROGRAM)).summary
    assert s["program_cycles"] > 10 * s["compute_cycles"]
    assert s["energy_write_j"] + s["energy_dram_j"] > s["energy_xbar_j"] + s["energy_adc_j"]


def test_reprogram_with_enough_crossbars_equals_static():
    # a chip that holds the network: reprogram has nothing to rewrite, so it is static
    w = load_workload("workloads/lenet5_mnist.yaml")
    a = run(w, "static", crossbars=2000, batch=2).summary
    b = run(w, "reprogram", crossbars=2000, batch=2).summary
    drop = {"dataflow", "wall_s"}
    assert {k: v for k, v in a.items() if k not in drop} == {
        k: v for k, v in b.items() if k not in drop}
    assert b["cells_written"] == 0 and b["setup_cycles"] > 0


def test_fewer_crossbars_never_make_reprogram_faster():
    w = load_workload("workloads/lenet5_mnist.yaml")
    cycles = [run(w, "reprogram", crossbars=n).summary["cycles"]
              for n in (8, 16, 32, 64, 128, 256, 512, 1024, 2048)]
    assert cycles == sorted(cycles, reverse=True)


@pytest.mark.parametrize("crossbars", [0, -3])
def test_zero_crossbars_is_a_clear_error(crossbars, capsys):
    with pytest.raises(XbarsimError, match=r"chip\.crossbars: got .* \(expected > 0\)"):
        run(chain(16, 2), "reprogram", crossbars=crossbars)
    # the CLI names the flag the user typed; --set names the key
    args = ["run", "--arch", "arch_configs/tiny.yaml", "--workload", "workloads/mlp_digits.yaml",
            "--dataflow", "reprogram"]
    assert main([*args, "--crossbars", str(crossbars)]) == 2
    assert capsys.readouterr().err == f"error: --crossbars: got {crossbars} (expected > 0)\n"
    assert main([*args, "--set", f"chip.crossbars={crossbars}"]) == 2
    assert "error: --set: chip.crossbars: got" in capsys.readouterr().err


def test_missing_measured_level_table_is_a_clear_error():
    arch = load_arch("arch_configs/tiny.yaml", ["write_verify.pulse_model=measured",
                                                "crossbar.cell_bits=3"])
    with pytest.raises(XbarsimError, match=r"no measured pulse data .* 3 bits"):
        run(chain(16, 2), "reprogram", arch=arch, crossbars=1)


def test_utilization_by_hand():
    # the single-block timeline above: one crossbar busy 44 cycles of 149, on a 32-crossbar chip;
    # the DRAM channel moves 16 + 2 bytes at 8 B/cycle: 2 + 1 cycles
    r = run(chain(16, 2), crossbars=32)
    by_kind = {u["resource"]: u for u in r.utilization}
    assert by_kind["crossbar"]["busy_cycles"] == 44
    assert by_kind["crossbar"]["utilization"] == pytest.approx(44 / (32 * 149))
    assert by_kind["dram"]["busy_cycles"] == 3
    assert by_kind["write_controller"]["busy_cycles"] == 0
    assert [u["utilization"] for u in r.utilization] == sorted(
        (u["utilization"] for u in r.utilization), reverse=True)


def test_efficiency_columns_by_hand():
    # the single-block run above: 16 x 2 = 32 MACs (64 operations) in 149 ns, one image
    r = run(chain(16, 2), crossbars=32)
    s = r.summary
    assert s["tops"] == pytest.approx(64 / 149e-9 / 1e12)
    assert s["tops_per_w"] == pytest.approx(64 / s["energy_per_inference_j"] / 1e12)
    assert s["pj_per_mac"] == pytest.approx(s["energy_per_inference_j"] / 32 * 1e12)
    assert s["tops_per_mm2"] == pytest.approx(s["tops"] / s["area_mm2"])
    # tiny's area: 32 crossbars x (0.0001 array + 0.0001 DACs + 4 x 0.001 ADCs) + 8 tiles x
    # (0.02 buffer + 0.001 shift-add + 0.005 combiner + 0.01 router) + 0.1 global buffer
    area = {row["component"]: row["area_mm2"] for row in r.area}
    assert area["adcs"] == pytest.approx(32 * 4 * 0.001)
    assert area["tile_buffers"] == pytest.approx(8 * 0.02)
    assert sum(area.values()) == pytest.approx(s["area_mm2"])
    assert s["area_mm2"] == pytest.approx(32 * (0.0001 + 0.0001 + 0.004)
                                          + 8 * (0.02 + 0.001 + 0.005 + 0.01) + 0.1)
    assert sum(row["share"] for row in r.area) == pytest.approx(1.0)


def test_lifetime_by_hand_for_two_rounds():
    # The two-round case above: the one crossbar is written twice per inference (fc1, then
    # fc2), and the batch of one takes 2080 cycles = 2.08 us at 1 GHz. With an endurance of
    # 1,000 writes the crossbar wears out after 1000 / 2 = 500 inferences: 500 x 2.08 us.
    arch = dataclasses.replace(TINY, write_verify=dataclasses.replace(
        TINY.write_verify, endurance_cycles=1000.0))
    s = run(chain(16, 2, 2), "reprogram", crossbars=1, arch=arch).summary
    assert s["lifetime_h"] == pytest.approx(500 * 2080e-9 / 3600)
    # nothing is written per inference when the weights stay: no lifetime to report
    assert run(chain(16, 2, 2), "static", crossbars=2, arch=arch).summary["lifetime_h"] is None
    assert run(chain(16, 2, 2), "reprogram", crossbars=1).summary["lifetime_h"] is None


def test_capped_verify_fails_every_cell_that_needs_more_pulses():
    # tiny's fixed model gives every cell 3 pulses. Capped at 2, each cell gets 2 pulses and
    # fails; each row step takes verify 10 + 2 x (20 + 10) = 70 cycles instead of 100, and each
    # cell is read 1 + 2 times. Capped at 3 nothing fails and nothing changes.
    def capped(cap):
        wv = dataclasses.replace(TINY.write_verify, max_iterations=cap)
        return run(chain(16, 2, 2), "reprogram", crossbars=1,
                   arch=dataclasses.replace(TINY, write_verify=wv)).summary
    s, same = capped(2), capped(3)
    cells = 16 * 16 + 2 * 16
    assert (s["failed_cells"], s["write_pulses"], s["verify_reads"]) == (cells, 2 * cells,
                                                                         3 * cells)
    assert s["program_cycles"] == 1677 + 254 - 18 * 30  # 16 + 2 rows, 30 cycles shorter each
    assert same["failed_cells"] == 0
    plain = run(chain(16, 2, 2), "reprogram", crossbars=1).summary
    assert {k: v for k, v in same.items() if k != "wall_s"} == \
        {k: v for k, v in plain.items() if k != "wall_s"}


def test_digital_baseline_timeline_by_hand():
    # One linear layer 16 -> 2 on the digital MAC lanes of a one-tile tiny chip (4 crossbars,
    # none used). Input image: DRAM 50 + 16 B / 8 = 52, global buffer 1 -> 53. Weights: 32 B
    # from DRAM, 50 + 4 -> 107, into the global buffer 2 -> 109. They outweigh the 16 B of
    # input, so the layer is split by output channel (2 outputs, 1 tile: one share).
    # To the tile: 48 B, global buffer 3 -> 112, NoC 6 + 1 hop -> 119, tile buffer 6 -> 125.
    # Then the tile port reads the 48 B (6 -> 131) while the lanes do 32 MACs / 8 (4 cycles);
    # the 2 B of output wait for the port: write 1, read 1 -> 133, NoC 1 + 1 -> 135, global
    # buffer 1 -> 136; the network output goes to DRAM, 50 + 1 -> 187.
    s = run(chain(16, 2), "digital", crossbars=4).summary
    assert s["cycles"] == 187
    assert (s["compute_cycles"], s["stall_cycles"], s["program_cycles"]) == (134, 53, 0)
    assert (s["digital_macs"], s["xbar_reads"], s["cells_written"]) == (16 * 2, 0, 0)
    assert (s["dram_bytes"], s["noc_bytes"]) == (16 + 32 + 2, 48 + 2)
    # global buffer 16 + 32 + 48 + 2, tile buffer 48 + 48 + 2 + 2
    assert s["buffer_bytes"] == 98 + 100
    assert s["setup_cycles"] == 0 and s["lifetime_h"] is None


@pytest.mark.parametrize("batch", [1, 3])
def test_digital_baseline_does_every_mac_of_the_workload(batch):
    w = load_workload("workloads/lenet5_mnist.yaml")
    s = run(w, "digital", batch=batch).summary
    assert s["digital_macs"] == batch * w.total_macs
    assert s["xbar_reads"] == s["adc_conversions"] == s["write_pulses"] == 0


def test_digital_macs_are_priced_at_the_run_operand_widths():
    # isaac_like's 0.3 pJ MAC is for 8-bit operands; the digital baseline multiplies 16-bit
    # weights by 16-bit inputs: 0.2 x (16 x 16) / (8 x 8) + 0.1 = 0.9 pJ per MAC
    s = run(chain(16, 2), "digital", arch=with_crossbars(ISAAC, 96)).summary
    assert s["digital_macs"] == 32
    assert s["energy_digital_j"] == pytest.approx(32 * 0.9e-12)


@pytest.mark.parametrize("collector_on", [True, False])
def test_a_run_frees_its_chips_and_leaves_the_collector_as_it_was(monkeypatch, collector_on):
    # simulate pauses the cycle collector during the run (speed); when it returns, the
    # chips it built (setup and run, each a cycle with its engine and SimPy environment)
    # must already be gone, without a collection by the caller, and the collector must be
    # as the caller left it, also when the run fails
    chips: list[weakref.ref] = []
    build = simulate_module.Chip

    def recorded(*args, **kwargs):
        chip = build(*args, **kwargs)
        chips.append(weakref.ref(chip))
        return chip

    monkeypatch.setattr(simulate_module, "Chip", recorded)
    was = gc.isenabled()
    try:
        gc.enable() if collector_on else gc.disable()
        run(chain(16, 8, 2), crossbars=32)
        assert len(chips) == 2 and all(chip() is None for chip in chips)
        assert gc.isenabled() is collector_on
        with pytest.raises(XbarsimError):
            run(chain(16, 2), crossbars=32, batch=0)
        assert gc.isenabled() is collector_on
    finally:
        gc.enable() if was else gc.disable()
