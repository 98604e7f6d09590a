"""Mapping: encodings (slices, differential pairs, reads), cell levels, blocks and expected counts.

Expected numbers are derived by hand from docs/design.md section 5 in comments next to each
assertion, except DAC conversions: every crossbar drives its rows with its own DACs, so an input is
converted once per column block, N*P*G*K*ceil(O*s*d/cols)*t (N*P*G*K*t is the one-column-block case;
see ``LayerMap.expected_dac_conversions``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbarsim.config import load_arch
from xbarsim.mapping.blocks import BLOCK_FIELDS, block_table, map_layer, map_workload
from xbarsim.mapping.encoding import Encoding, slice_levels
from xbarsim.util import ceil_div
from xbarsim.workload import LayerType, NetBuilder, Workload, load_workload, workload_from_dict

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "arch_configs" / "tiny.yaml"
ISAAC = ROOT / "arch_configs" / "isaac_like.yaml"


def enc(*, weight_bits: int = 8, input_bits: int = 8, cell_bits: int = 2, dac_bits: int = 2,
        differential: bool = True, rows: int = 16, cols: int = 16) -> Encoding:
    return Encoding(weight_bits=weight_bits, input_bits=input_bits, cell_bits=cell_bits,
                    dac_bits=dac_bits, differential=differential, rows=rows, cols=cols)


def reconstruct(levels: np.ndarray, e: Encoding, outputs: int) -> np.ndarray:
    """Weights from cell levels: sum_j level * 2^(j*cell_bits), positive - negative - offset."""
    k = levels.shape[0]
    cells = levels.astype(np.int64).reshape(k, outputs, e.s, e.d)
    place = 2 ** (np.arange(e.s, dtype=np.int64) * e.cell_bits)
    value = (cells * place[None, None, :, None]).sum(axis=2)  # [K, O, d]
    if e.differential:
        return value[..., 0] - value[..., 1]
    return value[..., 0] - 2 ** (e.weight_bits - 1)


# --- encoding ----------------------------------------------------------------------------------


def test_differential_8_bit_weights_in_2_bit_cells() -> None:
    e = enc(weight_bits=8, cell_bits=2, differential=True)
    # Sign carried by the pair: m = 8 - 1 = 7 magnitude bits, s = ceil(7/2) = 4, d = 2.
    assert (e.m, e.s, e.d, e.columns_per_weight) == (7, 4, 2, 8)
    assert e.weight_range == (-127, 127)


def test_offset_16_bit_weights_in_2_bit_cells() -> None:
    e = enc(weight_bits=16, cell_bits=2, differential=False)
    # Offset encoding keeps all 16 bits: m = 16, s = 16/2 = 8, d = 1.
    assert (e.m, e.s, e.d, e.columns_per_weight) == (16, 8, 1, 8)
    assert e.weight_range == (-32768, 32767)


@pytest.mark.parametrize(
    ("input_bits", "dac_bits", "t"),
    [(8, 2, 4), (8, 3, 3), (8, 8, 1), (16, 1, 16), (7, 2, 4), (1, 1, 1), (16, 5, 4)],
)
def test_reads_per_vector_is_ceil_of_input_over_dac_bits(
    input_bits: int, dac_bits: int, t: int
) -> None:
    assert enc(input_bits=input_bits, dac_bits=dac_bits).t == t


@pytest.mark.parametrize(
    ("weight_bits", "cell_bits", "differential", "s"),
    [(8, 1, True, 7), (8, 3, True, 3), (8, 7, True, 1), (8, 3, False, 3), (8, 8, False, 1),
     (4, 4, True, 1), (9, 4, False, 3), (2, 1, True, 1)],
)
def test_slices_per_weight(weight_bits: int, cell_bits: int, differential: bool, s: int) -> None:
    assert enc(weight_bits=weight_bits, cell_bits=cell_bits, differential=differential).s == s


def test_encoding_from_shipped_configs() -> None:
    tiny = Encoding.from_arch(load_arch(TINY))
    assert tiny == enc(weight_bits=8, input_bits=8, cell_bits=2, dac_bits=2, differential=True,
                       rows=16, cols=16)
    assert (tiny.m, tiny.s, tiny.d, tiny.t) == (7, 4, 2, 4)  # t = 8 input bits / 2-bit DAC
    isaac = Encoding.from_arch(load_arch(ISAAC))
    # ISAAC: 16-bit offset weights in 2-bit cells, 1-bit DACs: s = 8, d = 1, t = 16.
    assert (isaac.m, isaac.s, isaac.d, isaac.t, isaac.rows, isaac.cols) == (16, 8, 1, 16, 128, 128)


@pytest.mark.parametrize(("a", "b", "q"), [(1, 1, 1), (16, 16, 1), (17, 16, 2), (0, 5, 0),
                                           (27, 16, 2), (8000, 128, 63)])
def test_ceil_div(a: int, b: int, q: int) -> None:
    assert ceil_div(a, b) == q


# --- slice_levels ------------------------------------------------------------------------------


def test_differential_levels_by_hand() -> None:
    e = enc(weight_bits=8, cell_bits=2, differential=True)
    # 100 = 0b01_10_01_00: slices (LSB first) 0, 1, 2, 1; columns (j * d + polarity).
    # -100: the same slices on the negative column of each pair. 0: all zero.
    w = np.array([[100, -100, 0]])
    levels = slice_levels(w, e)
    assert levels.shape == (1, 3 * 8)
    assert levels.dtype == np.uint16
    assert levels[0, 0:8].tolist() == [0, 0, 1, 0, 2, 0, 1, 0]
    assert levels[0, 8:16].tolist() == [0, 0, 0, 1, 0, 2, 0, 1]
    assert levels[0, 16:24].tolist() == [0] * 8


def test_offset_levels_by_hand() -> None:
    e = enc(weight_bits=4, cell_bits=2, differential=False)
    # Stored value w + 8: -3 -> 5 = 0b01_01 -> [1, 1]; 7 -> 15 -> [3, 3]; -8 -> 0 -> [0, 0];
    # 2 -> 10 = 0b10_10 -> [2, 2]; 0 -> 8 = 0b10_00 -> [0, 2].
    w = np.array([[-3, 7], [-8, 2], [0, 0]])
    levels = slice_levels(w, e)
    assert levels.tolist() == [[1, 1, 3, 3], [0, 0, 2, 2], [0, 2, 0, 2]]


@pytest.mark.parametrize(
    ("differential", "bad"), [(True, 128), (True, -128), (False, 128), (False, -129)]
)
def test_out_of_range_weights_raise(differential: bool, bad: int) -> None:
    e = enc(weight_bits=8, differential=differential)
    lo, hi = e.weight_range
    slice_levels(np.array([[lo, hi]]), e)  # the extremes themselves are fine
    with pytest.raises(ValueError, match=r"weights must lie in \["):
        slice_levels(np.array([[0, bad]]), e)


@st.composite
def encoded_weights(draw: st.DrawFn) -> tuple[Encoding, np.ndarray]:
    weight_bits = draw(st.integers(2, 16))
    e = enc(weight_bits=weight_bits, cell_bits=draw(st.integers(1, weight_bits)),
            differential=draw(st.booleans()))
    k, o = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    lo, hi = e.weight_range
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.integers(lo, hi, size=(k, o), endpoint=True)
    w.flat[0] = draw(st.sampled_from([lo, hi, 0]))  # always include an extreme or zero
    return e, w


@settings(max_examples=150, deadline=None)
@given(encoded_weights())
def test_levels_reconstruct_the_weights(case: tuple[Encoding, np.ndarray]) -> None:
    e, w = case
    k, o = w.shape
    levels = slice_levels(w, e)
    assert levels.shape == (k, o * e.s * e.d)
    assert int(levels.max()) < 2**e.cell_bits
    np.testing.assert_array_equal(reconstruct(levels, e, o), w)
    if e.differential:  # a pair programs only the polarity of its sign
        pairs = levels.astype(np.int64).reshape(k, o, e.s, 2).sum(axis=2)
        assert not np.any((pairs[..., 0] > 0) & (pairs[..., 1] > 0))


# --- blocks: hand-derived layers ---------------------------------------------------------------


def test_grouped_conv_on_tiny() -> None:
    b = NetBuilder("grouped", (6, 5, 5))
    b.conv("conv", 8, 3, groups=2)  # padding 1: 5x5 out
    workload = b.build()
    e = enc()  # tiny: 16x16, s = 4, d = 2, t = 4
    lm = map_layer(workload, 0, e)
    # G = 2, K = (6/2)*3*3 = 27, O = 8/2 = 4, P = 5*5 = 25.
    assert (lm.G, lm.K, lm.O, lm.P) == (2, 27, 4, 25)
    # row blocks = ceil(27/16) = 2; O*s*d = 4*4*2 = 32 columns -> ceil(32/16) = 2 col blocks.
    assert (lm.row_blocks, lm.col_blocks, lm.blocks) == (2, 2, 2 * 2 * 2)
    assert lm.cells == 2 * 27 * 4 * 8 == 1728
    assert lm.macs == 25 * 8 * 27
    # xbar_reads = N*P*G*ceil(K/rows)*ceil(O*s*d/cols)*t = 1*25*2*2*2*4 = 800
    # adc        = N*P*G*ceil(K/rows)*O*s*d*t          = 1*25*2*2*32*4 = 12800
    # dac        = N*P*G*K*ceil(O*s*d/cols)*t          = 1*25*2*27*2*4 = 10800
    assert lm.expected_xbar_reads(e) == 800
    assert lm.expected_adc_conversions(e) == 12800
    assert lm.expected_dac_conversions(e) == 10800
    # Batch 3 multiplies every count by 3.
    assert lm.expected_xbar_reads(e, 3) == 2400
    assert lm.expected_adc_conversions(e, 3) == 38400
    assert lm.expected_dac_conversions(e, 3) == 32400
    table = block_table(lm, e)
    assert tuple(table) == BLOCK_FIELDS
    # group-major, then row block, then column block; the second row block holds 27-16 = 11 rows.
    assert table["group"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert table["row_block"].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert table["col_block"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert table["rows_used"].tolist() == [16, 16, 11, 11, 16, 16, 11, 11]
    assert table["cols_used"].tolist() == [16] * 8
    assert table["layer"].tolist() == [0] * 8


def test_depthwise_strided_conv_on_tiny() -> None:
    b = NetBuilder("dw", (4, 6, 6))
    b.conv("dw", 4, 3, stride=2, padding=1, groups=4)
    e = enc()
    lm = map_layer(b.build(), 0, e)
    # Out size floor((6 + 2 - 3)/2) + 1 = 3 -> P = 9; G = 4, K = 1*3*3 = 9, O = 1.
    assert (lm.G, lm.K, lm.O, lm.P) == (4, 9, 1, 9)
    # One 9-row x 8-column block per group: blocks = 4, cells = 4*9*1*8 = 288.
    assert (lm.row_blocks, lm.col_blocks, lm.blocks, lm.cells) == (1, 1, 4, 288)
    # xbar_reads = 9*4*1*1*4 = 144; adc = 9*4*1*8*4 = 1152; dac = 9*4*9*1*4 = 1296.
    assert lm.expected_xbar_reads(e) == 144
    assert lm.expected_adc_conversions(e) == 1152
    assert lm.expected_dac_conversions(e) == 1296
    table = block_table(lm, e)
    assert table["rows_used"].tolist() == [9] * 4
    assert table["cols_used"].tolist() == [8] * 4


def test_linear_with_offset_encoding_and_ragged_blocks() -> None:
    workload = workload_from_dict({
        "name": "fc", "input": [25, 1, 1],
        "layers": [{"name": "fc", "type": "linear", "in_channels": 25, "out_channels": 7}],
    })
    # 8-bit offset weights in 3-bit cells: s = ceil(8/3) = 3, d = 1; 8-bit inputs, 3-bit DAC: t = 3.
    e = enc(weight_bits=8, cell_bits=3, dac_bits=3, differential=False, rows=10, cols=12)
    assert (e.s, e.d, e.t) == (3, 1, 3)
    lm = map_layer(workload, 0, e)
    # K = 25, O = 7, G = 1, P = 1; row blocks ceil(25/10) = 3; 7*3 = 21 cols -> ceil(21/12) = 2.
    assert (lm.K, lm.O, lm.G, lm.P, lm.row_blocks, lm.col_blocks, lm.blocks) == (
        25, 7, 1, 1, 3, 2, 6)
    assert lm.cells == 25 * 7 * 3 == 525
    # Batch 2: xbar_reads = 2*1*1*3*2*3 = 36; adc = 2*1*1*3*21*3 = 378;
    # dac = 2*1*1*25*2*3 = 300 (each of the 2 column blocks converts the 25 inputs).
    assert lm.expected_xbar_reads(e, 2) == 36
    assert lm.expected_adc_conversions(e, 2) == 378
    assert lm.expected_dac_conversions(e, 2) == 300
    table = block_table(lm, e)
    assert table["rows_used"].tolist() == [10, 10, 10, 10, 5, 5]
    assert table["cols_used"].tolist() == [12, 9, 12, 9, 12, 9]


def test_mlp_digits_on_tiny_skips_non_mvm_layers() -> None:
    workload = load_workload(ROOT / "workloads" / "mlp_digits.yaml")
    e = Encoding.from_arch(load_arch(TINY))
    maps = map_workload(workload, e)
    # flatten (index 0) has no crossbars; fc1 64 -> 32, fc2 32 -> 10.
    assert [(m.index, m.name) for m in maps] == [(1, "fc1"), (2, "fc2")]
    # fc1: ceil(64/16) = 4 row blocks x ceil(32*8/16) = 16 col blocks = 64 blocks, 64*32*8 cells.
    # fc2: ceil(32/16) = 2 x ceil(10*8/16) = 5 = 10 blocks, 32*10*8 cells.
    assert [m.blocks for m in maps] == [64, 10]
    assert [m.cells for m in maps] == [16384, 2560]
    # xbar_reads: 64*4 = 256 and 10*4 = 40; adc: 4*256*4 = 4096 and 2*80*4 = 640;
    # dac: 64*16*4 = 4096 and 32*5*4 = 640.
    assert [m.expected_xbar_reads(e) for m in maps] == [256, 40]
    assert [m.expected_adc_conversions(e) for m in maps] == [4096, 640]
    assert [m.expected_dac_conversions(e) for m in maps] == [4096, 640]
    table = block_table(maps[1], e)
    assert table["layer"].tolist() == [2] * 10


# --- blocks: invariants ------------------------------------------------------------------------


@st.composite
def mapped_layers(draw: st.DrawFn) -> tuple[Workload, Encoding]:
    weight_bits = draw(st.integers(2, 16))
    input_bits = draw(st.integers(1, 16))
    e = enc(weight_bits=weight_bits, input_bits=input_bits,
            cell_bits=draw(st.integers(1, weight_bits)),
            dac_bits=draw(st.integers(1, input_bits)), differential=draw(st.booleans()),
            rows=draw(st.integers(1, 300)), cols=draw(st.integers(1, 300)))
    groups = draw(st.integers(1, 4))
    cin, cout = groups * draw(st.integers(1, 8)), groups * draw(st.integers(1, 40))
    if draw(st.booleans()):
        k = draw(st.integers(1, 3))
        b = NetBuilder("conv", (cin, 4, 4))
        b.conv("conv", cout, k, groups=groups, stride=draw(st.integers(1, 2)))
    else:
        b = NetBuilder("fc", (cin, 2, 3))
        b.linear("fc", cout)
    return b.build(), e


@settings(max_examples=150, deadline=None)
@given(mapped_layers())
def test_block_table_invariants(case: tuple[Workload, Encoding]) -> None:
    workload, e = case
    layer = workload.layers[0]
    lm = map_layer(workload, 0, e)
    G, O = layer.groups, layer.out_channels // layer.groups
    K = layer.in_channels // G * layer.kernel[0] * layer.kernel[1]
    width = O * e.s * e.d
    row_blocks, col_blocks = math.ceil(K / e.rows), math.ceil(width / e.cols)
    assert (lm.G, lm.K, lm.O) == (G, K, O)
    assert lm.blocks == G * row_blocks * col_blocks
    assert lm.cells == G * K * width
    table = block_table(lm, e)
    assert all(len(v) == lm.blocks for v in table.values())
    assert int(table["rows_used"].sum()) == G * K * col_blocks
    assert int(table["cols_used"].sum()) == G * row_blocks * width
    # Each block used once; every block fits its crossbar and holds at least one cell.
    coords = set(zip(table["group"].tolist(), table["row_block"].tolist(),
                     table["col_block"].tolist(), strict=True))
    assert len(coords) == lm.blocks
    assert table["rows_used"].min() >= 1
    assert table["rows_used"].max() <= e.rows
    assert table["cols_used"].min() >= 1
    assert table["cols_used"].max() <= e.cols
    # Cells in the table = cells of the layer.
    assert int((table["rows_used"] * table["cols_used"]).sum()) == lm.cells
    side = (4 + 2 * layer.padding[0] - layer.kernel[0]) // layer.stride[0] + 1  # 4x4 input
    P = side * side if layer.type is LayerType.CONV else 1
    assert lm.P == P
    assert lm.expected_xbar_reads(e) == P * lm.blocks * e.t
    assert lm.expected_adc_conversions(e) == P * G * row_blocks * width * e.t
    assert lm.expected_dac_conversions(e) == P * G * K * col_blocks * e.t
