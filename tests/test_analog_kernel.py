"""Tests of the analog crossbar kernel, the device model and the lossless ADC bound."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.naive_analog import naive_adc, naive_crossbar_mvm
from xbarsim.functional import (
    IDEAL,
    AnalogCrossbar,
    DeviceModel,
    ProgramError,
    adc_full_scale,
    crossbar_mvm,
    fixed_range_bits,
    kernel_encoding,
    levels_for_kernel,
    lossless_adc_bits,
    lossless_adc_bits_per_block,
)
from xbarsim.functional.kernel import lookup
from xbarsim.functional.kernel.checks import input_dtype, row_sums
from xbarsim.mapping.encoding import Encoding, slice_levels

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mvm(x: Any, w: Any, *, input_bits: Any, weight_bits: Any, cell_bits: Any, dac_bits: Any,
        rows: Any, differential: Any, adc_bits: Any = 0, adc_range: Any = "fixed",
        device: DeviceModel = IDEAL, cols: Any = None, seed: Any = 0, read_seed: Any = None,
        method: Any = "auto") -> np.ndarray:
    """The kernel on crossbars given field by field, as the naive reference takes them; the
    columns seen by IR drop default to every mapped column on one array, as there."""
    if cols is None:
        try:
            m = weight_bits - 1 if differential else weight_bits
            cols = max(1, np.shape(w)[1] * -(-m // cell_bits) * (2 if differential else 1))
        except (ZeroDivisionError, TypeError, IndexError):
            cols = 1  # invalid parameters: the kernel's own checks report them
    enc = Encoding(weight_bits=weight_bits, input_bits=input_bits, cell_bits=cell_bits,
                   dac_bits=dac_bits, differential=differential, rows=rows, cols=cols)
    return crossbar_mvm(x, w, AnalogCrossbar(enc, device, adc_bits, adc_range), seed=seed,
                        read_seed=read_seed, method=method)


@st.composite
def layers(draw, max_k: int = 160, max_bits: int = 8):
    """A random layer: bits, mapping, shapes and in-range x, w."""
    input_bits = draw(st.integers(1, max_bits))
    differential = draw(st.booleans())
    weight_bits = draw(st.integers(2, max_bits))
    m = weight_bits - 1 if differential else weight_bits
    n, k, o = draw(st.integers(1, 9)), draw(st.integers(1, max_k)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    half = 2 ** (weight_bits - 1)
    lo = 1 - half if differential else -half
    x = rng.integers(0, 2**input_bits, (n, k))
    w = rng.integers(lo, half, (k, o))
    if draw(st.booleans()):  # sparse, like ReLU activations and pruned weights
        x[rng.random(x.shape) < 0.6] = 0
        w[rng.random(w.shape) < 0.6] = 0
    params: dict[str, Any] = {
        "input_bits": input_bits,
        "weight_bits": weight_bits,
        "cell_bits": draw(st.integers(1, m)),
        "dac_bits": draw(st.integers(1, input_bits)),
        "rows": draw(st.sampled_from([1, 3, 16, 63, 64, 65, 128, 200])),
        "differential": differential,
    }
    return x, w, params


# ---------------------------------------------------------------------- exact equivalence


@SETTINGS
@given(layers())
def test_ideal_lossless_equals_integer_product(layer):
    x, w, p = layer
    expected = x @ w
    for method in ("auto", "exact", "lookup", "bitplane", "float"):
        y = mvm(x, w, adc_bits=0, method=method, **p)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, expected, err_msg=method)


@SETTINGS
@given(layers(), st.sampled_from(["fixed", "calibrated"]))
def test_lossless_bits_with_quantizing_adc_are_exact(layer, adc_range):
    x, w, p = layer
    kw = {k: p[k] for k in ("weight_bits", "cell_bits", "dac_bits", "rows", "differential")}
    if adc_range == "calibrated":
        bits = lossless_adc_bits(w, **kw)
    else:
        bits = fixed_range_bits(rows=p["rows"], dac_bits=p["dac_bits"], cell_bits=p["cell_bits"])
    for method in ("lookup", "bitplane", "float"):
        y = mvm(x, w, adc_bits=bits, adc_range=adc_range, method=method, **p)
        np.testing.assert_array_equal(y, x @ w, err_msg=method)


@SETTINGS
@given(layers(), st.integers(1, 6), st.sampled_from(["fixed", "calibrated"]))
def test_quantizing_adc_matches_naive_reference(layer, adc_bits, adc_range):
    x, w, p = layer
    expected = naive_crossbar_mvm(x, w, adc_bits=adc_bits, adc_range=adc_range, **p)
    for method in ("auto", "lookup", "bitplane", "float"):
        y = mvm(x, w, adc_bits=adc_bits, adc_range=adc_range, method=method, **p)
        np.testing.assert_array_equal(y, expected, err_msg=method)


def test_large_layer_matches_reference_across_column_tiles():
    # more than 256 mapped columns and several 64-row words per block
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (40, 300))
    w = rng.integers(-127, 128, (300, 40))
    p: dict[str, Any] = dict(
        input_bits=8, weight_bits=8, cell_bits=2, dac_bits=2, rows=256, differential=True
    )
    np.testing.assert_array_equal(mvm(x, w, adc_bits=0, method="bitplane", **p), x @ w)
    expected = naive_crossbar_mvm(x, w, adc_bits=5, **p)
    for method in ("lookup", "bitplane", "float"):
        got = mvm(x, w, adc_bits=5, method=method, **p)
        np.testing.assert_array_equal(got, expected, err_msg=method)


@pytest.mark.parametrize("input_bits", [8, 16])
def test_isaac_like_lookup_kernel_matches_reference_with_many_vectors(input_bits):
    # several work items (vector chunks, tile groups), 1-bit DAC fast path, float32 and float64
    # ADC precision (16-bit inputs overflow float32 accumulation), a partial last row block
    rng = np.random.default_rng(input_bits)
    x = rng.integers(0, 2**input_bits, (700, 300))
    x[rng.random(x.shape) < 0.5] = 0
    w = rng.integers(-127, 128, (300, 20))
    p: dict[str, Any] = dict(input_bits=input_bits, weight_bits=8, cell_bits=2, dac_bits=1,
                             rows=128, differential=True)
    expected = naive_crossbar_mvm(x, w, adc_bits=7, **p)
    np.testing.assert_array_equal(mvm(x, w, adc_bits=7, method="lookup", **p), expected)


@pytest.mark.parametrize("cell_bits,rows", [(2, 512), (3, 128)])
def test_lookup_kernel_row_offsets_slabs_and_tile_groups(monkeypatch, cell_bits, rows):
    # rows=512: 32-bit row offsets (the table has more than 2**16 words) and several passes;
    # cell_bits=3: 6 columns per output, so tile groups must split on output boundaries;
    # tiny slabs and chunks: the vectors go through run_lookup in pieces
    monkeypatch.setattr(lookup, "_CHUNK", 32)
    monkeypatch.setattr(lookup, "_OFFSETS_BYTES", 1)
    rng = np.random.default_rng(cell_bits)
    x = rng.integers(0, 256, (150, 700))
    x[rng.random(x.shape) < 0.5] = 0
    w = rng.integers(-127, 128, (700, 40))
    p: dict[str, Any] = dict(input_bits=8, weight_bits=8, cell_bits=cell_bits, dac_bits=1,
                             rows=rows, differential=True)
    expected = naive_crossbar_mvm(x, w, adc_bits=6, **p)
    for inputs in (x, x.astype(np.uint8)):  # kept as uint8 either way (input_dtype)
        got = mvm(inputs, w, adc_bits=6, method="lookup", **p)
        np.testing.assert_array_equal(got, expected)


def test_row_sums_of_narrow_inputs_do_not_wrap():
    x = np.full((3, 300), 255, np.uint8)
    np.testing.assert_array_equal(row_sums(x), np.full(3, 255 * 300))
    assert input_dtype(8) is np.uint8 and input_dtype(9) is np.uint16


def test_adc_rounding_follows_documented_formula():
    # full scale 12 with 3 bits: lsb 12/7; 6 -> code 4 -> 6.86 -> 7; clipping above full scale
    got = naive_adc(np.array([0, 3, 6, 12, 20]), np.array(12.0), 3)
    np.testing.assert_array_equal(got, [0, 3, 7, 12, 12])
    np.testing.assert_array_equal(naive_adc(np.array([0, 5]), np.array(0.0), 3), [0, 0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers(max_k=140), st.integers(1, 7), st.sampled_from(["fixed", "calibrated"]),
       st.sampled_from([0.003, 0.03, 0.2]), st.integers(0, 2**32 - 1))
def test_noisy_kernel_matches_naive_reference_with_the_same_noise_stream(
    layer, adc_bits, adc_range, read_sigma, read_seed
):
    x, w, p = layer
    dev = DeviceModel(read_sigma=read_sigma)
    expected = naive_crossbar_mvm(x, w, adc_bits=adc_bits, adc_range=adc_range,
                                  read_sigma=read_sigma, read_seed=read_seed, **p)
    got = mvm(x, w, adc_bits=adc_bits, adc_range=adc_range, device=dev, seed=1,
                       read_seed=read_seed, **p)
    np.testing.assert_array_equal(got, expected)


def test_noisy_blas_fallback_matches_naive_reference():
    # DAC digits wider than 8 bits have no lookup plan: sums come from float BLAS
    rng = np.random.default_rng(5)
    x, w = rng.integers(0, 2**10, (30, 90)), rng.integers(-31, 32, (90, 6))
    p: dict[str, Any] = dict(input_bits=10, weight_bits=6, cell_bits=2, dac_bits=10, rows=64,
                             differential=True)
    expected = naive_crossbar_mvm(x, w, adc_bits=9, read_sigma=0.01, read_seed=3, **p)
    got = mvm(x, w, adc_bits=9, device=DeviceModel(read_sigma=0.01), read_seed=3, **p)
    np.testing.assert_array_equal(got, expected)


def test_float_lookup_and_blas_paths_agree(monkeypatch):
    import xbarsim.functional.kernel.float_path as float_path

    x, w = _noisy_layer(11)
    noisy = DeviceModel(read_sigma=0.02)
    programmed = DeviceModel(program_tolerance=0.02, stuck_on_rate=0.01, r_wire_ohm=1.0)
    runs = {}
    for name, plan in (("lookup", float_path.float_plan), ("blas", lambda *a: None)):
        monkeypatch.setattr(float_path, "float_plan", plan)
        runs[name] = (mvm(x, w, adc_bits=6, device=noisy, read_seed=2, **NOISY),
                      mvm(x, w, adc_bits=0, device=programmed, seed=4, cols=64, **NOISY))
    np.testing.assert_array_equal(runs["lookup"][0], runs["blas"][0])  # integer sums: exact
    # float32 sums in another order: within float32 rounding of the summed magnitudes
    scale = float(np.max(np.abs(x) @ np.abs(w)))
    np.testing.assert_allclose(runs["lookup"][1], runs["blas"][1], rtol=0, atol=1e-6 * scale)


def test_noise_generator_numpy_twin_is_identical_and_gaussian():
    from numba import njit

    from xbarsim.functional.kernel.noise import (
        fill_normals,
        normal_pairs_numpy,
        stream_key,
        stream_key_numpy,
    )

    @njit
    def draw(key, out):
        fill_normals(key, np.uint64(10), out)

    key = stream_key(99, 3)
    assert np.uint64(key) == stream_key_numpy(99, 3)
    got = np.empty(200_001)
    draw(np.uint64(key), got)
    cos, sin = normal_pairs_numpy(np.uint64(key), np.arange(10, 10 + 100_001, dtype=np.uint64))
    np.testing.assert_array_equal(got, np.stack([cos, sin], -1).ravel()[:200_001])
    assert abs(got.mean()) < 0.01 and abs(got.std() - 1) < 0.01
    assert abs(np.mean(got**4) - 3) < 0.05 and np.abs(got).max() > 4


def test_error_falls_as_adc_bits_rise():
    # ideal device, fixed range: 9 bits resolve the 385 levels of a 128-row block (lossless)
    rng = np.random.default_rng(8)
    x, w = rng.integers(0, 256, (96, 384)), rng.integers(-127, 128, (384, 16))
    p: dict[str, Any] = dict(input_bits=8, weight_bits=8, cell_bits=2, dac_bits=1, rows=128,
                             differential=True)
    err = [float(np.mean(np.abs(mvm(x, w, adc_bits=b, **p) - x @ w)))
           for b in range(4, 10)]
    assert all(a > b for a, b in zip(err, err[1:], strict=False)), err
    assert err[-1] == 0.0


def test_error_grows_as_write_verify_tolerance_loosens():
    # programming error only, ideal ADC; averaged over programmed arrays (fixed seeds)
    x, w = _noisy_layer(9)
    rmse = []
    for tolerance in (0.0, 0.002, 0.01, 0.05):
        dev = DeviceModel(program_tolerance=tolerance)
        ys = [mvm(x, w, adc_bits=0, device=dev, seed=s, **NOISY) for s in range(6)]
        rmse.append(float(np.sqrt(np.mean([(y - x @ w) ** 2 for y in ys]))))
    assert rmse[0] == 0.0
    assert all(b > 3 * a for a, b in zip(rmse[1:], rmse[2:], strict=False)), rmse
    assert rmse[1] > 0


# ---------------------------------------------------------------------- mapping helpers


def test_levels_for_kernel_column_layout():
    w = np.array([[5, -6]])  # weight_bits 4, differential: magnitude 3 bits, cell 2 -> 2 slices
    m = levels_for_kernel(w, kernel_encoding(weight_bits=4, cell_bits=2, differential=True))
    # column c = (o * slices + j) * 2 + p
    np.testing.assert_array_equal(m.levels, [[1, 0, 1, 0, 0, 2, 0, 1]])
    np.testing.assert_array_equal(m.out, [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(m.shift, [0, 0, 2, 2, 0, 0, 2, 2])
    np.testing.assert_array_equal(m.sign, [1, -1, 1, -1, 1, -1, 1, -1])
    enc = kernel_encoding(weight_bits=4, cell_bits=3, differential=False)
    off = levels_for_kernel(np.array([[-8, 7]]), enc)
    np.testing.assert_array_equal(off.levels, [[0, 0, 7, 1]])
    assert off.offset == 8


@pytest.mark.parametrize("weight_bits,cell_bits", [(8, 2), (5, 3), (12, 9), (3, 1)])
@pytest.mark.parametrize("differential", [True, False])
def test_levels_for_kernel_equals_slice_levels(weight_bits, cell_bits, differential):
    enc = kernel_encoding(weight_bits=weight_bits, cell_bits=cell_bits, differential=differential)
    lo, hi = enc.weight_range
    w = np.random.default_rng(weight_bits).integers(lo, hi + 1, (7, 5))
    w[0, :2] = lo, hi
    np.testing.assert_array_equal(levels_for_kernel(w, enc).levels, slice_levels(w, enc))


def test_adc_full_scale_policies():
    levels = np.array([[1, 3], [2, 0], [3, 3]])
    fixed = adc_full_scale(levels, rows=2, dac_bits=1, cell_bits=2, adc_range="fixed")
    np.testing.assert_array_equal(fixed, [[6, 6], [3, 3]])  # 2 rows, then the 1-row block
    cal = adc_full_scale(levels, rows=2, dac_bits=2, cell_bits=2, adc_range="calibrated")
    np.testing.assert_array_equal(cal, [[9, 9], [9, 9]])


# ---------------------------------------------------------------------- lossless ADC bits


def test_lossless_bits_per_block_by_hand():
    # rows 2, cell 2, dac 1, differential: w = 3 -> level 3 on the positive column
    w = np.array([[3], [3], [1], [0]])
    kw: dict[str, Any] = dict(weight_bits=3, cell_bits=2, dac_bits=1, rows=2, differential=True)
    np.testing.assert_array_equal(lossless_adc_bits_per_block(w, **kw), [3, 1])  # 6, 1
    assert lossless_adc_bits(w, **kw) == 3
    kw["dac_bits"] = 2  # sums x3: 18 -> 5 bits
    assert lossless_adc_bits(w, **kw) == 5
    assert lossless_adc_bits(np.zeros((4, 2), int), **kw) == 1
    assert fixed_range_bits(rows=128, dac_bits=1, cell_bits=2) == 9  # 384


def test_one_bit_below_lossless_loses_information():
    # 4 rows of level 3: column sums 0..12 need 4 bits; with 3 bits lsb = 12/7 and 6 -> 7.
    w = np.full((4, 1), 3)
    p: dict[str, Any] = dict(
        input_bits=1, weight_bits=3, cell_bits=2, dac_bits=1, rows=4, differential=True
    )
    kw = {k: p[k] for k in ("weight_bits", "cell_bits", "dac_bits", "rows", "differential")}
    bits = lossless_adc_bits(w, **kw)
    assert bits == 4
    x = np.array([[int(b) for b in f"{i:04b}"] for i in range(16)])
    exact = mvm(x, w, adc_bits=bits, adc_range="calibrated", method="bitplane", **p)
    np.testing.assert_array_equal(exact, x @ w)
    lossy = mvm(x, w, adc_bits=bits - 1, adc_range="calibrated", **p)
    assert np.any(lossy != x @ w)
    assert lossy[0b0011, 0] == 7  # analog 6, coded 4 * 12/7 = 6.86 -> 7


# ---------------------------------------------------------------------- non-idealities

NOISY: dict[str, Any] = dict(
    input_bits=6, weight_bits=6, cell_bits=2, dac_bits=2, rows=64, differential=True
)


def _noisy_layer(seed: int = 7):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 64, (48, 150)), rng.integers(-31, 32, (150, 12))


def test_noise_is_deterministic_per_seed_and_varies_with_seed():
    x, w = _noisy_layer()
    dev = DeviceModel(program_tolerance=0.02, read_sigma=0.02, stuck_off_rate=0.01)
    a = mvm(x, w, adc_bits=6, device=dev, seed=1, **NOISY)
    b = mvm(x, w, adc_bits=6, device=dev, seed=1, **NOISY)
    c = mvm(x, w, adc_bits=6, device=dev, seed=2, **NOISY)
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_auto_uses_the_float_path_for_non_ideal_devices():
    x, w = _noisy_layer()
    dev = DeviceModel(program_tolerance=0.01, read_sigma=0.01, r_wire_ohm=1.0)
    auto = mvm(x, w, adc_bits=5, device=dev, seed=4, cols=32, **NOISY)
    forced = mvm(x, w, adc_bits=5, device=dev, seed=4, cols=32, method="float", **NOISY)
    np.testing.assert_array_equal(auto, forced)
    assert auto.dtype == np.int64  # a quantizing ADC returns integers, noise or not


def test_read_noise_does_not_depend_on_thread_count():
    x, w = _noisy_layer()
    dev = DeviceModel(read_sigma=0.05)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = mvm(x, w, adc_bits=0, device=dev, seed=5, **NOISY)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(mvm(x, w, adc_bits=0, device=dev, seed=5, **NOISY), one)


def test_error_grows_with_read_noise_sigma():
    x, w = _noisy_layer()
    exact = x @ w
    rmse = []
    for sigma in (0.0, 0.002, 0.02, 0.2):
        y = mvm(x, w, adc_bits=0, device=DeviceModel(read_sigma=sigma), seed=3, **NOISY)
        rmse.append(float(np.sqrt(np.mean((y - exact) ** 2))))
    assert rmse[0] == 0.0
    # noise sd scales with sigma: 10x sigma gives ~10x error; demand >3x (fixed seed)
    assert rmse[1] > 0 and rmse[2] > 3 * rmse[1] and rmse[3] > 3 * rmse[2]


def test_read_noise_level_matches_model():
    # one row block, dac 1: column sd = sigma * 3 levels * sqrt(#ones in the read's digits)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (4000, 64))
    w = np.zeros((64, 1), dtype=np.int64)
    p: dict[str, Any] = dict(
        input_bits=1, weight_bits=3, cell_bits=2, dac_bits=1, rows=64, differential=True
    )
    y = mvm(x, w, adc_bits=0, device=DeviceModel(read_sigma=0.01), **p)
    sd = 0.01 * 3 * np.sqrt(x.sum(axis=1))  # per column; the pair's two columns add in quadrature
    z = y[:, 0] / (np.sqrt(2) * sd)
    assert abs(z.std() - 1) < 0.05 and abs(z.mean()) < 0.05


def test_stuck_off_everywhere_gives_zero_columns():
    x, w = _noisy_layer()
    dev = DeviceModel(stuck_off_rate=1.0)
    np.testing.assert_array_equal(mvm(x, w, adc_bits=6, device=dev, **NOISY), 0)
    offset: dict[str, Any] = dict(NOISY, differential=False)
    y = mvm(x, w, adc_bits=6, device=dev, **offset)
    np.testing.assert_array_equal(y, -32 * x.sum(axis=1, keepdims=True) * np.ones((1, 12)))


def test_stuck_on_everywhere_gives_full_columns():
    x, w = _noisy_layer()
    dev = DeviceModel(stuck_on_rate=1.0)
    y = mvm(x, w, adc_bits=0, device=dev, **dict(NOISY, differential=False))
    # every slice holds level 3: stored value 63, so y = (63 - 32) * sum(x)
    np.testing.assert_array_equal(y, 31 * x.sum(axis=1, keepdims=True) * np.ones((1, 12)))


@pytest.mark.parametrize("shape", [ProgramError.UNIFORM, ProgramError.TRUNCATED_NORMAL])
@pytest.mark.parametrize("tolerance", [0.002, 0.02])
def test_programming_error_stays_in_the_verify_window(shape, tolerance):
    dev = DeviceModel(program_tolerance=tolerance, program_error=shape, program_sigma=tolerance)
    levels = np.random.default_rng(0).integers(0, 4, (200, 300))
    held = dev.program_levels(levels, 2, np.random.default_rng(1))
    g, target = dev.conductances_us(held, 2), dev.conductances_us(levels, 2)
    window = tolerance * (dev.g_max_us - dev.g_min_us)
    assert np.all(np.abs(g - target) <= window * (1 + 1e-9))
    spread = np.std(g - target) / (dev.g_max_us - dev.g_min_us)
    if shape is ProgramError.UNIFORM:  # sigma = tolerance / sqrt(3), as aihwkit's fit
        assert abs(spread - tolerance / np.sqrt(3)) < 0.02 * tolerance
    else:  # normal(sigma = tolerance) truncated at 1 sigma: sd = 0.538 sigma
        assert abs(spread - 0.538 * tolerance) < 0.02 * tolerance


def test_truncated_normal_with_a_wide_sigma_still_terminates():
    dev = DeviceModel(
        program_tolerance=0.001, program_error=ProgramError.TRUNCATED_NORMAL, program_sigma=1.0
    )
    held = dev.program_levels(np.zeros((50, 50), int), 1, np.random.default_rng(0))
    assert np.all(np.abs(held) <= 0.001 + 1e-12)


def test_drift_and_ir_drop_attenuate_conductance():
    levels = np.full((4, 3), 3)
    ideal = DeviceModel().effective_levels(
        levels, cell_bits=2, rows=4, cols=3, rng=np.random.default_rng(0)
    )
    np.testing.assert_array_equal(ideal, levels)
    dev = DeviceModel(drift_nu=0.1, drift_t_s=100.0)
    got = dev.effective_levels(levels, cell_bits=2, rows=4, cols=3, rng=np.random.default_rng(0))
    g = 100.0 * 100.0**-0.1  # g_max drifted; level = (g - g_min) / 33
    np.testing.assert_allclose(got, (g - 1.0) / 33.0)
    ir = DeviceModel(r_wire_ohm=10.0).effective_levels(
        levels, cell_bits=2, rows=4, cols=3, rng=np.random.default_rng(0)
    )
    g_ir = 100.0 / (1 + 100e-6 * 10.0 * (np.arange(4)[:, None] + np.arange(3)[None, :] + 2))
    np.testing.assert_allclose(ir, (g_ir - 1.0) / 33.0)
    assert np.all(np.diff(ir, axis=0) < 0) and np.all(np.diff(ir, axis=1) < 0)


def test_ir_drop_shrinks_outputs():
    rng = np.random.default_rng(2)
    x, w = rng.integers(0, 64, (8, 128)), rng.integers(0, 32, (128, 4))
    y = mvm(x, w, adc_bits=0, device=DeviceModel(r_wire_ohm=2.0), cols=16, **NOISY)
    assert y.dtype == np.float64
    assert np.all(y < x @ w) and np.all(y > 0.9 * (x @ w))


# ---------------------------------------------------------------------- validation

GOOD: dict[str, Any] = dict(
    input_bits=4, weight_bits=4, cell_bits=2, dac_bits=1, adc_bits=5, rows=8
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(x=np.zeros((2, 3, 1), int)), "2-D integer"),
        (dict(x=np.zeros((2, 3))), "2-D integer"),
        (dict(w=np.zeros((4, 2), int)), "same K"),
        (dict(x=np.full((2, 3), 16)), "x values"),
        (dict(x=np.full((2, 3), -1)), "x values"),
        (dict(w=np.full((3, 2), -8)), "w values"),  # -8 only fits the offset encoding
        (dict(dac_bits=5), "dac_bits"),
        (dict(cell_bits=0), "cell_bits"),
        (dict(adc_bits=-1), "adc_bits"),
        (dict(rows=0), "rows"),
        (dict(input_bits=2.5), "input_bits must be an int"),
        (dict(adc_range="linear"), "adc_range must be one of"),
        (dict(method="fast"), "method must be one of"),
        (dict(method="exact", adc_bits=2), "lossless"),
        (dict(method="bitplane", device=DeviceModel(read_sigma=0.1)), "ideal device"),
        (dict(method="lookup", device=DeviceModel(read_sigma=0.1)), "ideal device"),
        (dict(input_bits=30, weight_bits=30), "exact"),
        (dict(seed=-1), "seed"),
        (dict(cols=0), "cols"),
    ],
)
def test_bad_arguments_raise_clear_errors(change, message):
    kw: dict[str, Any] = dict(
        GOOD, x=np.ones((2, 3), int), w=np.ones((3, 2), int), differential=True
    )
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        mvm(kw.pop("x"), kw.pop("w"), **kw)


def test_offset_encoding_accepts_the_most_negative_weight_and_empty_batches():
    p: dict[str, Any] = dict(GOOD, differential=False)
    x, w = np.ones((2, 3), np.uint8), np.full((3, 2), -8, np.int8)  # any integer dtype
    np.testing.assert_array_equal(mvm(x, w, **dict(p, adc_bits=0)), x @ w.astype(int))
    assert mvm(np.zeros((0, 3), int), w, **p).shape == (0, 2)


@pytest.mark.parametrize(
    "change",
    [
        dict(g_max_us=0.5),
        dict(stuck_on_rate=0.6, stuck_off_rate=0.6),
        dict(read_sigma=-0.1),
        dict(drift_t_s=0.0),
        dict(program_tolerance=float("nan")),
        dict(program_error="truncated_normal", program_tolerance=0.01),
        dict(program_error="gaussian"),
    ],
)
def test_bad_device_parameters_raise(change):
    with pytest.raises(ValueError):
        DeviceModel(**change)
