"""Write circuits per tile, per IMA or per crossbar (``tile.write_circuits``)."""

from __future__ import annotations

import pytest

from xbarsim.config import load_arch
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.energy import area_breakdown_mm2
from xbarsim.timing.hw.write_verify import controllers_per_tile
from xbarsim.timing.simulate import RunOptions, simulate
from xbarsim.workload import load_workload

ISAAC = "arch_configs/isaac_like.yaml"
TINY = "arch_configs/tiny.yaml"
MLP = "workloads/mlp_digits.yaml"


@pytest.mark.parametrize(("circuits", "per_ima", "count"), [
    ("per_tile", 8, 1), ("per_ima", 8, 12), ("per_ima", 7, 14), ("per_crossbar", 8, 96)])
def test_controllers_per_tile(circuits: str, per_ima: int, count: int) -> None:
    """isaac_like's 96-crossbar tiles: one circuit; 96 / 8 = 12 IMAs (ceil(96 / 7) = 14 when
    the last IMA is partial); 96 crossbars. Area follows the count."""
    arch = load_arch(ISAAC, [f"tile.write_circuits={circuits}",
                             f"tile.crossbars_per_ima={per_ima}"])
    assert controllers_per_tile(arch) == count
    area = area_breakdown_mm2(arch)["write_controllers"]
    assert area == pytest.approx(arch.chip.tiles * count
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


def test_crossbars_per_ima_cannot_exceed_the_tile() -> None:
    with pytest.raises(Exception, match="expected crossbars_per_ima <= crossbars_per_tile"):
        load_arch(TINY, ["tile.crossbars_per_ima=8"])
