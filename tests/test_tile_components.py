"""Tile components: write circuits, the IMA input register, the combiner's area."""

from __future__ import annotations

import pytest

from xbarsim.config import load_arch
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.energy import area_breakdown_mm2
from xbarsim.timing.hw.write_verify import chip_write_circuits, write_circuits
from xbarsim.timing.simulate import RunOptions, simulate
from xbarsim.workload import load_workload

ISAAC = "arch_configs/isaac_like.yaml"
TINY = "arch_configs/tiny.yaml"
MLP = "workloads/mlp_digits.yaml"


@pytest.mark.parametrize(("circuits", "per_ima", "count", "partial"), [
    ("per_tile", 8, 1, 1), ("per_ima", 8, 12, 8), ("per_ima", 7, 14, 10),
    ("per_crossbar", 8, 96, 64)])
def test_write_circuits_of_full_and_partial_tiles(circuits: str, per_ima: int, count: int,
                                                  partial: int) -> None:
    """isaac_like's 96-crossbar tiles: one circuit; 96 / 8 = 12 IMAs (ceil(96 / 7) = 14 when
    the last IMA is partial); 96 crossbars. A chip of 160 crossbars has a full tile and one of
    64: 1, 64 / 8 = 8 IMAs (ceil(64 / 7) = 10), 64 crossbars. Area follows the count."""
    arch = load_arch(ISAAC, [f"tile.write_circuits={circuits}",
                             f"tile.crossbars_per_ima={per_ima}", "chip.crossbars=160"])
    assert write_circuits(arch, 96) == count and write_circuits(arch, 64) == partial
    assert chip_write_circuits(arch) == count + partial
    area = area_breakdown_mm2(arch)["write_controllers"]
    assert area == pytest.approx((count + partial)
                                 * arch.tile.periphery.write_controller_area_mm2)


def test_a_tile_writes_as_many_blocks_at_once_as_it_has_circuits() -> None:
    """tiny: 16 crossbars of 16x16, 4 a tile; fixed 3 pulses a cell, rows written one at a
    time, a whole row pulsed at once: a write step is a verify plus 3 x (pulse + verify) =
    10 + 3 x 30 = 100 cycles, a block 16 steps = w = 1,600 cycles. mlp_digits has 74 full
    blocks: rounds of 16, 16, 16, 16 and 10; every round puts 4 blocks in its busiest tile
    (the last: 4, 4, 2 over its tiles). One circuit a tile writes a round in 4w, one a crossbar
    in w: 5 x 3w = 15w = 24,000 cycles fewer, the rest (fetches) unchanged; the write counts
    do not depend on where the circuits sit."""
    workload = load_workload(MLP)
    runs = {}
    for circuits in ("per_tile", "per_crossbar"):
        arch = load_arch(TINY, ["chip.crossbars=16", "write_verify.pulse_model=fixed",
                                f"tile.write_circuits={circuits}"])
        runs[circuits] = simulate(arch, workload, RunOptions(Dataflow.REPROGRAM)).summary
    one, every = runs["per_tile"], runs["per_crossbar"]
    for counter in ("cells_written", "write_pulses", "verify_reads"):
        assert one[counter] == every[counter]
    assert one["program_cycles"] - every["program_cycles"] == 15 * 1600


def test_a_tile_smaller_than_an_ima_is_one_ima() -> None:
    arch = load_arch(TINY, ["tile.crossbars_per_ima=8", "tile.write_circuits=per_ima"])
    assert write_circuits(arch, 4) == 1  # 4 crossbars a tile: one IMA, one circuit


def test_an_ima_reads_an_input_segment_once_for_its_crossbars() -> None:
    """A 16 -> 8 linear layer on tiny's 16x16 crossbars (8 columns a weight: 2 outputs a
    crossbar): one row block, 4 column blocks, one per crossbar of tile 0. Each vector's 16
    input bytes are read from the tile buffer once per IMA: once with one IMA of 4 crossbars,
    twice with IMAs of 2, four times with IMAs of 1, so the buffer reads 16 and 48 bytes more
    per vector; batch 3. The same holds when the layer is computed in rounds (reprogram on 2
    crossbars: 2 rounds of 2 blocks, one IMA of 2 or two of 1: 16 bytes more per vector in
    each round)."""
    from xbarsim.workload import workload_from_dict

    net = workload_from_dict({"name": "one", "input": [16, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "in_channels": 16, "out_channels": 8}]})

    def buffer_bytes(flow: Dataflow, crossbars: int, per_ima: int) -> int:
        arch = load_arch(TINY, [f"chip.crossbars={crossbars}",
                                f"tile.crossbars_per_ima={per_ima}"])
        return simulate(arch, net, RunOptions(flow, batch=3)).summary["buffer_bytes"]

    static = {k: buffer_bytes(Dataflow.STATIC, 4, k) for k in (4, 2, 1)}
    assert static[2] - static[4] == 3 * 16 and static[1] - static[4] == 3 * 48
    rounds = {k: buffer_bytes(Dataflow.REPROGRAM, 2, k) for k in (2, 1)}
    assert rounds[1] - rounds[2] == 2 * 3 * 16


def test_combiner_area_from_its_lanes_and_buffer() -> None:
    """isaac_like: 64 lanes, each an 8 x 8-bit multiplier (4,064 um2 for 32 x 32 bits, x 64 /
    1,024 = 254 um2) and a 32-bit accumulator (178 um2): 64 x 432 um2 = 0.027648 mm2, plus
    8 KiB x 0.00105 mm2 = 0.0084 mm2. A given area wins; an unset one needs the parts."""
    from xbarsim.errors import XbarsimError
    from xbarsim.timing.estimators import combiner_area_mm2

    arch = load_arch(ISAAC)
    assert combiner_area_mm2(arch) == pytest.approx(0.027648 + 0.0084)
    assert area_breakdown_mm2(arch)["combiners"] == pytest.approx(168 * 0.036048)
    assert combiner_area_mm2(load_arch(ISAAC, ["tile.combiner.area_mm2=0.01"])) == 0.01
    with pytest.raises(XbarsimError, match="adder_area_um2 is too"):
        load_arch(ISAAC, ["tile.combiner.adder_area_um2=null"])
