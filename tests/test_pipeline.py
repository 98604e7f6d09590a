"""The pipelined static engine: line-buffer overlap, steady-state throughput, replication, mesh
links and tile-buffer spills, each derived by hand on the tiny chip (1 GHz: cycles = ns)."""

from __future__ import annotations

import itertools
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.cli.main import main
from xbarsim.config import load_arch
from xbarsim.config.loader import with_crossbars
from xbarsim.config.schema import Noc
from xbarsim.mapping.replication import balance_copies, stage_cycles
from xbarsim.timing.dataflows import pipeline
from xbarsim.timing.dataflows.plan import Dataflow
from xbarsim.timing.hw import windows
from xbarsim.timing.hw.mesh import IO, Mesh
from xbarsim.timing.hw.stats import Counters
from xbarsim.timing.hw.windows import WINDOWS_KEPT, Windows
from xbarsim.timing.simulate import Granularity, RunOptions, simulate
from xbarsim.workload import load_workload, workload_from_dict

ONE_TILE_PER_XBAR = ["chip.crossbars_per_tile=1", "mapping.replication=none"]


def conv(name: str, inputs: str, c_in: int, c_out: int) -> dict:
    """A 3x1 conv, padding 1 row: output row y reads input rows y - 1 .. y + 1."""
    return {"name": name, "type": "conv", "inputs": [inputs], "in_channels": c_in,
            "out_channels": c_out, "kernel": [3, 1], "padding": [1, 0]}


def two_convs(width: int = 1) -> object:
    return workload_from_dict({"name": "two", "input": [4, 4, width], "layers": [
        conv("a", "input", 4, 2), conv("b", "a", 2, 2)]})


def run(workload, arch_overrides=(), crossbars=2, **options):
    arch = with_crossbars(load_arch("arch_configs/tiny.yaml", list(arch_overrides)), crossbars)
    return simulate(arch, workload, RunOptions(Dataflow.STATIC, **options))


def test_two_conv_layers_overlap_by_the_line_buffer_rule():
    """Layers a (tile 0) and b (tile 1), one block each, one vector per row, one row per chunk.

    Input row j: DRAM channel 1 cycle each (4 B at 8 B/cycle), booked back to back from 0, + 50
    latency, + 1 hop from the I/O port: row j is in tile 0 at 52 + j.
    a, row 0 needs input rows 0-1 (3-row window, padding 1): starts 53, fill 4 + 4 reads x 10
    = 44 -> 97; its 2 B cross one link (1 cycle + 1 hop) -> in tile 1 at 99. Rows 1-3 follow
    back to back without refill (40 each): done 137, 177, 217 -> in tile 1 at 139, 179, 219.
    b, row 0 needs a's rows 0-1 -> starts 139 (not 99: the line-buffer rule), 44 -> 183;
    row 1 needs rows 0-2 (179) and b is free at 183 -> 223; row 2 needs all 4 (219) -> 263;
    row 3 -> 303. Each output row: 2 hops to the I/O port (1 link + the port) + 1 cycle -> 306,
    DRAM 1 cycle + 50 latency -> 357.
    """
    r = run(two_convs(), ONE_TILE_PER_XBAR, granularity=Granularity.VECTOR)
    layers = {row["layer"]: row for row in r.layers}
    assert (layers["a"]["start_cycle"], layers["a"]["end_cycle"]) == (53, 219)
    assert (layers["b"]["start_cycle"], layers["b"]["end_cycle"]) == (139, 306)
    assert r.summary["cycles"] == 357
    assert r.summary["image_latency_s"] == pytest.approx(357e-9)
    # a computes 44 + 3 x 40 = 164 cycles, b likewise, overlapping during 139 .. 217
    assert r.summary["compute_cycles"] == (217 - 53) + (303 - 217)


def test_chunks_follow_their_input_rows_and_stream_their_outputs(monkeypatch):
    """Two chunks of 2 rows a layer: a (3x1 conv, tile 0), then b (1x1 conv, tile 1).

    Input chunks (8 B, 1 DRAM cycle each, + 50, + the port's hop) are in tile 0 at 52 and 53.
    a, chunk 0 (rows 0-1): its first row needs input rows 0-1 (chunk 0, 52), so it starts at
    52 and takes fill 4 + 2 vectors x 40 = 84; its last row needs row 2 (53): it ends at
    max(52 + 84, 53 + 84 / 2) = 136. Its 4 B cross one link: [136, 137) + 1 hop -> 138.
    a, chunk 1: starts at 136 (no refill), 80 cycles -> 216 -> in tile 1 at 218.
    b, chunk 0: its first row needs a's row 0, which arrived a row's time (84 / 2 = 42)
    before a's chunk 0 was all there: 138 - 42 = 96. So b starts at 96, before a's chunk 0
    ended (the old chunk-by-chunk rule: 218); its last row needs a's row 1 (138): it ends at
    max(96 + 84, 138 + 42) = 180. To the I/O port (1 link + the port's hop): 183; DRAM 1 cycle
    + 50 -> 234. b, chunk 1: a's row 2 arrived at 218 - 80 / 2 = 178, b is free at 180 (no
    refill), 80 cycles; its last row needs a's row 3 (218): max(260, 218 + 40) = 260 -> 263 at
    the port -> 314 in DRAM. Compute: a [52, 216) and b [96, 260) overlap: 208 cycles.
    """
    monkeypatch.setattr(pipeline, "MAX_CHUNKS", 2)
    w = workload_from_dict({"name": "two", "input": [4, 4, 1], "layers": [
        conv("a", "input", 4, 2),
        {"name": "b", "type": "conv", "inputs": ["a"], "in_channels": 2, "out_channels": 2,
         "kernel": [1, 1]}]})
    r = run(w, ONE_TILE_PER_XBAR)
    layers = {row["layer"]: row for row in r.layers}
    assert (layers["a"]["start_cycle"], layers["a"]["end_cycle"]) == (52, 218)
    assert (layers["b"]["start_cycle"], layers["b"]["end_cycle"]) == (96, 263)
    assert r.summary["cycles"] == 314
    assert r.summary["compute_cycles"] == 260 - 52


def test_batch_two_steady_state_is_the_slowest_stage():
    """Input 4 x 2 x 2: a conv computes 2 rows x 2 vectors = 4 vectors per image, 40 cycles each
    once streaming (160 per image); the linear layer after it one vector (40). Image 1 follows
    image 0 through a without a refill, so it completes exactly 160 cycles later."""
    w = workload_from_dict({"name": "slow_fast", "input": [4, 2, 2], "layers": [
        conv("a", "input", 4, 2), {"name": "fc", "type": "linear", "inputs": ["a"],
                                   "in_channels": 8, "out_channels": 2}]})
    s = run(w, ONE_TILE_PER_XBAR, batch=2, granularity=Granularity.VECTOR).summary
    assert s["throughput_inf_per_s"] == pytest.approx(1 / 160e-9)
    assert s["image_latency_s"] < s["latency_s"]


def test_copies_beyond_an_images_vectors_take_images_side_by_side():
    """A linear layer (one vector an image) on 2 one-crossbar tiles, batch 2: its spare
    crossbar holds a second copy, a second lane, so the two images run side by side.

    Image 0 goes to lane 0 (tile 0), image 1 to lane 1 (tile 1). Image 0's 4 B leave DRAM
    at 51 and are in tile 0 at 52 (the port's hop); image 1's leave at 52 and cross tile 0's
    east link: in tile 1 at 52 + 1 + 2 hops = 55. Lane 0 computes image 0 from 52: fill 4 +
    4 reads x 10 -> 96, its 2 B at the I/O port at 97, in DRAM at 97 + 1 + 50 = 148. Lane 1
    computes image 1 from 55 (its own read pipeline fills) -> 99, its 2 B back over the link
    and the port's hop -> 102, in DRAM at 153. With one copy (no replication) image 1 waits
    for image 0: 96 + 40 = 136 -> DRAM 188."""
    w = workload_from_dict({"name": "fc", "input": [4, 1, 1], "layers": [
        {"name": "fc", "type": "linear", "inputs": ["input"], "in_channels": 4,
         "out_channels": 2}]})
    lanes = run(w, ["chip.crossbars_per_tile=1"], crossbars=2, batch=2)
    assert lanes.layers[0]["copies"] == 2
    assert (lanes.layers[0]["start_cycle"], lanes.summary["cycles"]) == (52, 153)
    assert lanes.layers[0]["noc_bytes"] == 2 * 4 + 2 * 2  # each image only to its lane
    one = run(w, ["chip.crossbars_per_tile=1", "mapping.replication=none"], crossbars=2,
              batch=2)
    assert one.summary["cycles"] == 188
    assert lanes.summary["xbar_reads"] == one.summary["xbar_reads"]


def test_replication_balances_a_hand_example():
    # layer 0: 8 vectors x 10 cycles on 1 crossbar; layer 1: 2 x 10 on 2; 3 spare crossbars
    # go to layer 0 one by one (80 -> 40 -> 30 -> 20): both stages then take 20 cycles
    assert balance_copies([1, 2], [8, 2], [10, 10], crossbars=6) == [4, 1]
    # the slowest layer's next copy does not fit: nothing else is worth copying
    assert balance_copies([4, 1], [8, 8], [10, 1], crossbars=7) == [1, 1]
    # a copy computes whole vectors: no more copies than vectors
    assert balance_copies([1], [2], [10], crossbars=10) == [2]
    # 4 images: beyond a copy per vector, copies come a lane (a copy per vector) at a time.
    # Layer 0 (2 vectors, 80 cycles for the batch) gets a copy (40); tied with layer 1 (40),
    # the earlier one gets a lane (4 copies: 2 lanes, 20); layer 1 a copy (2 lanes, 20);
    # layer 0 a third lane (6 copies: 3 lanes still take 2 rounds, 20), then a fourth (8:
    # 10); layer 1 a third and a fourth copy (10); layer 0's next lane does not fit
    assert balance_copies([1, 1], [2, 1], [10, 10], crossbars=12, images=4) == [8, 4]
    assert stage_cycles(2, 6, 10, images=4) == 20 and stage_cycles(2, 8, 10, images=4) == 10


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 50), st.integers(1, 30)),
                min_size=1, max_size=6), st.integers(0, 60))
def test_replication_fits_and_never_slows_a_layer(layers, spare):
    blocks, vectors, cycles = (list(x) for x in zip(*layers))
    for images in (1, 3):
        copies = balance_copies(blocks, vectors, cycles, sum(blocks) + spare, images)
        assert sum(b * c for b, c in zip(blocks, copies)) <= sum(blocks) + spare
        assert all(1 <= c <= max(v, 1) * images for c, v in zip(copies, vectors))
        slowest = max(stage_cycles(v, c, k, images) for v, c, k in zip(vectors, copies, cycles))
        assert slowest <= max(stage_cycles(v, 1, k, images) for v, k in zip(vectors, cycles))


def test_mesh_transfers_sharing_a_link_serialize_and_others_overlap():
    # 4 tiles on a 2 x 2 mesh, rows filled left to right: tile 2 below tile 0, tile 3 below
    # tile 1. 4 B/cycle links, 1 cycle per hop: 8 B hold a link 2 cycles.
    mesh = Mesh(Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0), 4, Counters())
    assert mesh.position(2) == (0, 1) and mesh.position(3) == (1, 1)
    assert mesh.book("x", 0, 1, 8, now=0) == 3          # east link of tile 0
    assert mesh.book("x", 0, 3, 8, now=0) == 2 + 2 + 2  # XY: east of 0 (busy until 2), south
    assert mesh.book("x", 2, 0, 8, now=0) == 3          # north from tile 2: disjoint, parallel
    assert mesh.book("x", 1, 1, 8, now=0) == 0          # same tile: nothing moves
    assert mesh.book("x", IO, 0, 8, now=0) == 1         # the I/O port's hop (DRAM paces it)


def test_a_transfer_uses_a_window_a_link_left_idle():
    """On the 2 x 2 mesh: A (0 -> 1, 8 B) holds tile 0's east link [0, 2); B (0 -> 3) needs it
    too and tile 1's south link, so holds both [2, 4), and tile 1's south link is idle during
    [0, 2). C (1 -> 3, 4 B) requested at 0 takes [0, 1) of it and arrives at 1 + 1 hop = 2
    (without the window: after B, at 4 + 1 + 1 = 6). D (1 -> 3, 8 B) does not fit in [1, 2):
    it takes [4, 6) and arrives at 7."""
    mesh = Mesh(Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0), 4, Counters())
    assert mesh.book("x", 0, 1, 8, now=0) == 3
    assert mesh.book("x", 0, 3, 8, now=0) == 4 + 2
    assert mesh.book("x", 1, 3, 4, now=0) == 2
    assert mesh.book("x", 1, 3, 8, now=0) == 7


def free(windows: list[tuple[int, int]], start: int, cycles: int) -> bool:
    """Whether [start, start + cycles) overlaps none of ``windows``."""
    return all(e <= start or s >= start + cycles for s, e in windows)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(1, 40),
                          st.integers(0, 60)), min_size=1, max_size=WINDOWS_KEPT - 1))
def test_link_windows_never_overlap_and_each_transfer_takes_the_earliest(moves):
    """Random transfers on a 3 x 3 mesh (8 B/cycle, no hop time): each link's reserved windows
    stay disjoint, and no transfer could have started earlier than it did (every earlier
    candidate start, its request or the end of a window, collides on some link). Fewer
    transfers than the windows a link keeps, so none is forgotten."""
    mesh = Mesh(Noc(bytes_per_cycle=8, hop_cycles=0, energy_pj_per_byte=0.0), 9, Counters())
    held: dict[int, list[tuple[int, int]]] = {}
    for src, dst, size, now in moves:
        if src == dst:
            continue
        cycles = -(-size // 8)
        links = mesh.route(src, dst)

        windows = [w for i in links for w in held.get(i, [])]
        start = mesh.book("x", src, dst, size, now) - cycles
        assert start >= now and free(windows, start, cycles)
        assert not any(free(windows, t, cycles) for t in {now, *(e for _, e in windows)}
                       if now <= t < start)
        for i in links:
            held.setdefault(i, []).append((start, start + cycles))


def test_a_link_forgets_its_oldest_gap_beyond_the_windows_it_keeps():
    """Tile 0's east link reserved 1 cycle in every 2 from 0, one window more than it keeps:
    its first gap, [1, 2), is filled, so a 1-cycle transfer requested at 0 takes [3, 4), the
    first gap left (it arrives 1 hop later: 5)."""
    mesh = Mesh(Noc(bytes_per_cycle=8, hop_cycles=1, energy_pj_per_byte=0.0), 4, Counters())
    for k in range(WINDOWS_KEPT + 1):
        assert mesh.book("x", 0, 1, 8, now=2 * k) == 2 * k + 2
    assert mesh.book("x", 0, 1, 8, now=0) == 5


def test_each_tile_port_takes_its_own_earliest_window():
    """Port 0 is reserved [10, 15). Booked from 0, 3 cycles on port 0 fit before it ([0, 3))
    and 4 on port 1 take [0, 4): done at 4. Then 8 cycles on port 0 do not fit in [3, 10)
    (7 cycles): they take [15, 23)."""
    ports = Windows(2)
    assert ports.reserve((0,), 10, 5) == 10
    assert ports.reserve_each([0, 1], [3, 4], now=0) == 4
    assert ports.reserve_each([0], [8], now=0) == 23
    assert ports.reserve_each([0, 1], [0, 0], now=7) == 7


def test_off_chip_traffic_enters_at_the_nearest_io_port():
    """A 3 x 3 mesh with 4 I/O ports at its corners (0, 0), (2, 2), (2, 0), (0, 2). Tile 8 sits
    at the (2, 2) port: 8 B from DRAM take only the port's hop (arrive at 1). Tile 5, at
    (2, 1), is one link from the ports (2, 2) and (2, 0): the first listed, (2, 2), and its
    north link. With one port, at (0, 0), tile 8 is 4 links away (2 + 4 + 1 = 7). A multicast
    to tiles 5 and 8 enters at the port nearest both, (2, 2): one link."""
    noc = Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0)
    mesh = Mesh(noc, 9, Counters(), io_ports=4)
    assert mesh.ports == [(0, 0), (2, 2), (2, 0), (0, 2)]
    assert mesh.book("x", IO, 8, 8, now=0) == 1
    assert mesh.route(IO, 5) == (4 * (2 * 3 + 2) + 3,)  # north out of (2, 2)
    assert mesh.route(5, IO) == (4 * (1 * 3 + 2) + 2,)  # south out of (2, 1)
    assert Mesh(noc, 9, Counters()).book("x", IO, 8, 8, now=0) == 2 + 4 + 1
    counters = Counters()
    tree = Mesh(noc, 9, counters, io_ports=4)
    assert tree.multicast("x", IO, [5, 8], 8, now=0) == 2 + 1 + 1
    assert counters.layer("x")["noc_byte_hops"] == 8 * (1 + 1)  # one link and the port's hop


def test_a_multicast_crosses_each_link_of_its_tree_once():
    """Tile 0 to tiles 1 and 3 on the 2 x 2 mesh: the routes share tile 0's east link. As a
    multicast, 8 B hold the tree (east of 0, south of 1) 2 cycles from 0 and reach tile 3 after
    2 hops at 4: 8 B x 2 links. As unicasts, the second waits for the east link (free at 2)
    and arrives at 2 + 2 + 2 = 6: 8 B x 3 links."""
    for multicast, arrival, byte_hops in ((True, 4, 16), (False, 6, 24)):
        counters = Counters()
        mesh = Mesh(Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0,
                        multicast=multicast), 4, counters)
        assert mesh.multicast("x", 0, [1, 3], 8, now=0) == arrival
        assert counters.layer("x")["noc_bytes"] == 16  # delivered: 8 B to each
        assert counters.layer("x")["noc_byte_hops"] == byte_hops


@settings(max_examples=300, deadline=None)
@given(tiles=st.integers(2, 40), ports=st.integers(1, 4), data=st.data())
def test_a_multicast_tree_is_the_union_of_its_xy_routes(tiles, ports, data) -> None:
    """``_tree`` works the tree out from the extents of the routes along the source's row and
    each destination column; it must be the set of links of every XY route from the source
    (or from the I/O port nearest all destinations) to each destination, sorted, and the
    longest of them."""
    mesh = Mesh(Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0), tiles,
                Counters(), io_ports=ports)
    src = data.draw(st.sampled_from([IO, *range(tiles)]))
    dsts = data.draw(st.lists(st.sampled_from([t for t in range(tiles) if t != src]),
                              min_size=1, unique=True))
    start = (mesh._port([mesh.position(d) for d in dsts]) if src == IO
             else mesh.position(src))
    routes = [mesh._xy_between(start, mesh.position(d)) for d in dsts]
    assert mesh._tree(src, tuple(dsts)) == (tuple(sorted({link for r in routes for link in r})),
                                            max(map(len, routes)))


def test_multicasts_booked_together_are_booked_as_one_by_one():
    """``multicast_many`` books its trees in turn, as ``multicast`` would one after another:
    on the 3 x 3 mesh, tile 0 to tiles 2 and 6 (12 B), tile 1 to tile 7 (8 B, its south
    links cross none of the first tree's), tile 0 to 2 again (nothing), and 4 B from DRAM to
    tile 4; the same arrival and the same counts, with multicast on and off, and with the
    links' windows searched in Python or compiled (``_book_trees``)."""
    multicasts = [(0, (2, 6)), (1, (7,)), (0, (2,)), (IO, (4,))]
    sizes, nows = [12, 8, 0, 4], [0, 1, 5, 2]
    for multicast, compiled in itertools.product((True, False), (False, True)):
        noc = Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0, multicast=multicast)
        alone, together = Counters(), Counters()
        with patch.object(windows, "_booked", [0]):  # both start in Python
            one, many = Mesh(noc, 9, alone), Mesh(noc, 9, together)
        if compiled:
            many.windows.compile()
        arrive = max(one.multicast("x", src, list(dsts), n, now)
                     for (src, dsts), n, now in zip(multicasts, sizes, nows))
        assert many.multicast_many("x", many.trees(multicasts), sizes, nows) == arrive
        assert together.layer("x") == alone.layer("x") and together.busy == alone.busy
        assert [many.windows.windows(i) for i in range(many.links)] == [
            one.windows.windows(i) for i in range(one.links)]
    # by hand, with multicast: the tree of 0 -> 2, 6 is east of 0 and 1, south of 0 and 3:
    # 3 cycles from 0, farthest 2 hops: 5; 1 -> 7: south of 1 and 4, 2 cycles from 1, +2: 5;
    # DRAM -> 4: the port at (0, 0), east of 0 (busy until 3) then south of 1 (busy [1, 3)):
    # 1 cycle from 3, 2 links and the port's hop: 3 + 1 + 3 = 7
    mesh = Mesh(Noc(bytes_per_cycle=4, hop_cycles=1, energy_pj_per_byte=0.0), 9, Counters())
    assert mesh.multicast_many("x", mesh.trees(multicasts), sizes, nows) == 7


ENDPOINTS = st.sampled_from([IO, *range(9)])


@settings(max_examples=200)
@given(st.lists(st.tuples(st.lists(st.tuples(ENDPOINTS, ENDPOINTS, st.integers(0, 40)),
                                   max_size=8), st.integers(0, 20)), min_size=1, max_size=6))
def test_transfers_booked_together_are_booked_as_one_by_one(batches):
    """``book_many`` of ROUTES_TOGETHER transfers or more on compiled links (``_book_routes``,
    one call of ``_book_trees``) books what ``book`` does one transfer after another: the same
    arrival per batch, windows and counts, on the 3 x 3 mesh, including transfers within a
    tile, of no bytes, and from DRAM to DRAM (no link, two port hops); every batch twice, the
    second time from the arrays kept for its list of transfers."""
    noc = Noc(bytes_per_cycle=4, hop_cycles=2, energy_pj_per_byte=0.0)
    alone, together = Counters(), Counters()
    with patch.object(windows, "_booked", [0]):
        one, many = Mesh(noc, 9, alone), Mesh(noc, 9, together)
    many.windows.compile()
    for moves, now in batches + [(moves, now + 7) for moves, now in batches]:
        arrive = max([now, *(one.book("x", src, dst, n, now) for src, dst, n in moves)])
        assert many.book_many("x", moves, now) == arrive
    assert together.layer("x") == alone.layer("x") and together.busy == alone.busy
    assert [many.windows.windows(i) for i in range(many.links)] == [
        one.windows.windows(i) for i in range(one.links)]


def test_an_output_read_by_two_layers_is_multicast():
    """a (tile 0) feeds b (tile 1) and c (tile 3, below b on the 2 x 2 mesh; x sits on tile 2):
    each of a's 4 rows (2 B) goes to both, east of tile 0 once, then south of tile 1 to c:
    2 link crossings per row with multicast, 3 as two unicasts. The input image (16 B, counted
    for a) goes to a and x alike: the I/O port's hop, then south of tile 0 to x, once (2
    crossings) against 1 + 2. Everything else is equal."""
    w = workload_from_dict({"name": "fork", "input": [4, 4, 1], "layers": [
        conv("a", "input", 4, 2), conv("b", "a", 2, 2), conv("x", "input", 4, 2),
        conv("c", "a", 2, 2)]})
    on, off = (run(w, [*ONE_TILE_PER_XBAR, f"chip.noc.multicast={m}"], crossbars=4)
               for m in ("true", "false"))
    row, row_off = ({r["layer"]: r for r in x.layers}["a"] for x in (on, off))
    # the input image (4 rows x 4 B, to a and x) is counted for a, the first layer
    assert row["noc_bytes"] == 2 * 4 * 4 + 2 * 4 * 2  # + 4 rows x 2 B delivered to b and c
    assert row_off["noc_bytes"] == row["noc_bytes"]
    assert row_off["noc_byte_hops"] - row["noc_byte_hops"] == 4 * 2 + 16
    assert off.summary["xbar_reads"] == on.summary["xbar_reads"]


def test_a_concat_is_a_view_its_inputs_go_straight_to_its_reader():
    """a (tile 0) and b (tile 1) read the input; d (tile 2, below tile 0 on the 2 x 2 mesh)
    reads their concat c. Each of a's and b's 4 rows (2 B) goes straight to d: a's over one
    link (8 B, 8 byte-hops), b's over two (west, then south: 16); c moves and stores nothing.
    The input (16 B) is counted for a: to tiles 0 and 1 from the port at tile 0, the port's
    hop and one link (32 B delivered, 32 byte-hops). d's 8 B go north to the port: 16."""
    w = workload_from_dict({"name": "cat", "input": [4, 4, 1], "layers": [
        conv("a", "input", 4, 2), conv("b", "input", 4, 2),
        {"name": "c", "type": "concat", "inputs": ["a", "b"]}, conv("d", "c", 4, 2)]})
    rows = {r["layer"]: r for r in run(w, ONE_TILE_PER_XBAR, crossbars=3).layers}
    assert [(rows[x]["noc_bytes"], rows[x]["noc_byte_hops"]) for x in "abcd"] == \
        [(32 + 8, 32 + 8), (8, 16), (0, 0), (8, 16)]
    assert rows["c"]["tile_buffer_read_bytes"] == rows["c"]["tile_buffer_write_bytes"] == 0


def test_a_pool_runs_beside_each_copy_of_its_input():
    """A 1x1 conv (4 outputs x 8 columns: 2 crossbars a copy) copied 4 times onto 8
    one-crossbar tiles, then a 2x2 pool: each copy's outputs are pooled on its home tile, so
    a's mesh bytes are the input image alone (4 channels x 2 x 2 pixels, 16 B from the I/O
    port); the pool's outputs (4 channels x 1 pixel, 4 B) go to the I/O port."""
    w = workload_from_dict({"name": "pool", "input": [4, 2, 2], "layers": [
        {"name": "a", "type": "conv", "in_channels": 4, "out_channels": 4, "kernel": 1},
        {"name": "p", "type": "pool", "kernel": 2}]})
    r = run(w, ["chip.crossbars_per_tile=1"], crossbars=8)
    rows = {row["layer"]: row for row in r.layers}
    assert rows["a"]["copies"] == 4
    assert rows["a"]["noc_bytes"] == 16
    assert rows["p"]["noc_bytes"] == 4


def test_a_working_set_one_byte_over_the_tile_buffer_spills_exactly_that_byte():
    """A linear layer on one tile keeps its whole input vector (its line buffer; outputs stream
    out): 1024 inputs at 8 bits fill a 1 KiB tile buffer exactly; 1025 are one byte too many,
    written to DRAM and read back once per output row (one per image)."""
    def dram(inputs: int, kib: int) -> int:
        w = workload_from_dict({"name": "big", "input": [inputs, 1, 1], "layers": [
            {"name": "fc", "type": "linear", "in_channels": inputs, "out_channels": 16}]})
        s = run(w, ["chip.crossbars_per_tile=4096", "mapping.replication=none",
                    f"tile.buffer.kib={kib}"], crossbars=4096, batch=3).summary
        return s["dram_bytes"]

    # inputs and outputs of 3 images: 3 x (inputs + 16)
    assert dram(1024, kib=1) == 3 * (1024 + 16)
    assert dram(1025, kib=2) == 3 * (1025 + 16)
    assert dram(1025, kib=1) == 3 * (1025 + 16) + 3 * 2


def test_counts_do_not_depend_on_granularity_or_copies():
    """Chunks and copies change when work happens, never how much: every counted action of
    the MVM layers is the same with one row per chunk or coarse chunks, with or without
    copies (only the one-time setup writes the copies)."""
    w = two_convs(width=3)
    base = run(w, ["mapping.replication=none"], crossbars=8, batch=2).summary
    for overrides, granularity, crossbars in (
            (["mapping.replication=none"], Granularity.VECTOR, 8),
            (["mapping.replication=balance"], Granularity.WORK_ITEM, 8),
            (["mapping.replication=balance"], Granularity.WORK_ITEM, 64)):  # 2 lanes each
        r = run(w, overrides, crossbars=crossbars, batch=2, granularity=granularity)
        for key in ("xbar_reads", "adc_conversions", "dac_conversions", "dram_bytes"):
            assert r.summary[key] == base[key], key
    assert [row["copies"] for row in r.layers] == [24, 24]  # 12 vectors x 2 images
    copied = run(w, ["mapping.replication=balance"], crossbars=8).summary
    assert copied["setup_cycles"] > base["setup_cycles"]


def test_crossbars_flag_equals_set_key(tmp_path):
    args = ["run", "--arch", "arch_configs/tiny.yaml", "--workload",
            "workloads/lenet5_mnist.yaml", "--dataflow", "static", "--seed", "1"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*args, "--crossbars", "4096", "--out", str(a)]) == 0
    assert main([*args, "--set", "chip.crossbars=4096", "--out", str(b)]) == 0
    for name in ("layers.csv", "utilization.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    drop = {"wall_s"}
    rows = [(p / "summary.csv").read_text().splitlines() for p in (a, b)]
    header = rows[0][0].split(",")
    keep = [i for i, k in enumerate(header) if k not in drop]
    assert [[r.split(",")[i] for i in keep] for r in rows[0]] == \
        [[r.split(",")[i] for i in keep] for r in rows[1]]


def test_info_shows_the_static_copies(capsys):
    args = ["info", "--arch", "arch_configs/tiny.yaml", "--workload",
            "workloads/lenet5_mnist.yaml", "--crossbars", "4096"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("static copies for one image (mapping.replication: balance; ")
    used = int(line.rsplit(", ", 1)[1].split()[0].replace(",", ""))
    assert 1952 < used <= 4096  # one copy of every layer needs 1,952 crossbars
    assert main([*args, "--set", "mapping.replication=none"]) == 0
    assert capsys.readouterr().out.strip().endswith("all layers x1, 1,952 crossbars used")


def test_a_static_run_too_large_to_finish_is_refused_unless_forced(monkeypatch, capsys):
    # ResNet-18 CIFAR-100's 30 layers and its input: one chunk per image each at a batch of
    # 10^7 (20,000 steps / (31 x 10^7) < 1), so 31 x 10^7 steps, far over the limit
    from xbarsim.timing.dataflows import pipeline

    w = load_workload("workloads/resnet18_cifar100.yaml")
    assert pipeline.pipeline_steps(w, 10**7, False) == 31 * 10**7
    assert main(["run", "--arch", "arch_configs/isaac_like.yaml", "--workload",
                 "workloads/resnet18_cifar100.yaml", "--dataflow", "static", "--batch",
                 str(10**7)]) == 2
    assert "--batch: 10,000,000 images of resnet18_cifar100 take 310,000,000 pipeline " \
           "steps" in capsys.readouterr().err
    # the limit is the only thing that stops it: with a lower one a small run is refused, and
    # --force runs it
    monkeypatch.setattr("xbarsim.timing.simulate.MAX_STEPS", 10)
    args = ["run", "--arch", "arch_configs/tiny.yaml", "--workload", "workloads/mlp_digits.yaml",
            "--dataflow", "static", "--crossbars", "96"]
    assert main(args) == 2
    assert main([*args, "--force"]) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 12), st.integers(0, 50)),
                min_size=1, max_size=60))
def test_booking_tiles_each_on_their_own_equals_one_by_one(bookings):
    """``reserve_each`` (inlined for speed) takes the same windows as ``reserve`` on one
    resource at a time, including beyond the windows a resource keeps."""
    each, single = Windows(3), Windows(3)
    for tile, cycles, now in bookings:
        done = each.reserve_each([tile], [cycles], now)
        start = single.reserve((tile,), now, cycles) if cycles else now
        assert done == start + cycles
    assert all(each.windows(i) == single.windows(i) for i in range(3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
                          st.integers(0, 12), st.integers(0, 80),
                          st.sampled_from(("common", "each", "many"))),
                min_size=1, max_size=3 * WINDOWS_KEPT))
def test_compiled_windows_take_the_windows_python_takes(bookings):
    """The compiled search (numba, on arrays) books exactly as the Python one (on lists), for
    common windows of several resources, for each resource on its own, and for several
    requests in turn (``reserve_many``: one by one, as ``reserve`` would book them), beyond
    the windows a resource keeps too; also when a run switches from one to the other
    halfway."""
    with patch.object(windows, "_booked", [0]):  # earlier runs in this process may have
        # passed COMPILE_AFTER: these start in Python all the same
        python, compiled, switched, single = Windows(4), Windows(4), Windows(4), Windows(4)
    compiled.compile()
    assert compiled.compiled and not python.compiled
    for k, (ids, cycles, now, kind) in enumerate(bookings):
        if k == len(bookings) // 2:
            switched.compile()
        if kind == "each":
            got = [w.reserve_each(ids, [cycles] * len(ids), now)
                   for w in (python, compiled, switched, single)]
        elif kind == "common":
            got = [w.reserve(ids, now, max(cycles, 1))
                   for w in (python, compiled, switched, single)]
        else:  # 1 to 3 requests: all of ids, the last alone a cycle later, and none
            m = 1 + now % 3
            sets, nows, lengths = (tuple(ids), tuple(ids[-1:]), ())[:m], [now, now + 1, now][
                :m], [cycles, cycles + 1, cycles][:m]
            got = [w.reserve_many(sets, nows, lengths) for w in (python, compiled, switched)]
            got.append([single.reserve(ids, t, c) if c and ids else t
                        for ids, t, c in zip(sets, nows, lengths)])
        assert got[0] == got[1] == got[2] == got[3]
    for k in range(WINDOWS_KEPT + 2):  # one cycle in two: the oldest gaps are forgotten
        assert len({w.reserve((3,), 1000 + 2 * k, 1)
                    for w in (python, compiled, switched, single)}) == 1
    for i in range(4):
        assert python.windows(i) == compiled.windows(i) == switched.windows(i) == single.windows(i)
    assert len(python.windows(3)) <= WINDOWS_KEPT
