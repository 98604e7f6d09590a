"""What the basis hardware computes (``functional --dataflow basis``): projections of input
segments onto the basis through the crossbar kernel, then digital combination."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.naive_analog import naive_crossbar_mvm
from xbarsim.basis import fit_basis
from xbarsim.basis.basis_set import BasisSet
from xbarsim.cli.main import main
from xbarsim.config import load_arch
from xbarsim.functional import IDEAL, AnalogCrossbar, DeviceModel, fixed_range_bits
from xbarsim.functional.basis_path import (
    BasisGroup,
    analog_basis_matmul,
    combine_digital,
    exact_basis_matmul,
    segments,
)
from xbarsim.functional.dataset import load_dataset
from xbarsim.functional.network import run_functional
from xbarsim.functional.seeds import derive_seed
from xbarsim.mapping.encoding import Encoding
from xbarsim.workload import load_workload
from xbarsim.workload.weights import load_weights

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def basis_layers(draw: Any) -> tuple[np.ndarray, BasisGroup, dict[str, Any]]:
    """Random inputs, an integer basis and coefficients, and the crossbar's formats."""
    input_bits = draw(st.integers(1, 8))
    basis_bits = draw(st.integers(2, 8))
    differential = draw(st.booleans())
    length, size = draw(st.integers(1, 20)), draw(st.integers(1, 6))
    k, o, n = draw(st.integers(1, 50)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    coeff_bits = draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    half = 1 << (basis_bits - 1)
    basis = rng.integers(1 - half if differential else -half, half, (length, size))
    s = -(-k // length)
    ch = 1 << (coeff_bits - 1)
    coeff = rng.integers(-ch, ch, (s, o, size))
    x = rng.integers(0, 1 << input_bits, (n, k))
    m = basis_bits - 1 if differential else basis_bits
    p = {"input_bits": input_bits, "differential": differential, "basis_bits": basis_bits,
         "cell_bits": draw(st.integers(1, m)), "dac_bits": draw(st.integers(1, input_bits)),
         "rows": draw(st.sampled_from([max(1, length // 2), length, length + 3, 128]))}
    return x, BasisGroup(basis, coeff), p


def crossbar(p: dict[str, Any], adc_bits: int, device: DeviceModel = IDEAL) -> AnalogCrossbar:
    """The chip's crossbars (weight_bits is replaced by the basis's bits in the basis path)."""
    enc = Encoding(weight_bits=16, input_bits=p["input_bits"], cell_bits=p["cell_bits"],
                   dac_bits=p["dac_bits"], differential=p["differential"], rows=p["rows"],
                   cols=128)
    return AnalogCrossbar(enc, device, adc_bits)


def naive_combination(x: np.ndarray, group: BasisGroup) -> np.ndarray:
    """y[m, o] = sum over segments s, basis vectors b and positions l, one term at a time."""
    length = group.basis.shape[0]
    s_count, outputs, size = group.coeff.shape
    y = np.zeros((len(x), outputs), dtype=np.int64)
    for m in range(len(x)):
        for s in range(s_count):
            for b in range(size):
                proj = sum(int(x[m, s * length + i]) * int(group.basis[i, b])
                           for i in range(length) if s * length + i < x.shape[1])
                for o in range(outputs):
                    y[m, o] += int(group.coeff[s, o, b]) * proj
    return y


@SETTINGS
@given(basis_layers())
def test_exact_basis_path_is_the_integer_reconstruction(layer):
    # Projections then combination equal x @ W with W[s*L + l, o] = sum_b coeff[s,o,b] B[l,b]
    # (the padding of the last segment contributes nothing), and the naive loops.
    x, group, _ = layer
    length = group.basis.shape[0]
    w = np.einsum("sob,lb->slo", group.coeff, group.basis).reshape(-1, group.coeff.shape[1])
    y = exact_basis_matmul(x, group, (0, 0, 0))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, x @ w[:x.shape[1]])
    np.testing.assert_array_equal(y, naive_combination(x, group))
    assert segments(x, length).shape == (len(x) * -(-x.shape[1] // length), length)


@SETTINGS
@given(basis_layers(), st.sampled_from(["lookup", "bitplane", "float"]))
def test_ideal_lossless_analog_basis_path_is_bit_exact(layer, method):
    x, group, p = layer
    bits = fixed_range_bits(rows=min(p["rows"], group.basis.shape[0]), dac_bits=p["dac_bits"],
                            cell_bits=p["cell_bits"])
    analog = analog_basis_matmul(crossbar(p, bits), p["basis_bits"], 0, 1, method)
    np.testing.assert_array_equal(analog(x, group, (0, 0, 0)),
                                  exact_basis_matmul(x, group, (0, 0, 0)))


def test_noisy_projections_match_the_naive_reference_with_the_same_noise_stream():
    # 6-bit ADC and read noise: the basis path's projections are what the naive reference
    # crossbar returns for the segments (same read seed), then combined exactly.
    rng = np.random.default_rng(5)
    p = {"input_bits": 4, "differential": True, "basis_bits": 6, "cell_bits": 2,
         "dac_bits": 2, "rows": 16}
    group = BasisGroup(rng.integers(-31, 32, (9, 4)), rng.integers(-8, 8, (3, 5, 4)))
    x = rng.integers(0, 16, (7, 27))
    xbar = crossbar(p, 6, DeviceModel(read_sigma=0.02))
    seed = 11
    got = analog_basis_matmul(xbar, 6, seed, 2, "float")(x, group, (1, 0, 0))
    proj = naive_crossbar_mvm(segments(x, 9), group.basis, input_bits=4, weight_bits=6,
                              cell_bits=2, dac_bits=2, adc_bits=6, rows=16, differential=True,
                              read_sigma=0.02, read_seed=derive_seed(seed, 2, 1, 0, 0))
    np.testing.assert_array_equal(got, combine_digital(proj, group.coeff))
    assert not np.array_equal(got, exact_basis_matmul(x, group, (0, 0, 0)))


@pytest.fixture(scope="module")
def digits() -> tuple[Any, Any, BasisSet, Any]:
    w = load_workload("workloads/mlp_digits.yaml")
    weights = load_weights("workloads/mlp_digits.weights.npz", w)
    basis = fit_basis(w, weights, length=16, basis_size=8, coeff_bits=4)[0]
    return w, weights, basis, load_dataset("workloads/digits_test.npz", w)


def test_basis_dataflow_under_ideal_equals_its_exact_integers(digits):
    w, _, basis, data = digits
    r = run_functional(load_arch("arch_configs/ideal.yaml"), w, {}, data.x, data.y, basis=basis)
    np.testing.assert_array_equal(r.outputs["analog"], r.outputs["exact"])
    assert r.accuracy["exact"] == r.accuracy["analog"] > 0.5


def test_analog_combination_under_ideal_equals_its_exact_integers(digits):
    # Analog combination (tests/test_functional_analog_combine.py) is lossless under ideal.
    w, _, basis, data = digits
    arch = load_arch("arch_configs/ideal.yaml", ["basis.combine=analog"])
    r = run_functional(arch, w, {}, data.x[:4], basis=basis)
    np.testing.assert_array_equal(r.outputs["analog"], r.outputs["exact"])


def test_cli_dataflow_all_writes_one_row_per_dataflow(tmp_path: Path, capsys):
    out = tmp_path / "f"
    args = ["functional", "--arch", "arch_configs/ideal.yaml", "--workload",
            "workloads/mlp_digits.yaml", "--weights", "workloads/mlp_digits.weights.npz",
            "--inputs", "workloads/digits_test.npz", "--limit", "20"]
    assert main([*args, "--dataflow", "basis"]) == 2
    assert capsys.readouterr().err == ("error: --dataflow: the basis dataflow needs --basis "
                                       "B.npz (expected a basis file)\n")
    assert main([*args, "--basis", "workloads/mlp_digits.basis.npz", "--dataflow", "all",
                 "--out", str(out)]) == 0
    summary = (out / "functional_summary.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in summary] == ["dataflow", "static", "reprogram",
                                                       "basis"]
    static, reprogram = summary[1].split(",")[1:], summary[2].split(",")[1:]
    assert static == reprogram  # same cells, same write policy: the same computation


def test_basis_bits_change_what_the_basis_hardware_computes(digits):
    w, _, basis, data = digits
    arch = load_arch("arch_configs/isaac_like.yaml")
    coarse = dataclasses.replace(basis, basis_bits=3)
    a = run_functional(arch, w, {}, data.x[:50], basis=basis).outputs["exact"]
    b = run_functional(arch, w, {}, data.x[:50], basis=coarse).outputs["exact"]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("magnitude", [3, 1 << 50])
def test_combine_digital_is_exact_on_both_sides_of_float64(magnitude: int) -> None:
    """Small operands take float64 BLAS, operands whose sums pass 2**53 the int64 matmul: both
    equal the sum computed in Python integers."""
    rng = np.random.default_rng(magnitude)
    projections = rng.integers(-magnitude, magnitude, (5, 3 * 4))
    coeff = rng.integers(-7, 8, (3, 6, 4))
    want = [[sum(int(coeff[s, o, b]) * int(projections[m, s * 4 + b])
                 for s in range(3) for b in range(4)) for o in range(6)] for m in range(5)]
    got = combine_digital(projections.reshape(15, 4), coeff)
    assert got.dtype == np.int64 and got.tolist() == want
