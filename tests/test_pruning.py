"""Real weights: pruned blocks and columns, integer quantization, level-aware write-verify."""

from __future__ import annotations

import numpy as np
import pytest

from xbarsim.cli.main import main
from xbarsim.config import load_arch, with_crossbars
from xbarsim.io.npz_file import write_npz
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.weights_map import integer_weights, map_weights
from xbarsim.programming.pulses import PulseDistribution
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.simulate import RunOptions, simulate
from xbarsim.workload import load_workload, workload_from_dict
from xbarsim.workload.weights import random_weights

TINY = load_arch("arch_configs/tiny.yaml")
ENC = Encoding.from_arch(TINY)  # 16x16, 4 slices x 2 columns per weight, t = 4


def two_linear():
    return workload_from_dict({"name": "two", "input": [32, 1, 1], "layers": [
        {"name": "fc1", "type": "linear", "in_channels": 32, "out_channels": 2},
        {"name": "fc2", "type": "linear", "in_channels": 2, "out_channels": 2}]})


def hand_pruned():
    # fc1 [2, 32]: fan-in 0..15 zero -> row block 0 is all zero; output 1 zero -> its 8 columns
    # of row block 1 unused. fc2 dense.
    w1 = np.ones((2, 32))
    w1[:, :16] = 0
    w1[1, :] = 0
    return {"fc1": w1, "fc2": np.array([[1.0, -1.0], [0.5, 0.25]])}


def test_hand_pruned_blocks_and_columns():
    maps = map_weights(two_linear(), ENC, hand_pruned())
    assert [m.blocks for m in maps] == [2, 1]
    assert [m.mapped_blocks for m in maps] == [1, 1]
    assert maps[0].table["row_block"].tolist() == [1]
    # output 0 of fc1 holds 127 = 0b1111111 -> every slice nonzero on the positive column only
    assert maps[0].table["cols_used"].tolist() == [4]
    assert maps[0].mapped_cells == 16 * 4


def test_pruned_run_never_touches_unmapped_cells():
    w = two_linear()
    s = simulate(with_crossbars(TINY, 1), w, RunOptions(Dataflow.REPROGRAM, batch=2,
                                     weights=hand_pruned())).summary
    maps = map_weights(w, ENC, hand_pruned())
    cols = sum(int(m.table["cols_used"].sum()) for m in maps)
    rows = sum(int(m.table["rows_used"].sum()) for m in maps)
    assert s["xbar_reads"] == 2 * 4 * 2  # N * t * mapped blocks
    assert s["adc_conversions"] == 2 * 4 * cols
    assert s["dac_conversions"] == 2 * 4 * rows
    assert s["cells_written"] == sum(m.mapped_cells for m in maps)
    assert s["write_pulses"] == 3 * s["cells_written"]


def test_half_block_pruned_network_maps_half_the_blocks():
    w = load_workload("workloads/lenet5_mnist.yaml")
    weights = random_weights(w, 0)
    dense = map_weights(w, ENC, weights)
    pruned = {}
    for layer in w.mvm_layers:  # zero every other row block's fan-in range (per group)
        flat = weights[layer.name].reshape(layer.out_channels, -1).copy()
        for start in range(0, layer.fan_in, 2 * ENC.rows):
            flat[:, start:start + ENC.rows] = 0
        pruned[layer.name] = flat.reshape(weights[layer.name].shape)
    maps = map_weights(w, ENC, pruned)
    for d, p in zip(dense, maps):
        expected = d.G * (d.row_blocks // 2) * d.col_blocks
        assert p.mapped_blocks == expected
    chip = with_crossbars(TINY, 64)
    a = simulate(chip, w, RunOptions(Dataflow.REPROGRAM, weights=weights)).summary
    b = simulate(chip, w, RunOptions(Dataflow.REPROGRAM, weights=pruned)).summary
    assert b["cells_written"] == sum(m.mapped_cells for m in maps) < a["cells_written"]
    assert b["xbar_reads"] < a["xbar_reads"]


def test_integer_weights_use_the_full_range():
    w = np.array([[0.5, -1.0], [0.25, 0.0]])
    assert integer_weights(w, ENC).tolist() == [[64, -127], [32, 0]]
    assert integer_weights(np.zeros((2, 2)), ENC).tolist() == [[0, 0], [0, 0]]


def test_level_aware_sampling_is_exact_for_a_two_point_table():
    # level 0 cells need 1 pulse, every other level 10
    probs = np.zeros((4, 2))
    probs[0, 0] = 1
    probs[1:, 1] = 1
    dist = PulseDistribution(values=np.array([1, 10]), probs=probs, failed=np.zeros((4, 2)))
    rng = np.random.default_rng(0)
    counts = np.array([[5, 0, 0, 0], [5, 1, 0, 0], [0, 0, 0, 0]])
    assert dist.sample_max_by_levels(counts, rng).tolist() == [1, 10, 0]
    assert dist.sample_total_by_levels(np.array([5, 1, 2, 0]), rng) == 5 + 30


def test_cli_info_and_run_with_weights(tmp_path, capsys):
    path = tmp_path / "w.npz"
    write_npz(path, {f"weights/{k}": v.astype(np.float32) for k, v in hand_pruned().items()})
    spec = tmp_path / "two.yaml"
    spec.write_text(
        "name: two\ninput: [32, 1, 1]\nlayers:\n"
        "  - {name: fc1, type: linear, in_channels: 32, out_channels: 2}\n"
        "  - {name: fc2, type: linear, in_channels: 2, out_channels: 2}\n")
    assert main(["info", "--arch", "arch_configs/tiny.yaml", "--workload", str(spec),
                 "--weights", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pruning saves 1 of 3 blocks" in out
    assert main(["run", "--arch", "arch_configs/tiny.yaml", "--workload", str(spec),
                 "--weights", str(path), "--dataflow", "static", "--crossbars", "2"]) == 0


@pytest.mark.parametrize("measured", [False, True])
def test_weights_run_is_deterministic(measured):
    w = load_workload("workloads/mlp_digits.yaml")
    arch = load_arch("arch_configs/tiny.yaml",
                     ["chip.crossbars=16", *(["write_verify.pulse_model=measured"] if measured
                                             else [])])
    opts = RunOptions(Dataflow.REPROGRAM, seed=4, weights=random_weights(w, 1))
    a, b = simulate(arch, w, opts).summary, simulate(arch, w, opts).summary
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b
