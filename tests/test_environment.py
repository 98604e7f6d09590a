"""The run's environment skips a wait only when nothing could happen before it ends
(``timing/hw/environment.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

import pandas as pd
import pytest

from tests.test_tile_memory import lenet_basis
from xbarsim.config import load_arch, with_crossbars
from xbarsim.config.schema import Combine
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.hw import environment
from xbarsim.timing.hw.clock import until
from xbarsim.timing.hw.environment import Environment
from xbarsim.timing.simulate import Granularity, RunOptions, simulate
from xbarsim.workload import load_workload


def _log(env: Environment, name: str, waits: list[int], log: list[tuple[str, int]],
         ) -> Generator[Any, Any, None]:
    for cycle in waits:
        yield from until(env, cycle)
        log.append((name, int(env.now)))


def test_a_lone_process_skips_its_waits_by_hand() -> None:
    """One process waiting for cycles 5, then 9: nothing else is scheduled, so both waits
    are skipped; the only events are its start and its end."""
    env, log = Environment(), []
    env.process(_log(env, "a", [5, 9], log))
    scheduled = len(env._queue)
    env.run()
    assert log == [("a", 5), ("a", 9)] and env.now == 9
    assert scheduled == 1 and next(env._eid) == 2  # Initialize, then the process's end


def test_a_wait_with_an_event_before_or_at_its_end_is_not_skipped_by_hand() -> None:
    """``b`` waits for 7 and ``c`` for 9 (their timeouts scheduled first), ``a`` for 5, 8
    and 9. ``a``'s wait for 5 ends before any event: skipped. Its wait for 8 has ``b``'s
    event at 7 before it: a timeout. Its wait for 9 has ``c``'s at 9 (scheduled earlier, so
    first at 9): a timeout, and ``a`` runs after ``c`` at 9, as in SimPy."""
    env, log = Environment(), []
    env.process(_log(env, "b", [7], log))
    env.process(_log(env, "c", [9], log))
    env.process(_log(env, "a", [5, 8, 9], log))
    env.run()
    assert log == [("a", 5), ("b", 7), ("a", 8), ("c", 9), ("a", 9)]


def test_processes_woken_by_one_event_do_not_skip_by_hand() -> None:
    """Two processes wait for the same event at cycle 3 and then for 6 and 4. The first
    woken may not skip (the second must still run at 3), the second may: the order is
    SimPy's, the second's wake at 4 first."""
    env, log = Environment(), []
    gate = env.timeout(3)

    def after_gate(name: str, cycle: int) -> Generator[Any, Any, None]:
        yield gate
        log.append((name, int(env.now)))
        yield from until(env, cycle)
        log.append((name, int(env.now)))

    env.process(after_gate("x", 6))
    env.process(after_gate("y", 4))
    env.run()
    assert log == [("x", 3), ("y", 3), ("y", 4), ("x", 6)]


TINY = load_arch("arch_configs/tiny.yaml")
NO_GB = dataclasses.replace(TINY, chip=dataclasses.replace(TINY.chip, global_buffer=None))
RUNS = {
    "reprogram-8": (Dataflow.REPROGRAM, 8, None, {}),
    "reprogram-8-overlap": (Dataflow.REPROGRAM, 8, None, {"overlap": True}),
    "reprogram-16-vector": (Dataflow.REPROGRAM, 16, None, {"granularity": Granularity.VECTOR}),
    "static-2048": (Dataflow.STATIC, 2048, None, {}),
    "basis-32": (Dataflow.BASIS, 32, Combine.DIGITAL, {}),
    "basis-32-analog": (Dataflow.BASIS, 32, Combine.ANALOG, {}),
    "digital-32": (Dataflow.DIGITAL, 32, None, {}),
}


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("arch", [TINY, NO_GB], ids=["global-buffer", "tile-buffers"])
def test_skipping_waits_changes_no_output(monkeypatch: pytest.MonkeyPatch, run: str,
                                          arch: Any) -> None:
    """LeNet-5, batch 3, every dataflow on both memories: every summary value, layer row and
    utilization row is the same whether waits are skipped or each is a timeout."""
    w = load_workload("workloads/lenet5_mnist.yaml")
    dataflow, crossbars, combine, options = RUNS[run]
    basis = None if combine is None else lenet_basis(combine)

    def once(skip: bool) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
        monkeypatch.setattr(environment, "SKIP", skip)
        r = simulate(with_crossbars(arch, crossbars), w,
                     RunOptions(dataflow, batch=3, basis=basis, seed=5, **options))
        return (pd.Series({k: v for k, v in r.summary.items() if k != "wall_s"}),
                pd.DataFrame(r.layers), pd.DataFrame(r.utilization))

    skipped, timed = once(True), once(False)
    pd.testing.assert_series_equal(skipped[0], timed[0])
    pd.testing.assert_frame_equal(skipped[1], timed[1])
    pd.testing.assert_frame_equal(skipped[2], timed[2])
