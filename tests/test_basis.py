"""Global-basis fitting, the basis NPZ format and its validation, weights files, ``basis fit``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xbarsim.basis import (
    BasisSet,
    example_basis,
    fit_basis,
    from_segments,
    load_basis,
    save_basis,
    to_segments,
)
from xbarsim.basis.examples import SHIPPED, write_example_basis
from xbarsim.basis.files import basis_arrays
from xbarsim.basis.fit import fit_coefficients, quantize_basis, quantize_coefficients
from xbarsim.cli.main import main
from xbarsim.errors import XbarsimError
from xbarsim.io.npz_file import write_npz
from xbarsim.workload import NetBuilder, Workload, dump_workload, load_workload
from xbarsim.workload.weights import load_weights, random_weights, weight_shape

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "workloads"


def tiny() -> Workload:
    """conv (K = 36), depthwise conv (K = 9), pool, linear (K = 54): all multiples of 9."""
    net = NetBuilder("tiny", (4, 6, 6))
    net.conv("c1", 6, 3)
    net.conv("dw", 6, 3, groups=6)
    net.pool("pool", 2)
    net.flatten("flat")
    net.linear("fc", 5, relu=False)
    return net.build()


TINY = tiny()


def fitted(**kwargs: int) -> BasisSet:
    """A basis set fitted to random weights of TINY."""
    params = {"length": 9, "basis_size": 4, "coeff_bits": 4, **kwargs}
    return fit_basis(TINY, random_weights(TINY, 1), **params)[0]


# --- segment convention ------------------------------------------------------------------------

def test_segments_by_hand() -> None:
    """Fan-in ordered c, i, j row-major; cut into L = 3 pieces; last one zero-padded."""
    w = np.arange(16.0).reshape(2, 2, 2, 2)  # O=2, C=2, kh=kw=2: K = 8 -> S = 3
    seg = to_segments(w, 3)
    assert seg.shape == (3, 2, 3)
    assert seg[:, 0].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 0]]
    assert seg[:, 1].tolist() == [[8, 9, 10], [11, 12, 13], [14, 15, 0]]
    assert w[0, 1, 0, 1] == seg[1, 0, 2]  # c=1, i=0, j=1 -> flat 5 -> segment 1, slot 2
    assert np.array_equal(from_segments(seg, w.shape), w)


def test_reconstruct_follows_the_convention() -> None:
    """An identity basis with the segments as coefficients reconstructs the weights exactly."""
    net = NetBuilder("hand", (2, 3, 3))
    net.conv("c", 2, 2, padding=0)
    workload = net.build()
    w = np.arange(-8, 8).reshape(2, 2, 2, 2)
    coeffs = {"c": to_segments(w, 3).astype(np.int8)}
    bs = BasisSet(basis=np.eye(3), basis_bits=8, coeff_bits=5, coeffs=coeffs,
                  scales={"c": np.array(0.5)}, length=3)
    assert np.array_equal(bs.reconstruct("c", workload), 0.5 * w)
    assert bs.segments("c") == 3
    assert bs.nnz("c").tolist() == [[3, 2], [3, 3], [2, 2]]  # output 1 starts at 0; padding
    assert bs.nnz_total("c") == 15


def test_weight_shapes_and_groups() -> None:
    assert weight_shape(TINY.layer("c1")) == (6, 4, 3, 3)
    assert weight_shape(TINY.layer("dw")) == (6, 1, 3, 3)
    assert weight_shape(TINY.layer("fc")) == (5, 54)
    bs = fitted(length=16)
    assert {n: bs.coeffs[n].shape for n in bs.layers} == {
        "c1": (3, 6, 4), "dw": (1, 6, 4), "fc": (4, 5, 4)}


# --- fitting -----------------------------------------------------------------------------------

def test_basis_spanning_the_weights_reconstructs_exactly() -> None:
    """Weights that are integer combinations of B orthonormal vectors: error ~ 0 with B vectors."""
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((9, 3)))
    weights = {}
    for layer in TINY.mvm_layers:
        shape = weight_shape(layer)
        segments = rng.integers(-7, 8, (layer.fan_in // 9, shape[0], 3)) @ q.T
        weights[layer.name] = from_segments(segments, shape)
    bs, errors = fit_basis(TINY, weights, length=9, basis_size=3, coeff_bits=24, basis_bits=24)
    assert max(errors.values()) < 1e-5
    for name, w in weights.items():
        assert np.allclose(bs.reconstruct(name, TINY), w, atol=1e-5)
    assert np.allclose(bs.basis @ (bs.basis.T @ q), q, atol=1e-5)  # the fitted basis spans q
    coarse = fit_basis(TINY, weights, length=9, basis_size=2, coeff_bits=24, basis_bits=24)[1]
    assert min(coarse.values()) > 0.01  # one vector short: no longer exact


def test_coefficient_quantization_error_is_at_most_half_a_step() -> None:
    rng = np.random.default_rng(0)
    coeffs = rng.standard_normal((5, 7, 4)) * rng.uniform(0.01, 10, (1, 7, 1))
    coeffs[:, 3] = 0.0  # an all-zero channel
    levels, scale = quantize_coefficients(coeffs, 4)
    assert levels.dtype == np.int8 and scale.shape == (7,)
    assert np.all(np.abs(coeffs - levels * scale[None, :, None]) <= scale[None, :, None] / 2
                  + 1e-12)
    assert levels.min() >= -7 and levels.max() <= 7
    assert np.abs(levels).max(axis=(0, 2)).tolist() == [7, 7, 7, 0, 7, 7, 7]


def test_basis_quantization_puts_values_on_the_grid() -> None:
    basis = np.linalg.qr(np.random.default_rng(1).standard_normal((9, 4)))[0]
    quantized = quantize_basis(basis, 8)
    step = np.abs(basis).max() / 127
    assert np.allclose(quantized / step, np.rint(quantized / step))
    assert np.abs(quantized - basis).max() <= step / 2 + 1e-12


def test_fitted_basis_sign_convention_and_orthonormality() -> None:
    bs = fit_basis(TINY, random_weights(TINY, 3), length=9, basis_size=5, basis_bits=32)[0]
    assert np.allclose(bs.basis.T @ bs.basis, np.eye(5), atol=1e-6)
    peaks = bs.basis[np.argmax(np.abs(bs.basis), axis=0), np.arange(5)]
    assert np.all(peaks > 0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_nnz_limits_nonzeros_per_segment(k: int) -> None:
    bs = fitted(nnz=k)
    for name in bs.layers:
        assert bs.nnz(name).max() <= k
        assert bs.nnz(name).shape == bs.coeffs[name].shape[:2]


def test_nnz_refits_the_kept_coefficients_by_least_squares() -> None:
    rng = np.random.default_rng(2)
    basis = quantize_basis(np.linalg.qr(rng.standard_normal((9, 5)))[0] * 0.9, 6)
    segments = rng.standard_normal((20, 9))
    sparse = fit_coefficients(segments, basis, 2)
    full = fit_coefficients(segments, basis, None)
    for seg, got, dense in zip(segments, sparse, full, strict=True):
        keep = np.sort(np.argsort(-np.abs(dense), kind="stable")[:2])
        assert np.flatnonzero(got).tolist() == keep.tolist()
        expected = np.linalg.lstsq(basis[:, keep], seg, rcond=None)[0]
        assert np.allclose(got[keep], expected)
    assert np.array_equal(fit_coefficients(segments, basis, 5), full)


def test_fit_rejects_bad_parameters() -> None:
    weights = random_weights(TINY, 0)
    cases = [({"length": 0}, "length"), ({"basis_size": 10}, "basis_size"),
             ({"coeff_bits": 1}, "coeff_bits"), ({"basis_bits": 33}, "basis_bits"),
             ({"nnz": 9}, "nnz")]
    for kwargs, key in cases:
        with pytest.raises(XbarsimError) as err:
            fit_basis(TINY, weights, **kwargs)
        assert err.value.key == key
    del weights["dw"]
    with pytest.raises(XbarsimError, match="missing") as err:
        fit_basis(TINY, weights)
    assert err.value.key == "weights/dw"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), length=st.sampled_from([4, 9, 16]))
def test_error_is_non_increasing_in_basis_size(seed: int, length: int) -> None:
    """Bases are nested in B, so the projection error can only fall; 24-bit quantization keeps
    rounding (which grows with more coefficients at few bits) below the slack."""
    weights = random_weights(TINY, seed)
    errors = []
    for size in range(1, length + 1):
        fit = fit_basis(TINY, weights, length=length, basis_size=size, coeff_bits=24,
                        basis_bits=24)[1]
        errors.append(np.array([fit[name] for name in sorted(fit)]))
    for smaller, larger in zip(errors, errors[1:], strict=False):
        assert np.all(larger <= smaller + 1e-5)
    assert errors[-1].max() < 1e-5  # B = L: the basis spans everything


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), bits=st.integers(2, 9), size=st.integers(1, 9),
       nnz=st.one_of(st.none(), st.integers(1, 9)), scale=st.floats(1e-6, 1e6))
def test_coefficients_always_fit_coeff_bits(seed: int, bits: int, size: int, nnz: int | None,
                                            scale: float) -> None:
    nnz = None if nnz is None else min(nnz, size)
    weights = {k: v * np.float32(scale) for k, v in random_weights(TINY, seed).items()}
    bs = fit_basis(TINY, weights, length=9, basis_size=size, coeff_bits=bits, nnz=nnz)[0]
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    for name in bs.layers:
        assert bs.coeffs[name].min() >= low and bs.coeffs[name].max() <= high
        assert nnz is None or bs.nnz(name).max() <= nnz


# --- files: round trip, determinism ------------------------------------------------------------

def test_save_load_round_trip(tmp_path: Path) -> None:
    bs = fitted(nnz=2)
    save_basis(tmp_path / "b.npz", bs, "tiny")
    loaded = load_basis(tmp_path / "b.npz", TINY)
    assert np.array_equal(loaded.basis, bs.basis) and loaded.layers == bs.layers
    assert (loaded.basis_bits, loaded.coeff_bits, loaded.length) == (8, 4, 9)
    for name in bs.layers:
        assert np.array_equal(loaded.coeffs[name], bs.coeffs[name])
        assert np.array_equal(loaded.scales[name], bs.scales[name])
        assert np.array_equal(loaded.reconstruct(name, TINY), bs.reconstruct(name, TINY))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a.npz", "b.npz"):
        save_basis(tmp_path / name, fitted(), "tiny")
    first = (tmp_path / "a.npz").read_bytes()
    assert first == (tmp_path / "b.npz").read_bytes()
    save_basis(tmp_path / "c.npz", load_basis(tmp_path / "a.npz", TINY), "tiny")
    assert (tmp_path / "c.npz").read_bytes() == first
    save_basis(tmp_path / "d.npz", fit_basis(TINY, random_weights(TINY, 2), basis_size=4)[0],
               "tiny")
    assert (tmp_path / "d.npz").read_bytes() != first


# --- load validation: every message names the file and the key ---------------------------------

Mutation = Callable[[dict[str, np.ndarray]], object]


def _pop_layer(arrays: dict[str, np.ndarray], name: str) -> None:
    del arrays[f"coeff/{name}"], arrays[f"scale/{name}"]


def _rename(arrays: dict[str, np.ndarray], old: str, new: str) -> None:
    arrays[f"coeff/{new}"] = arrays.pop(f"coeff/{old}")
    arrays[f"scale/{new}"] = arrays.pop(f"scale/{old}")


def _set(key: str, value: Callable[[np.ndarray], np.ndarray]) -> Mutation:
    def mutate(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = value(arrays[key])
    return mutate


def _out_of_range(coeff: np.ndarray) -> np.ndarray:
    coeff = coeff.copy()
    coeff[0, 0, 0] = 8
    return coeff


BAD_FILES: list[tuple[str, Mutation, str, str]] = [
    ("missing coeff", lambda a: _pop_layer(a, "dw"), "coeff/dw", "missing"),
    ("wrong S", _set("coeff/c1", lambda c: np.concatenate([c, c[:1]])), "coeff/c1",
     "ceil(36/9)"),
    ("wrong out_channels", lambda a: [_set(k, lambda c: c[:, :4] if c.ndim == 3 else c[:4])(a)
                                      for k in ("coeff/fc", "scale/fc")], "coeff/fc",
     "expected [6, 5, 4]"),
    ("wrong B", _set("coeff/c1", lambda c: np.concatenate([c, c[:, :, :1]], axis=2)),
     "coeff/c1", "expected B = 4"),
    ("out of coeff_bits", _set("coeff/dw", _out_of_range), "coeff/dw", "expected -8..7"),
    ("unknown layer", lambda a: _rename(a, "c1", "c11"), "coeff/c11", "did you mean 'c1'"),
    ("not an MVM layer", lambda a: _rename(a, "dw", "pool"), "coeff/pool",
     "not a conv or linear"),
    ("float coeffs", _set("coeff/c1", lambda c: c.astype(float)), "coeff/c1", "integer array"),
    ("scale shape", _set("scale/c1", lambda s: s[:2]), "scale/c1", "expected a scalar or [6]"),
    ("negative scale", _set("scale/fc", lambda s: -s), "scale/fc", "non-negative"),
    ("missing scale", lambda a: a.pop("scale/fc"), "scale/fc", "missing"),
    ("missing header", lambda a: a.pop("coeff_bits"), "coeff_bits", "missing"),
    ("basis length", _set("basis", lambda b: b[:8]), "basis", "expected [9, B]"),
    ("length type", _set("length", lambda v: v.astype(float)), "length", "integer scalar"),
    ("wrong workload", _set("workload", lambda v: np.asarray("other")), "workload",
     "fitted for workload 'other'"),
    ("unexpected key", lambda a: a.update(bassis=a["basis"]), "bassis", "did you mean 'basis'"),
]


@pytest.mark.parametrize(("mutate", "key", "text"), [c[1:] for c in BAD_FILES],
                         ids=[c[0] for c in BAD_FILES])
def test_load_rejects_bad_file(tmp_path: Path, mutate: Mutation, key: str, text: str) -> None:
    arrays = basis_arrays(fitted(), "tiny")
    mutate(arrays)
    path = tmp_path / "bad.basis.npz"
    write_npz(path, arrays)
    with pytest.raises(XbarsimError) as err:
        load_basis(path, TINY)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert text in message
    assert "\n" not in message


def test_load_rejects_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.npz"
    with pytest.raises(XbarsimError, match="file not found") as err:
        load_basis(path, TINY)
    assert err.value.file == str(path)


def test_load_rejects_a_file_that_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "text.npz"
    path.write_text("basis: [1, 2]\n")
    with pytest.raises(XbarsimError, match="not an NPZ archive") as err:
        load_basis(path, TINY)
    assert err.value.file == str(path)


def test_load_refuses_pickled_objects(tmp_path: Path) -> None:
    arrays = basis_arrays(fitted(), "tiny")
    arrays["scale/c1"] = np.array([{"evil": 1}], dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]  # numpy pickles object arrays
    with pytest.raises(XbarsimError, match="pickled") as err:
        load_basis(path, TINY)
    assert (err.value.file, err.value.key) == (str(path), "scale/c1")


def test_basis_set_construction_checks_consistency() -> None:
    bs = fitted()
    with pytest.raises(XbarsimError) as err:
        BasisSet(basis=bs.basis, basis_bits=8, coeff_bits=4, coeffs=bs.coeffs,
                 scales=bs.scales, length=16)
    assert err.value.key == "basis"
    with pytest.raises(XbarsimError) as err:
        BasisSet(basis=bs.basis, basis_bits=8, coeff_bits=1, coeffs=bs.coeffs,
                 scales=bs.scales, length=9)
    assert err.value.key == "coeff_bits"


# --- weights files -----------------------------------------------------------------------------

def test_random_weights_are_deterministic_he_normal() -> None:
    a, b = random_weights(TINY, 7), random_weights(TINY, 7)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert not np.array_equal(a["c1"], random_weights(TINY, 8)["c1"])
    assert a["c1"].dtype == np.float32 and a["c1"].shape == (6, 4, 3, 3)
    big = random_weights(load_workload(WORKLOADS / "lenet5_mnist.yaml"), 0)["fc1"]
    assert big.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)


def test_load_weights(tmp_path: Path) -> None:
    weights = random_weights(TINY, 0)
    arrays = {f"weights/{k}": v for k, v in weights.items()}
    write_npz(tmp_path / "w.npz", {**arrays, "bias/fc": np.zeros(5)})
    loaded = load_weights(tmp_path / "w.npz", TINY)
    assert all(np.array_equal(loaded[n], weights[n]) for n in weights)
    cases = [
        ({**arrays, "weights/c1": weights["c1"][:, :2]}, "weights/c1", "expected [6, 4, 3, 3]"),
        ({**arrays, "weights/fc2": weights["fc"]}, "weights/fc2", "did you mean 'fc'"),
        ({k: v for k, v in arrays.items() if k != "weights/dw"}, "weights/dw", "missing"),
        ({**arrays, "bias/fc": np.zeros(4)}, "bias/fc", "expected [5]"),
        ({**arrays, "extra": np.zeros(1)}, "extra", "unexpected key"),
    ]
    for content, key, text in cases:
        write_npz(tmp_path / "bad.npz", content)
        with pytest.raises(XbarsimError) as err:
            load_weights(tmp_path / "bad.npz", TINY)
        assert str(err.value).startswith(f"{tmp_path / 'bad.npz'}: {key}: ")
        assert text in str(err.value)


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_basis_fit_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "digits.basis.npz"
    code = main(["basis", "fit", "--workload", str(WORKLOADS / "mlp_digits.yaml"),
                 "--random-weights", "0", "--length", "16", "--nnz", "3", "--out", str(out)])
    assert code == 0
    bs = load_basis(out, load_workload(WORKLOADS / "mlp_digits.yaml"))
    assert bs.layers == ("fc1", "fc2") and bs.length == 16 and bs.basis_size == 8
    assert max(bs.nnz(n).max() for n in bs.layers) <= 3
    printed = capsys.readouterr().out
    assert "fc1" in printed and "mean relative error" in printed


def test_cli_basis_fit_from_weights_file(tmp_path: Path) -> None:
    workload = load_workload(WORKLOADS / "lenet5_mnist.yaml")
    weights = {f"weights/{k}": v for k, v in random_weights(workload, 3).items()}
    write_npz(tmp_path / "w.npz", weights)
    out = tmp_path / "b.npz"
    assert main(["basis", "fit", "--workload", str(WORKLOADS / "lenet5_mnist.yaml"),
                 "--weights", str(tmp_path / "w.npz"), "--out", str(out)]) == 0
    assert load_basis(out, workload).length == 9


@pytest.mark.parametrize(("extra", "start"), [
    (["--random-weights", "0", "--length", "0"], "error: --length: "),
    (["--random-weights", "0", "--nnz", "9"], "error: --nnz: "),
    (["--random-weights", "-1"], "error: --random-weights: "),
    (["--weights", "missing.npz"], "error: missing.npz: file not found"),
])
def test_cli_basis_fit_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 extra: list[str], start: str) -> None:
    out = tmp_path / "b.npz"
    code = main(["basis", "fit", "--workload", str(WORKLOADS / "mlp_digits.yaml"), *extra,
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.startswith(start) and err.count("\n") == 1, err


# --- example files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_examples_are_current(tmp_path: Path, name: str) -> None:
    """The files in workloads/ equal what the code generates (regenerate with write_shipped)."""
    workload = load_workload(WORKLOADS / f"{name}.yaml")
    shipped = load_basis(example_basis(WORKLOADS / f"{name}.yaml"), workload)
    write_example_basis(workload, tmp_path / "fresh.npz")
    fresh = load_basis(tmp_path / "fresh.npz", workload)
    assert (shipped.length, shipped.basis_size, shipped.coeff_bits) == (16, 8, 4)
    assert np.allclose(shipped.basis, fresh.basis, rtol=0, atol=1e-12)
    for layer in fresh.layers:
        assert np.array_equal(shipped.coeffs[layer], fresh.coeffs[layer])
        assert np.allclose(shipped.scales[layer], fresh.scales[layer], rtol=1e-12, atol=0)


def test_example_basis_is_generated_once_into_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XBARSIM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "tiny.yaml").write_text(dump_workload(TINY))
    path = example_basis(tmp_path / "tiny.yaml")
    assert path.parent == tmp_path / "cache" and path.name.startswith("tiny-")
    stamp = path.stat().st_mtime_ns
    assert example_basis(tmp_path / "tiny.yaml") == path and path.stat().st_mtime_ns == stamp
    assert load_basis(path, TINY).length == 9


@pytest.mark.slow
def test_resnet18_example_basis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XBARSIM_CACHE", str(tmp_path))
    path = example_basis(WORKLOADS / "resnet18_cifar100.yaml")
    workload = load_workload(WORKLOADS / "resnet18_cifar100.yaml")
    bs = load_basis(path, workload)
    assert (bs.length, bs.basis_size, bs.coeff_bits) == (9, 8, 4)
    assert len(bs.layers) == len(workload.mvm_layers)


def test_fit_reports_each_layer_in_order_and_the_example_bar_stays_off_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """``on_layer`` is called once per MVM layer in network order (the example basis's
    progress bar counts these calls) and does not change the fit; the bar is drawn only on a
    terminal."""
    workload = load_workload("workloads/lenet5_mnist.yaml")
    weights = random_weights(workload, 0)
    seen: list[str] = []
    with_calls, _ = fit_basis(workload, weights, length=16, on_layer=seen.append)
    without, _ = fit_basis(workload, weights, length=16)
    assert seen == [layer.name for layer in workload.mvm_layers]
    assert np.array_equal(with_calls.basis, without.basis)
    write_example_basis(workload, tmp_path / "b.npz", progress=True)  # stderr not a terminal
    assert capsys.readouterr().err == ""
