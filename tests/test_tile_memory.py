"""Activations in the tile buffers (a chip without a global buffer, as ISAAC and PUMA):
``timing/dataflows/activations.py``, docs/design.md section 6.1."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.basis.files import load_basis
from xbarsim.basis.timing_spec import BasisSpec, basis_spec
from xbarsim.config import load_arch, with_crossbars
from xbarsim.config.schema import Combine
from xbarsim.mapping.encoding import Encoding
from xbarsim.timing.dataflows.digital import DigitalDataflow
from xbarsim.timing.dataflows.global_buffer_memory import GlobalBufferMemory
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.dataflows.spans import CHANNELS, VECTORS, Holdings, Span
from xbarsim.timing.dataflows.tile_memory import VIEWS, TileMemory
from xbarsim.timing.hw.block_bookings import BlockBookings, book_blocks
from xbarsim.timing.hw.chip import Chip
from xbarsim.timing.hw.clock import until
from xbarsim.timing.hw.mesh import IO
from xbarsim.timing.simulate import Granularity, RunOptions, simulate
from xbarsim.util import proportional_split
from xbarsim.workload import load_workload, workload_from_dict

TINY = load_arch("arch_configs/tiny.yaml")
NO_GB = dataclasses.replace(TINY, chip=dataclasses.replace(TINY.chip, global_buffer=None))
OP_COUNTERS = ("xbar_reads", "dac_conversions", "adc_conversions", "shift_add_ops",
               "digital_macs", "cells_written", "write_pulses", "verify_reads")


def test_spans_are_matched_by_fraction_by_hand() -> None:
    """Tile 3 holds positions [0, 4) of 10, tile 5 [4, 10). Positions [2, 6) of 10, or
    equally [1, 3) of 5, overlap each by 2: 40 bytes split 20/20. On another axis every holder
    gives in proportion to what it holds: 4/10 and 6/10 of 40 bytes."""
    held = Holdings(VECTORS, 10)
    held.add(3, 0, 4)
    held.add(5, 4, 10)
    assert held.sources(Span(2, 6, 10, VECTORS), 40) == [(3, 20), (5, 20)]
    assert held.sources(Span(1, 3, 5, VECTORS), 40) == [(3, 20), (5, 20)]
    assert held.sources(Span(4, 10, 10, VECTORS), 40) == [(5, 40)]
    assert held.sources(Span(0, 1, 1, CHANNELS), 40) == [(3, 16), (5, 24)]
    held.add(5, 4, 10)  # the same span again (another work item): recorded once
    assert held.sources(Span(0, 1, 1, CHANNELS), 40) == [(3, 16), (5, 24)]
    held.add(5, 10, 12)  # continues tile 5's span: merged
    assert (held.starts, held.stops, held.tiles) == ([0, 4], [4, 12], [3, 5])
    # the all-to-all pieces (remembered by size) follow the spans: 4/12 and 8/12 of 36 and
    # of 40 bytes; then the spills: tile 5 sent 1 of every 4 bytes it made to DRAM
    whole = Span(0, 1, 1, CHANNELS)
    assert held.pieces(whole, 40) == [(3, 13, 0), (5, 27, 0)]
    assert held.pieces(whole, 36) == [(3, 12, 0), (5, 24, 0)]
    held.spill(5, 10, 40)
    assert held.pieces(whole, 36) == [(3, 12, 0), (5, 24, 6)]


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(1, 60), min_size=1, max_size=8, unique=True),
       owners=st.lists(st.integers(0, 3), min_size=9, max_size=9),
       order=st.permutations(range(9)),
       length=st.integers(1, 40), bounds=st.tuples(st.integers(0, 40), st.integers(0, 40)),
       size=st.integers(0, 1000), spills=st.lists(st.integers(0, 9), min_size=4, max_size=4))
def test_sources_are_the_overlaps_of_every_held_span(cuts, owners, order, length, bounds,
                                                     size, spills) -> None:
    """``sources`` finds the overlapping spans by bisection; it must give what weighing every
    held span by its overlap gives (fractions ``a/A``, ``b/B`` compared as ``a*B``, ``b*A``):
    spans from sorted cut points, owned by up to 4 tiles (a tile may hold several, side by
    side when they were made out of order), and ``pieces`` each holder's bytes in DRAM in the
    share it spilled (``spills[tile]`` of 9 bytes made)."""
    edges = [0, *sorted(cuts)]
    held = Holdings(VECTORS, edges[-1])
    spans = list(zip(owners, edges, edges[1:]))
    for i in order:
        if i < len(spans):
            held.add(*spans[i])
    held.sort()
    start, stop = min(bounds) % (length + 1), max(bounds) % (length + 1)
    start, stop = min(start, stop), max(start, stop)
    lo, hi = start * held.length, stop * held.length
    weights = [max(0, min(b * length, hi) - max(a * length, lo))
               for a, b in zip(held.starts, held.stops)]
    expected: dict[int, int] = {}
    for tile, share in zip(held.tiles, proportional_split(size, weights)):
        if share:
            expected[tile] = expected.get(tile, 0) + share
    span = Span(start, stop, length, VECTORS)
    assert dict(held.sources(span, size)) == expected
    for tile, dram in enumerate(spills):
        held.spill(tile, dram, 9)
    assert held.pieces(span, size) == [(tile, b, b * spills[tile] // 9)
                                       for tile, b in held.sources(span, size)]


def test_holdings_of_the_same_spans_share_a_layout() -> None:
    """Two activations held alike (positions [0, 4) on tile 3, [4, 10) on tile 5) share a
    layout number whatever they spilled; one held elsewhere, or on the same tiles along
    another axis, has its own; a span added (or a sort) gives the holdings their new one."""
    known: dict[tuple[object, ...], int] = {}
    a = Holdings(VECTORS, 10, [0, 4], [4, 10], [3, 5])
    b = Holdings(VECTORS, 10, [0, 4], [4, 10], [3, 5], {5: (1, 2)})
    c = Holdings(VECTORS, 10, [0, 4], [4, 10], [5, 3])
    d = Holdings(CHANNELS, 10, [0, 4], [4, 10], [3, 5])
    assert a.layout(known) == b.layout(known) == 0
    assert (c.layout(known), d.layout(known)) == (1, 2)
    b.add(5, 10, 12)
    assert b.layout(known) == 3
    c.add(5, 0, 4)
    c.sort()
    assert c.layout(known) == 4


@settings(max_examples=200, deadline=None)
@given(layouts=st.lists(st.lists(st.integers(1, 30), min_size=1, max_size=5, unique=True),
                        min_size=1, max_size=3),
       inputs=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 9), st.integers(0, 9)),
                       min_size=1, max_size=8),
       length=st.integers(1, 30), bounds=st.tuples(st.integers(0, 30), st.integers(0, 30)),
       size=st.integers(0, 500))
def test_a_view_gives_each_input_its_own_pieces(layouts, inputs, length, bounds,
                                                size) -> None:
    """A view's inputs laid out alike and given the same bytes share one ``sources`` call
    (``Holdings.layout``); ``_holders`` must still add up what each input's own ``pieces``
    gives, its own spills included, holder by holder in the order they first appear: inputs
    (layout, channels, bytes in DRAM of 9 made per tile) drawn from up to 3 layouts, each
    from sorted cut points on up to 4 tiles."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    memory = DigitalDataflow(chip, concat_net(), Encoding.from_arch(NO_GB), 1, False).memory
    assert isinstance(memory, TileMemory)
    memory.views["cat"] = []
    for i, (k, channels, spilled) in enumerate(inputs):
        edges = [0, *sorted(layouts[k % len(layouts)])]
        held = Holdings(VECTORS, edges[-1], edges[:-1], edges[1:],
                        [(j + k) % 4 for j in range(len(edges) - 1)])
        for tile in set(held.tiles):
            held.spill(tile, spilled, 9)
        memory.held[f"in{i}"] = held
        memory.views["cat"].append((f"in{i}", channels))
    start, stop = sorted(b % (length + 1) for b in bounds)
    span = Span(start, stop, length, VECTORS)
    parts = proportional_split(size, [c for _, c in memory.views["cat"]])
    expected: dict[int, list[int]] = {}
    for (name, _), part in zip(memory.views["cat"], parts):
        for tile, b, sp in memory.held[name].pieces(span, part):
            expected.setdefault(tile, [0, 0])
            expected[tile][0] += b
            expected[tile][1] += sp
    got: dict[int, list[int]] = {}
    memory._holders("cat", span, size, got)
    assert list(got.items()) == list(expected.items())


def two_linears(width: int):
    return workload_from_dict({"name": "two", "input": [4, 1, 1], "layers": [
        {"name": "fc1", "type": "linear", "in_channels": 4, "out_channels": width},
        {"name": "fc2", "type": "linear", "inputs": ["fc1"], "in_channels": width,
         "out_channels": 2}]})


def test_an_output_one_byte_over_the_tile_share_spills_exactly_one_byte() -> None:
    """tiny's tile buffer is 16 KiB; activations may take half: 8,192 bytes. An 8,193-byte
    output (8,193 outputs of 8 bits, batch 1) kept by tile 0 spills 1 byte to DRAM; its tile
    then holds 8,192 live bytes until its consumer is done. A network output goes to DRAM
    whole. (tiny: 8 bytes a cycle on the ports, links and DRAM.)"""
    chip = Chip(with_crossbars(NO_GB, 4), seed=0, per_row_events=False)
    workload = two_linears(8193)
    engine = DigitalDataflow(chip, workload, Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    assert memory.capacity == 8192
    for name in ("fc1", "fc2"):
        memory.held[name] = Holdings(VECTORS, 1, [0], [1], [0])

    def store(name: str):
        yield from memory.store(workload.layer(name))

    chip.env.process(store("fc1"))
    chip.env.run()
    assert chip.counters.layer("fc1")["dram_bytes"] == 1
    # the spill booked at once, each step from the end of the one before: tile 0's read
    # [0, 1), the I/O port's hop (tile 0 sits at its router) to 2, the DRAM channel [2, 3)
    assert chip.env.now == 3
    assert memory.held["fc1"].spilled == {0: (1, 8193)}
    assert memory.live == [8192]
    chip.env.process(store("fc2"))
    chip.env.run()
    assert chip.counters.layer("fc2")["dram_bytes"] == 2  # 2 outputs of 8 bits, no consumer


def basis_linear_run(arch, batch: int = 1):
    workload = workload_from_dict({"name": "lin", "input": [4, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "in_channels": 4, "out_channels": 2}]})
    basis = BasisSpec(4, 2, 4, {"fc": 1}, {"fc": 8}, basis_bits=8)
    result = simulate(with_crossbars(arch, 4), workload,
                      RunOptions(Dataflow.BASIS, batch=batch, basis=basis))
    (layer,) = result.layers
    return {**result.summary, **layer}


def test_a_linear_layer_moves_by_hand_without_a_global_buffer() -> None:
    """One tile (tile 0, beside the I/O port): the 8 coefficients of 4 bits (4 bytes) come
    from DRAM once and are multicast to it; the 4 input bytes come from DRAM; the 2 output
    bytes go to DRAM. Each crosses the I/O port's one hop: 10 bytes in DRAM, 10 on the mesh,
    10 byte-hops; nothing in a global buffer. The crossbar work is that of the chip with one."""
    s = basis_linear_run(NO_GB)
    assert (s["dram_bytes"], s["noc_bytes"], s["noc_byte_hops"]) == (10, 10, 10)
    assert s["global_buffer_bytes"] == 0
    with_gb = basis_linear_run(TINY)
    assert all(s[k] == with_gb[k] for k in OP_COUNTERS)


def lenet_basis(combine: Combine = Combine.DIGITAL) -> BasisSpec:
    workload = load_workload("workloads/lenet5_mnist.yaml")
    return basis_spec(load_basis("workloads/lenet5_mnist.basis.npz", workload), workload,
                      combine)


RUNS = {
    "reprogram-7": (Dataflow.REPROGRAM, 7, None, {}),
    "reprogram-64": (Dataflow.REPROGRAM, 64, None, {}),
    "reprogram-7-overlap": (Dataflow.REPROGRAM, 7, None, {"overlap": True}),
    "reprogram-16-vector": (Dataflow.REPROGRAM, 16, None, {"granularity": Granularity.VECTOR}),
    "basis-16": (Dataflow.BASIS, 16, Combine.DIGITAL, {}),
    "basis-32": (Dataflow.BASIS, 32, Combine.DIGITAL, {}),
    "basis-32-analog": (Dataflow.BASIS, 32, Combine.ANALOG, {}),
    "digital-32": (Dataflow.DIGITAL, 32, None, {}),
}
"""Runs on both memories: dataflow, crossbars, basis combination, other run options."""


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("batch", [1, 3])
def test_the_memory_moves_bytes_not_work(run: str, batch: int) -> None:
    """With or without a global buffer the chip does the same operations (reads,
    conversions, adds, MACs, writes); only where bytes go changes. Energy is the sum of its
    parts either way."""
    w = load_workload("workloads/lenet5_mnist.yaml")
    dataflow, crossbars, combine, options = RUNS[run]
    basis = None if combine is None else lenet_basis(combine)
    runs = [simulate(with_crossbars(a, crossbars), w,
                     RunOptions(dataflow, batch=batch, basis=basis, **options))
            for a in (TINY, NO_GB)]
    with_gb, without = ({k: sum(la[k] for la in r.layers) for k in
                         (*OP_COUNTERS, "global_buffer_bytes")} for r in runs)
    assert all(with_gb[k] == without[k] for k in OP_COUNTERS)
    assert with_gb["global_buffer_bytes"] > 0 and without["global_buffer_bytes"] == 0
    without = runs[1].summary
    parts = [k for k in without if k.startswith("energy_") and k.endswith("_j")
             and k not in ("energy_j", "energy_per_inference_j", "setup_energy_j")]
    assert without["energy_j"] == pytest.approx(sum(without[k] for k in parts), rel=1e-12)


def test_same_seed_same_run_without_a_global_buffer() -> None:
    w = load_workload("workloads/lenet5_mnist.yaml")

    def once() -> dict[str, object]:
        s = simulate(with_crossbars(NO_GB, 16), w,
                     RunOptions(Dataflow.REPROGRAM, batch=2, seed=3)).summary
        return {k: v for k, v in s.items() if k != "wall_s"}

    assert once() == once()


def test_the_config_decides_the_memory() -> None:
    def memory(arch):
        chip = Chip(arch, seed=0, per_row_events=False)
        engine = DigitalDataflow(chip, two_linears(4), Encoding.from_arch(arch), 1, False)
        return engine.memory

    assert isinstance(memory(TINY), GlobalBufferMemory)
    assert isinstance(memory(NO_GB), TileMemory)
    assert Chip(NO_GB, seed=0, per_row_events=False).global_buffer is None


def test_gather_reads_spilled_bytes_from_dram() -> None:
    """A tile gathering 100 bytes held by tile 1, which spilled 1 in 4 of what it made,
    reads 25 bytes from DRAM and 75 from tile 1 (counted as read there, written here)."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    workload = two_linears(4)
    engine = DigitalDataflow(chip, workload, Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    memory.held["fc1"] = Holdings(VECTORS, 1, [0], [1], [1], {1: (10, 40)})

    def gather():
        yield from memory.fetch("fc2", 0, 100, Span.whole())

    chip.env.process(gather())
    chip.env.run()
    c = chip.counters.layer("fc2")
    assert c["dram_bytes"] == 25
    assert c["tile_buffer_read_bytes"] == 75
    assert c["tile_buffer_write_bytes"] == 100
    assert len(chip.mesh.route(1, 0)) == 1 and not chip.mesh.route(IO, 0)
    assert c["noc_byte_hops"] == 75 * 1 + 25 * 1  # one link; the I/O port's hop


def test_a_gather_is_booked_when_it_starts_step_after_step() -> None:
    """The gather above, at cycle 0 on tiny (8 bytes a cycle on DRAM, links and ports; DRAM
    latency 50 cycles, 1 cycle a hop). Tile 1's 75 bytes hold link 1 -> 0 for ceil(75/8) = 10
    cycles and arrive at 10 + 1 hop = 11. The 25 spilled bytes hold the DRAM channel for
    ceil(25/8) = 4 cycles and arrive after the latency, at 54; tile 0 is at the I/O port's
    router (no link), one hop: 55. Tile 0 writes the 100 bytes from 55 for ceil(100/8) = 13
    cycles: the gather ends at 68. All of it is booked at cycle 0, so an 8-byte write asked of
    tile 0's port at cycle 1 queues behind the gather's write: [68, 69), not [1, 2)
    (docs/design.md 6.1)."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    engine = DigitalDataflow(chip, two_linears(4), Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    memory.held["fc1"] = Holdings(VECTORS, 1, [0], [1], [1], {1: (10, 40)})
    ends = {}

    def gather():
        yield from memory.fetch("fc2", 0, 100, Span.whole())
        ends["gather"] = chip.env.now

    def meanwhile():
        yield chip.env.timeout(1)
        yield from chip.tile_ports[0].access("fc2", 8, "write")
        ends["write"] = chip.env.now

    chip.env.process(gather())
    chip.env.process(meanwhile())
    chip.env.run()
    assert ends == {"gather": 68, "write": 69}


def test_aggregated_units_equal_units_one_by_one_without_a_global_buffer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import xbarsim.timing.dataflows.basis as basis_flow

    w = load_workload("workloads/lenet5_mnist.yaml")

    def summary(aggregate: bool) -> pd.Series:
        monkeypatch.setattr(basis_flow, "AGGREGATE", aggregate)
        s = simulate(with_crossbars(NO_GB, 32), w,
                     RunOptions(Dataflow.BASIS, batch=3, basis=lenet_basis())).summary
        return pd.Series({k: v for k, v in s.items() if k != "wall_s"})

    pd.testing.assert_series_equal(summary(True), summary(False))


@pytest.mark.parametrize("overlap", [False, True])
def test_a_parts_blocks_in_one_process_equal_a_process_each(
        monkeypatch: pytest.MonkeyPatch, overlap: bool) -> None:
    """Reprogram LeNet-5 on 8 crossbars (2 tiles, many rounds; conv2 and fc1 have row
    blocks), batch 3, with and without the per-tile overlap: every summary value, layer row
    and utilization row is the same whether a part's blocks are booked by one process (in
    Python, or by ``block_bookings`` in one compiled call once the mesh is compiled) or by a
    process each."""
    import xbarsim.timing.dataflows.rounds as rounds
    from xbarsim.timing.hw import windows

    w = load_workload("workloads/lenet5_mnist.yaml")

    def run(aggregate: bool, compiled: bool) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
        monkeypatch.setattr(rounds, "AGGREGATE", aggregate)
        monkeypatch.setattr(windows, "_booked", [windows.COMPILE_AFTER if compiled else 0])
        monkeypatch.setattr(rounds, "BOOKED_TOGETHER", 0)  # every part, however small
        r = simulate(with_crossbars(NO_GB, 8), w,
                     RunOptions(Dataflow.REPROGRAM, batch=3, overlap=overlap))
        return (pd.Series({k: v for k, v in r.summary.items() if k != "wall_s"}),
                pd.DataFrame(r.layers), pd.DataFrame(r.utilization))

    expected = run(False, False)
    for got in (run(True, False), run(True, True)):
        pd.testing.assert_series_equal(got[0], expected[0])
        pd.testing.assert_frame_equal(got[1], expected[1])
        pd.testing.assert_frame_equal(got[2], expected[2])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 31), st.integers(0, 7), st.integers(0, 300),
                          st.integers(1, 40), st.integers(0, 16), st.integers(0, 200),
                          st.integers(0, 50)), min_size=1, max_size=40),
       st.integers(0, 30))
def test_blocks_booked_together_are_booked_as_one_by_one(blocks, now) -> None:
    """Random blocks on the tiny chip without a global buffer (8 tiles of 4 crossbars, a 3 x 3
    mesh), booked twice at cycle ``now`` after a first batch at cycle 0: by ``book_blocks``
    in one compiled call, and one by one by the units' own ``book`` (tile port read, crossbar,
    shift-and-add; mesh, home port write, read and add: ``TileMemory.partial_sums``). Every
    block's end, every unit's next free cycle, every link's windows and every counter agree."""
    chips = [Chip(NO_GB, seed=0, per_row_events=False) for _ in range(2)]
    chips[0].mesh.windows.compile()
    chips[1].mesh.windows.compile()
    for batch, at in ((blocks[::2], 0), (blocks, now)):
        first = {b[0]: b for b in reversed(batch)}  # one block a crossbar
        slots = sorted(first)
        slot, home, in_bytes, reads, cols, sum_bytes, adds = (
            np.array(column, dtype=np.int64) for column in zip(*(first[s] for s in slots)))
        work = BlockBookings(slots=slot, tiles=slot // 4, homes=home, in_bytes=in_bytes,
                             reads=reads, dac=3 * reads, conversions=reads * cols,
                             sum_bytes=sum_bytes, adds=adds)
        for chip in chips:
            if at > chip.env.now:
                chip.env.run(until=at)
        got = book_blocks(chips[0], "x", work, at).tolist()
        chip = chips[1]
        want = []
        for k, (slot, home) in enumerate(zip(slots, work.homes.tolist())):
            tile = slot // 4
            reads, conv = int(work.reads[k]), int(work.conversions[k])
            end = max(chip.tile_ports[tile].book("x", int(work.in_bytes[k]), "read", at=at),
                      chip.xbars[slot].book("x", reads, int(work.dac[k]), conv, True),
                      chip.shift_add[tile].book("x", conv, at=at))
            size, adds = int(work.sum_bytes[k]), int(work.adds[k])
            done = chip.mesh.book("x", tile, home, size, at)
            done = chip.tile_ports[home].book("x", size, "write", at=done)
            if adds:
                done = chip.tile_ports[home].book("x", size, "read", at=done)
                done = chip.shift_add[home].book("x", adds, at=done)
            want.append(max(end, done))
        assert got == want
    a, b = chips
    assert [p.free_at for p in a.tile_ports] == [p.free_at for p in b.tile_ports]
    assert [sorted(u.free_at) for u in a.shift_add] == [sorted(u.free_at) for u in b.shift_add]
    assert [x.free_at for x in a.xbars] == [x.free_at for x in b.xbars]
    assert all(a.mesh.windows.windows(i) == b.mesh.windows.windows(i)
               for i in range(a.mesh.links))
    assert a.counters.layer("x") == b.counters.layer("x")
    assert {k: v for k, v in a.counters.busy.items() if v} == {
        k: v for k, v in b.counters.busy.items() if v}


def test_tiles_of_a_layer_share_one_coefficient_refill_stream() -> None:
    """A 64 -> 64 linear layer, batch 64, basis L = 4, B = 2, 16 segments, 2,048 nonzero 8-bit
    coefficients (2,048 bytes) on 8 tiny crossbars (2 tiles of 4 units, one projection per
    read). With a 1 KiB coefficient buffer and a 1 KiB tile buffer, each tile holds 2,048
    bytes of projections (64 x 16 / 2 projections x 2 values x 16 bits), two buffer-fulls, so
    each refills the coefficients once. Without a global buffer both take the refill from one
    stream: DRAM moves the coefficients twice in all (multicast, then the refill) besides the
    4,096 input and 4,096 output bytes: 12,288 bytes, not 14,336."""
    arch = load_arch("arch_configs/tiny.yaml", ["chip.global_buffer=null", "chip.crossbars=8",
                                                "tile.combiner.coeff_buffer_kib=1",
                                                "tile.buffer.kib=1"])
    workload = workload_from_dict({"name": "lin", "input": [64, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "in_channels": 64, "out_channels": 64}]})
    basis = BasisSpec(4, 2, 8, {"fc": 16}, {"fc": 2048}, basis_bits=8)
    result = simulate(arch, workload, RunOptions(Dataflow.BASIS, batch=64, basis=basis))
    (layer,) = result.layers
    assert layer["dram_bytes"] == 2048 + 2048 + 4096 + 4096


def test_partial_sums_are_added_at_their_column_blocks_home() -> None:
    """Two row blocks of one column block, on tiles 1 (its home) and 0, 2 bytes of partial
    sums each (one 16-bit output, batch 1): the home writes its own (2 bytes); tile 0's cross
    one mesh link (2 bytes, 2 byte-hops) and the home writes them, reads its running sums (2)
    and adds (1 add, the layer's one). Left unfinished by the part, the 2 bytes of sums stay
    at the home (live); resumed, they are freed; at the end the home reads them and keeps the
    1-byte output."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    engine = DigitalDataflow(chip, two_linears(4), Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    key = (0, 0)

    def layer_work():
        yield from until(chip.env, memory.partial_sums("fc1", 1, 2, key, 1, adds=0))
        yield from until(chip.env, memory.partial_sums("fc1", 0, 2, key, 1, adds=1))
        yield from memory.hold_sums("fc1", {key: (1, 2)})
        assert memory.live == [0, 2]
        yield from memory.resume_sums("fc1", {key: (1, 2)})
        assert memory.live == [0, 0]
        yield from memory.reduce("fc1", 1, 2, {key: (1, Span(0, 8, 8, CHANNELS))})

    chip.env.process(layer_work())
    chip.env.run()
    c = chip.counters.layer("fc1")
    assert (c["tile_buffer_write_bytes"], c["tile_buffer_read_bytes"]) == (2 + 2 + 1, 2 + 2)
    assert (c["noc_bytes"], c["noc_byte_hops"]) == (2, 2)
    assert c["shift_add_ops"] == 1 and c["dram_bytes"] == 0
    held = memory.held["fc1"]
    assert (held.starts, held.stops, held.tiles) == ([0], [8], [1])


def test_the_sums_a_full_home_holds_go_to_dram_in_one_transfer() -> None:
    """Tile 1's activation share is full, so the running sums of two column blocks homed
    there, 9 bytes each, go to DRAM and come back. One transfer per home: 18 bytes hold the
    route tile 1 -> tile 0 -> I/O port (2 hops) for ceil(18 / 8) = 3 cycles each way, 12
    link-cycles in all; as two transfers of 9 bytes they would hold it 2 + 2 cycles each way
    (16). DRAM moves the 18 bytes out and back."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    engine = DigitalDataflow(chip, two_linears(4), Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    memory.live[1] = memory.capacity
    sums = {(0, 0): (1, 9), (0, 1): (1, 9)}

    def layer_work():
        yield from memory.hold_sums("fc1", sums)
        yield from memory.resume_sums("fc1", sums)

    chip.env.process(layer_work())
    chip.env.run()
    c = chip.counters.layer("fc1")
    assert chip.counters.busy["mesh_link"] == 2 * 3 * 2
    assert c["dram_bytes"] == 2 * 18 and c["noc_bytes"] == 2 * 18
    assert (c["tile_buffer_read_bytes"], c["tile_buffer_write_bytes"]) == (18, 18)
    assert memory.live[1] == memory.capacity


def concat_net():
    return workload_from_dict({"name": "cat", "input": [4, 4, 4], "layers": [
        {"name": "a", "type": "conv", "in_channels": 4, "out_channels": 8, "kernel": 3,
         "padding": 1},
        {"name": "b", "type": "conv", "inputs": ["a"], "in_channels": 8, "out_channels": 8,
         "kernel": 1},
        {"name": "cat", "type": "concat", "inputs": ["a", "b"]},
        {"name": "c", "type": "conv", "inputs": ["cat"], "in_channels": 16, "out_channels": 4,
         "kernel": 1}]})


def test_a_concat_is_a_view_of_its_inputs() -> None:
    """A concat of 8 + 8 channels moves nothing: channels [4, 12) of 16 are channels [4, 8)
    of the first input and [0, 4) of the second, 10 bytes each of 20; vectors [0, 1) of 2
    are the same vectors of both, the bytes split by channels. Held by vectors on tiles 1
    and 2 (a) and by channels on tiles 3 and 4 (b): vectors [0, 1) are a's on tile 1 and
    half of each of b's tiles; channels [4, 12) are all of a's channels [4, 8) (5 bytes on
    each of its tiles) and b's [0, 4), on tile 3."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    workload = concat_net()
    engine = DigitalDataflow(chip, workload, Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    chip.env.process(memory.digital_layer(workload.layer("cat"), 0, 0, 0))
    chip.env.run()
    assert memory.views["cat"] == [("a", 8), ("b", 8)]
    assert memory._channel_parts(memory.views["cat"], Span(4, 12, 16, CHANNELS), 20) == [
        ("a", Span(4 * 16, 8 * 16, 8 * 16, CHANNELS), 10),
        ("b", Span(0, 4 * 16, 8 * 16, CHANNELS), 10)]
    memory.held["a"] = Holdings(VECTORS, 2, [0, 1], [1, 2], [1, 2])  # by vectors: tiles 1, 2
    memory.held["b"] = Holdings(CHANNELS, 8, [0, 4], [4, 8], [3, 4])  # by channels: 3, 4
    by_vectors: dict[int, list[int]] = {}
    memory._holders("cat", Span(0, 1, 2, VECTORS), 20, by_vectors)
    assert by_vectors == {1: [10, 0], 3: [5, 0], 4: [5, 0]}
    by_channels: dict[int, list[int]] = {}
    memory._holders("cat", Span(4, 12, 16, CHANNELS), 20, by_channels)
    assert by_channels == {1: [5, 0], 2: [5, 0], 3: [10, 0]}
    assert chip.counters.total().get("noc_bytes", 0) == 0
    assert workload.readers("a", VIEWS) == ["b", "c"]  # its space lives until the concat's reader


def test_a_holder_sends_all_it_holds_of_a_gather_in_one_transfer() -> None:
    """c gathers 18 bytes of the concat of a and b (8 channels each: 9 bytes of each), both
    held whole by tile 1, into tile 0: one 18-byte transfer over the one link between them,
    ceil(18 / 8) = 3 cycles (two transfers of 9 bytes would take 2 + 2)."""
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    engine = DigitalDataflow(chip, concat_net(), Encoding.from_arch(NO_GB), 1, False)
    memory = engine.memory
    assert isinstance(memory, TileMemory)
    memory.views["cat"] = [("a", 8), ("b", 8)]
    for name in ("a", "b"):
        memory.held[name] = Holdings(VECTORS, 1, [0], [1], [1])
    chip.env.process(memory.fetch("c", 0, 18, Span.whole()))
    chip.env.run()
    assert chip.counters.busy["mesh_link"] == 3
    c = chip.counters.layer("c")
    assert (c["noc_bytes"], c["tile_buffer_read_bytes"], c["tile_buffer_write_bytes"]) == (
        18, 18, 18)


def test_a_concat_of_concats_is_one_view_of_their_inputs() -> None:
    """cat2 = concat(cat1, c) with cat1 = concat(a, b): one view of a, b and c (8 + 8 + 4
    channels), its first input a's holdings."""
    net = workload_from_dict({"name": "cats", "input": [4, 2, 2], "layers": [
        {"name": "a", "type": "conv", "in_channels": 4, "out_channels": 8, "kernel": 1},
        {"name": "b", "type": "conv", "inputs": ["a"], "in_channels": 8, "out_channels": 8,
         "kernel": 1},
        {"name": "cat1", "type": "concat", "inputs": ["a", "b"]},
        {"name": "c", "type": "conv", "inputs": ["cat1"], "in_channels": 16, "out_channels": 4,
         "kernel": 1},
        {"name": "cat2", "type": "concat", "inputs": ["cat1", "c"]},
        {"name": "d", "type": "conv", "inputs": ["cat2"], "in_channels": 20, "out_channels": 2,
         "kernel": 1}]})
    chip = Chip(with_crossbars(NO_GB, 8), seed=0, per_row_events=False)
    memory = DigitalDataflow(chip, net, Encoding.from_arch(NO_GB), 1, False).memory
    assert isinstance(memory, TileMemory)
    memory.held["a"] = Holdings(VECTORS, 1, [0], [1], [2])
    for name in ("cat1", "cat2"):
        chip.env.process(memory.digital_layer(net.layer(name), 0, 0, 0))
    chip.env.run()
    assert memory.views["cat2"] == [("a", 8), ("b", 8), ("c", 4)]
    assert memory._placement("cat2") is memory.held["a"]


@pytest.mark.parametrize("dataflow", ["reprogram", "digital"])
def test_a_network_with_a_concat_does_the_same_work_without_a_global_buffer(
        dataflow: str) -> None:
    runs = [simulate(with_crossbars(a, 4), concat_net(), RunOptions(Dataflow(dataflow), batch=2))
            for a in (TINY, NO_GB)]
    counts = [{k: sum(la[k] for la in r.layers) for k in OP_COUNTERS} for r in runs]
    assert counts[0] == counts[1]
    assert {la["layer"]: la["noc_bytes"] for la in runs[1].layers}["cat"] == 0
