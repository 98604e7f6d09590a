"""Analog coefficient combination on the functional side (``basis.combine: analog``): per
segment, output and two's-complement coefficient bit-plane, the selected basis bit lines are
summed on one node and converted once (xbarsim/functional/analog_combine.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.naive_analog import naive_adc
from xbarsim.basis import fit_basis
from xbarsim.basis.analog_groups import bitplane_masks
from xbarsim.basis.files import load_basis
from xbarsim.cli.main import main
from xbarsim.config import load_arch
from xbarsim.config.schema import Combine
from xbarsim.functional import IDEAL, AnalogCrossbar, DeviceModel
from xbarsim.functional.basis_path import (
    BASIS_PROGRAM_KEY,
    BasisGroup,
    analog_basis_matmul,
    exact_basis_matmul,
    prepare_basis_layer,
)
from xbarsim.functional.dataset import load_dataset
from xbarsim.functional.kernel.noise import normal_pairs_numpy, stream_key_numpy
from xbarsim.functional.network import run_functional
from xbarsim.functional.seeds import derive_seed
from xbarsim.mapping.encoding import Encoding
from xbarsim.workload import load_workload
from xbarsim.workload.weights import load_weights

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = (1, 0, 0)
"""(group, chunk, part) of the calls below: the read seed is derive_seed(seed, index, *KEY)."""


@st.composite
def analog_layers(draw: Any) -> tuple[np.ndarray, BasisGroup, dict[str, Any]]:
    """Inputs, an integer basis, signed coefficients with their masks, and the formats."""
    input_bits = draw(st.integers(1, 6))
    basis_bits = draw(st.integers(2, 7))
    differential = draw(st.booleans())
    coeff_bits = draw(st.integers(1, 5))
    length, size = draw(st.integers(1, 8)), draw(st.integers(1, 5))
    k, outputs, n = draw(st.integers(1, 20)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    half = 1 << (basis_bits - 1)
    basis = rng.integers(1 - half if differential else -half, half, (length, size))
    ch = 1 << (coeff_bits - 1)
    coeff = rng.integers(-ch, ch, (-(-k // length), outputs, size))
    x = rng.integers(0, 1 << input_bits, (n, k))
    magnitude = basis_bits - 1 if differential else basis_bits
    p = {"input_bits": input_bits, "differential": differential, "basis_bits": basis_bits,
         "coeff_bits": coeff_bits, "cell_bits": draw(st.integers(1, magnitude)),
         "dac_bits": draw(st.integers(1, input_bits)),
         "rows": draw(st.sampled_from([max(1, length // 2), length, length + 3])),
         "adc_range": draw(st.sampled_from(["fixed", "calibrated"]))}
    return x, BasisGroup(basis, coeff, bitplane_masks(coeff, coeff_bits)), p


def crossbar(p: dict[str, Any], adc_bits: int, device: DeviceModel = IDEAL) -> AnalogCrossbar:
    """The chip's crossbars (the basis path puts the basis's bits in place of weight_bits)."""
    enc = Encoding(weight_bits=16, input_bits=p["input_bits"], cell_bits=p["cell_bits"],
                   dac_bits=p["dac_bits"], differential=p["differential"], rows=p["rows"],
                   cols=128)
    return AnalogCrossbar(enc, device, adc_bits, p["adc_range"])


def analog(x: np.ndarray, group: BasisGroup, p: dict[str, Any], adc_bits: int,
           device: DeviceModel = IDEAL, seed: int = 0) -> np.ndarray:
    """What layer 2's basis hardware returns for ``x`` under analog combination."""
    matmul = analog_basis_matmul(crossbar(p, adc_bits, device), p["basis_bits"], seed, 2, "auto")
    return matmul(x, group, KEY)


def cell_levels(basis: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """Target levels [L, B, slices, parts] of the basis: part 0 the positive magnitude (or
    basis + 2**(basis_bits-1) with offset encoding), part 1 the negative magnitude."""
    if p["differential"]:
        parts, magnitude = [np.maximum(basis, 0), np.maximum(-basis, 0)], p["basis_bits"] - 1
    else:
        parts, magnitude = [basis + 2 ** (p["basis_bits"] - 1)], p["basis_bits"]
    slices = -(-magnitude // p["cell_bits"])
    top = 2 ** p["cell_bits"]
    return np.stack([np.stack([(part // top**j) % top for j in range(slices)], axis=-1)
                     for part in parts], axis=-1)


def naive_analog_combination(x: np.ndarray, group: BasisGroup, p: dict[str, Any], adc_bits: int,
                             *, read_sigma: float = 0.0, read_seed: int = 0,
                             levels: np.ndarray | None = None) -> np.ndarray:
    """The hardware one conversion at a time: for each vector m, segment s, row block, read r,
    output o, plane k, slice j and part p, the currents of the bit lines (b, j, p) of the basis
    vectors b with bit k of coeff[s, o, b] set are summed, read noise added, converted, and
    weighed by w_k * (+1 | -1) * 2**(j*cell_bits + r*dac_bits), w_k = 2**k except the top
    plane's -2**(coeff_bits - 1). ``levels`` [L, B, slices, parts]: the cells as programmed
    (default: their targets). Read noise: normal number ((o*coeff_bits + k)*slices + j)*parts
    + p of pair row (n*reads + r)*ceil(Q/2) of stream (read_seed, block), n = m*S + s."""
    targets = cell_levels(group.basis, p)
    cells = targets.astype(np.float64) if levels is None else levels
    L, B, slices, parts = targets.shape
    S, O, _ = group.coeff.shape
    cb, dac = p["coeff_bits"], p["dac_bits"]
    reads = -(-p["input_bits"] // dac)
    Q = O * cb * slices * parts
    xs = np.zeros((len(x), S * L), dtype=np.int64)
    xs[:, :x.shape[1]] = x
    sigma = read_sigma * (2 ** p["cell_bits"] - 1)
    nodes = list(np.ndindex(O, cb, slices, parts))  # node q = ((o*cb + k)*slices + j)*parts + p
    y = np.zeros((len(x), O))
    for m in range(len(x)):
        for s in range(S):
            chosen = [[b for b in range(B) if (int(group.coeff[s, o, b]) >> k) & 1]
                      for o, k, _, _ in nodes]  # two's-complement bit k of each coefficient
            for blk, k0 in enumerate(range(0, L, p["rows"])):
                rows = range(k0, min(L, k0 + p["rows"]))
                for r in range(reads):
                    digits = np.array([(xs[m, s * L + i] >> (r * dac)) % 2**dac for i in rows])
                    current = np.einsum("l,lbjp->bjp", digits, cells[k0:k0 + len(rows)])
                    sd = sigma * np.sqrt(float(np.sum(digits**2)))
                    z = _normals(read_seed, blk, (m * S + s) * reads + r, Q)
                    v, fs = np.zeros(Q), np.zeros(Q)
                    for q, (_, _, j, part) in enumerate(nodes):
                        for b in chosen[q]:  # the node sums its bit lines' currents
                            v[q] += current[b, j, part]
                        if sigma > 0:  # |chosen| independent bit lines
                            v[q] = v[q] + (z[q] * np.sqrt(float(len(chosen[q])))) * sd
                        if p["adc_range"] == "fixed":  # the worst mask: all B bit lines
                            fs[q] = B * len(rows) * (2**dac - 1) * (2 ** p["cell_bits"] - 1)
                        else:  # this mask's largest sum
                            block = targets[k0:k0 + len(rows)]
                            fs[q] = (2**dac - 1) * sum(int(block[:, b, j, part].sum())
                                                       for b in chosen[q])
                    digital = naive_adc(v, fs, adc_bits)
                    for q, (o, k, j, part) in enumerate(nodes):
                        plane = -(2**k) if k == cb - 1 else 2**k
                        y[m, o] += (plane * (1 - 2 * part) * 2 ** (j * p["cell_bits"] + r * dac)
                                    * digital[q])
    if not p["differential"]:  # each offset-encoded cell adds 2**(basis_bits-1) * x
        sums = xs.reshape(len(x), S, L).sum(axis=2)
        y -= 2 ** (p["basis_bits"] - 1) * (sums @ group.coeff.sum(axis=2))
    return y


def _normals(read_seed: int, block: int, row: int, count: int) -> np.ndarray:
    """``count`` standard normals of pair row ``row`` (ceil(count/2) pairs per row)."""
    pairs = -(-count // 2)
    counters = np.arange(row * pairs, (row + 1) * pairs, dtype=np.uint64)
    cos, sin = normal_pairs_numpy(stream_key_numpy(read_seed, block), counters)
    return np.stack([cos, sin], axis=-1).ravel()[:count]


def node_full_scale_bits(group: BasisGroup, p: dict[str, Any]) -> int:
    """ADC bits that keep a fixed-range summing node lossless (lsb <= 1)."""
    L, B = group.basis.shape
    worst = B * min(p["rows"], L) * (2 ** p["dac_bits"] - 1) * (2 ** p["cell_bits"] - 1)
    return worst.bit_length()


@SETTINGS
@given(analog_layers(), st.booleans())
def test_ideal_lossless_analog_combination_is_the_exact_integer_result(layer, quantize):
    # Ideal device, and an ideal converter (0 bits) or one whose lsb <= 1 over the node's
    # whole range: every node is converted exactly, and shift-and-add over the two's-complement
    # planes rebuilds sum_s sum_b coeff[s, o, b] * P[m, s, b] bit for bit.
    x, group, p = layer
    p = {**p, "adc_range": "fixed"} if quantize else p
    got = analog(x, group, p, node_full_scale_bits(group, p) if quantize else 0)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, exact_basis_matmul(x, group, KEY))


@SETTINGS
@given(analog_layers(), st.integers(1, 8), st.sampled_from([0.0, 0.03]), st.integers(0, 99))
def test_analog_combination_matches_the_naive_reference(layer, adc_bits, read_sigma, seed):
    # Quantizing ADC, fixed or calibrated range, with and without read noise: the module equals
    # the conversion-by-conversion reference given the same noise stream, element for element.
    x, group, p = layer
    got = analog(x, group, p, adc_bits, DeviceModel(read_sigma=read_sigma), seed)
    ref = naive_analog_combination(x, group, p, adc_bits, read_sigma=read_sigma,
                                   read_seed=derive_seed(seed, 2, *KEY))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref)


def test_programmed_cells_are_the_digital_paths_and_noise_adds_per_conversion():
    # Programming error and stuck cells drawn once for the basis (seed key BASIS_PROGRAM_KEY),
    # as DeviceModel.effective_levels draws them for the kernel's columns (b*s + j)*d + p, then
    # read noise and a 6-bit ADC: the reference on the same cells gives the same outputs
    # (fractional levels: the two sum currents in different orders, hence the tolerance).
    rng = np.random.default_rng(3)
    p = {"input_bits": 4, "differential": True, "basis_bits": 6, "coeff_bits": 4,
         "cell_bits": 2, "dac_bits": 2, "rows": 5, "adc_range": "calibrated"}
    coeff = rng.integers(-8, 8, (3, 4, 5))
    group = BasisGroup(rng.integers(-31, 32, (8, 5)), coeff, bitplane_masks(coeff, 4))
    x = rng.integers(0, 16, (6, 22))
    device = DeviceModel(program_tolerance=0.05, stuck_on_rate=0.02, read_sigma=0.02)
    seed = 7
    targets = cell_levels(group.basis, p)  # [L, B, s, d] -> the kernel's column order
    draw = np.random.default_rng(np.random.SeedSequence([derive_seed(seed, BASIS_PROGRAM_KEY), 0]))
    programmed = device.effective_levels(targets.reshape(8, -1), cell_bits=2, rows=5, cols=128,
                                         rng=draw).astype(np.float32).reshape(targets.shape)
    ref = naive_analog_combination(x, group, p, 6, read_sigma=0.02,
                                   read_seed=derive_seed(seed, 2, *KEY),
                                   levels=programmed.astype(np.float64))
    got = analog(x, group, p, 6, device, seed)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    assert not np.array_equal(got, exact_basis_matmul(x, group, KEY))


def test_hand_derived_two_vector_basis():
    # L = 2, B = 2, differential 2-bit basis (1-bit magnitudes, 1-bit cells: s = 1, d = 2),
    # 2-bit inputs read at once (2-bit DAC), 2-bit coefficients, 2-bit ADC (top code 3).
    #   basis b0 = (1, 1), b1 = (-1, 1): columns (b*s + j)*d + p hold
    #   c0 = b0+ = (1, 1), c1 = b0- = (0, 0), c2 = b1+ = (0, 1), c3 = b1- = (1, 0).
    #   x = (3, 1): currents c0 = 4, c1 = 0, c2 = 1, c3 = 3; projections P = (4, -2).
    #   coeff = (1, -1): two's complement 01 and 11, so plane 0 (weight +1) selects {b0, b1} and
    #   plane 1 (weight -2) selects {b1}. Exact: 1*4 + (-1)*(-2) = 6.
    #   Nodes: plane 0 + : c0 + c2 = 5, plane 0 - : c1 + c3 = 3, plane 1 + : c2 = 1,
    #   plane 1 - : c3 = 3.
    # Fixed range: all B = 2 bit lines x 2 rows x digit 3 x level 1 = 12, gain 3/12, lsb 4:
    #   5 -> code 1 -> 4, 3 -> 1 -> 4, 1 -> 0 -> 0, 3 -> 4; y = (4 - 4) - 2*(0 - 4) = 8.
    # Calibrated: 3 * the selected target levels: plane 0 + : 3*(2 + 1) = 9 (lsb 3: 5 -> code 2
    #   -> 6); the others 3*1 = 3 (lsb 1: exact); y = (6 - 3) - 2*(1 - 3) = 7.
    # Digital combination converts each column (fixed range 6, lsb 2): 4 -> 4, 0, 1 -> 2, 3 -> 4,
    #   P = (4, -2) exactly, y = 6: the summed node's wider range is what costs accuracy.
    p = {"input_bits": 2, "differential": True, "basis_bits": 2, "coeff_bits": 2,
         "cell_bits": 1, "dac_bits": 2, "rows": 2}
    coeff = np.array([[[1, -1]]])
    group = BasisGroup(np.array([[1, -1], [1, 1]]), coeff, bitplane_masks(coeff, 2))
    x = np.array([[3, 1]])
    assert exact_basis_matmul(x, group, KEY).tolist() == [[6]]
    assert analog(x, group, {**p, "adc_range": "fixed"}, 2).tolist() == [[8]]
    assert analog(x, group, {**p, "adc_range": "calibrated"}, 2).tolist() == [[7]]
    digital = analog_basis_matmul(crossbar({**p, "adc_range": "fixed"}, 2), 2, 0, 2, "auto")
    assert digital(x, group._replace(masks=None), KEY).tolist() == [[6]]


@pytest.fixture(scope="module")
def digits() -> tuple[Any, Any]:
    w = load_workload("workloads/mlp_digits.yaml")
    return w, load_dataset("workloads/digits_test.npz", w)


def test_analog_combination_under_ideal_is_the_digital_result(digits):
    # ideal.yaml's 9-bit ADC covers a summed node of 8 basis vectors (8 * 16 rows * 3 = 384):
    # lossless, so both combinations give the exact integers and the same accuracies.
    w, data = digits
    basis = load_basis("workloads/mlp_digits.basis.npz", w)
    runs = {c: run_functional(load_arch("arch_configs/ideal.yaml", [f"basis.combine={c}"]),
                              w, {}, data.x, data.y, basis=basis) for c in ("digital", "analog")}
    assert runs["analog"].accuracy == runs["digital"].accuracy
    np.testing.assert_array_equal(runs["analog"].outputs["analog"],
                                  runs["digital"].outputs["analog"])
    np.testing.assert_array_equal(runs["analog"].outputs["analog"],
                                  runs["analog"].outputs["exact"])


def test_analog_combination_under_isaac_like_runs_with_a_sane_accuracy(digits):
    # A basis fitted to the trained weights (the shipped one is fitted to random weights and
    # gives chance accuracy): isaac_like's 8-bit ADC over 8 summed bit lines and per-plane read
    # noise cost accuracy, but the network still classifies.
    w, data = digits
    weights = load_weights("workloads/mlp_digits.weights.npz", w)
    basis = fit_basis(w, weights, length=16, basis_size=8, coeff_bits=4)[0]
    arch = load_arch("arch_configs/isaac_like.yaml", ["basis.combine=analog"])
    r = run_functional(arch, w, {}, data.x, data.y, basis=basis)
    assert r.accuracy["exact"] is not None and r.accuracy["analog"] is not None
    assert 0.5 < r.accuracy["analog"] <= r.accuracy["exact"] + 0.05
    assert not np.array_equal(r.outputs["analog"], r.outputs["exact"])
    assert all(np.isfinite(row["snr_db"]) and row["snr_db"] > 5 for row in r.layers[1:])


def test_cli_functional_with_analog_combination_writes_the_csvs(tmp_path: Path):
    out = tmp_path / "f"
    assert main(["functional", "--arch", "arch_configs/ideal.yaml", "--set",
                 "basis.combine=analog", "--workload", "workloads/mlp_digits.yaml", "--basis",
                 "workloads/mlp_digits.basis.npz", "--inputs", "workloads/digits_test.npz",
                 "--dataflow", "basis", "--limit", "50", "--out", str(out)]) == 0
    summary = (out / "functional_summary.csv").read_text().splitlines()
    assert len(summary) == 2 and summary[1].startswith("basis,")
    layers = (out / "functional.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in layers[1:]] == ["flatten", "fc1", "fc2"]


def test_layer_groups_carry_masks_only_under_analog_combination():
    w = load_workload("workloads/mlp_digits.yaml")
    basis = load_basis("workloads/mlp_digits.basis.npz", w)
    enc = Encoding.from_arch(load_arch("arch_configs/ideal.yaml"))
    layer = w.layer("fc1")
    digital = prepare_basis_layer(layer, basis, w, enc, Combine.DIGITAL).groups[0]
    analog_group = prepare_basis_layer(layer, basis, w, enc, Combine.ANALOG).groups[0]
    assert digital.masks is None
    np.testing.assert_array_equal(analog_group.masks,
                                  bitplane_masks(digital.coeff, basis.coeff_bits))
