"""Fitting one global basis shared by all layers, and quantized per-layer coefficients.

Method (``fit_basis``):

1. Cut every kernel's fan-in vector of every MVM layer into length-L segments (the convention of
   ``basis_set``). Layer l's segments are weighted by 1 / ||W_l||_F, so each layer counts equally
   whatever its size or weight magnitude (otherwise the largest layers alone would pick the basis).
2. The basis is the top-B right singular vectors of the stacked weighted segments, i.e. the top-B
   eigenvectors of their L x L Gram matrix. Why: by Eckart-Young this is the rank-B subspace with
   the least total squared projection error, here sum_l ||W_l - W_l P||^2 / ||W_l||^2 (the summed
   squared relative error before quantization); it is closed form and deterministic (no random
   start as in k-means or dictionary learning), and nested in B (the B-vector basis is a prefix of
   the (B+1)-vector one). The Gram matrix is accumulated over chunks of output channels, so time
   is O(weights * L) and memory O(L^2 + one chunk): every segment is used, no sampling is needed,
   even for ImageNet networks. Signs are fixed so each vector's largest-magnitude entry (the first
   one on ties) is positive.
3. The basis is quantized to ``basis_bits`` (symmetric, one max-abs step for the whole matrix, as
   cells share one conductance range). Coefficients are least-squares fits of each segment on the
   quantized basis; with ``nnz = k`` only the k largest |coefficients| of a segment are kept and
   refitted by least squares on those k vectors. They are then quantized to ``coeff_bits`` with a
   symmetric max-abs scale per output channel (levels -(2^(b-1)-1) .. 2^(b-1)-1, round to nearest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

from xbarsim.basis.basis_set import MAX_BITS, BasisSet, coeff_dtype, to_segments
from xbarsim.errors import XbarsimError
from xbarsim.workload import Workload
from xbarsim.workload.weights import check_weights

CHUNK_ELEMENTS = 1 << 22
"""Weights processed at once (float64), bounding memory for very large layers."""


def fit_basis(workload: Workload, weights: Mapping[str, np.ndarray], length: int = 9,
              basis_size: int = 8, coeff_bits: int = 4, basis_bits: int = 8,
              nnz: int | None = None, on_layer: Callable[[str], None] | None = None
              ) -> tuple[BasisSet, dict[str, float]]:
    """Fit a basis set to ``weights``; also return each layer's ||W - W_hat||_F / ||W||_F.

    The fit uses every segment and is deterministic: the same weights give the same basis.
    ``on_layer(name)`` is called as each layer's coefficients are fitted (a progress bar).
    """
    _check_params(length, basis_size, coeff_bits, basis_bits, nnz)
    check_weights(weights, workload)
    layers = [layer.name for layer in workload.mvm_layers]
    basis = principal_basis([weights[name] for name in layers], length, basis_size)
    basis = quantize_basis(basis, basis_bits)
    coeffs, scales, errors = {}, {}, {}
    for name in layers:
        coeffs[name], scales[name], errors[name] = fit_layer(weights[name], basis, coeff_bits, nnz)
        if on_layer is not None:
            on_layer(name)
    basis_set = BasisSet(basis=basis, basis_bits=basis_bits, coeff_bits=coeff_bits,
                         coeffs=coeffs, scales=scales, length=length)
    return basis_set, errors


def _check_params(length: int, basis_size: int, coeff_bits: int, basis_bits: int,
                  nnz: int | None) -> None:
    """Each parameter is an integer in its range; keys are the parameter names."""
    limits = {"length": (length, 1, None), "basis_size": (basis_size, 1, length),
              "coeff_bits": (coeff_bits, 2, MAX_BITS), "basis_bits": (basis_bits, 2, MAX_BITS)}
    if nnz is not None:
        limits["nnz"] = (nnz, 1, basis_size)
    for key, (value, low, high) in limits.items():
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or value < low or (high is not None and value > high):
            upper = f"..{high}" if high is not None else " or more"
            raise XbarsimError(f"got {value!r} (expected an integer {low}{upper})", key=key)


def _chunks(weights: np.ndarray) -> Iterator[np.ndarray]:
    """Slices of whole output channels, about ``CHUNK_ELEMENTS`` weights each."""
    rows = max(1, CHUNK_ELEMENTS // max(1, weights[0].size))
    for start in range(0, weights.shape[0], rows):
        yield weights[start:start + rows]


def principal_basis(weights: list[np.ndarray], length: int, basis_size: int) -> np.ndarray:
    """Top-``basis_size`` eigenvectors ``[L, B]`` of the layer-normalized segment Gram matrix."""
    gram = np.zeros((length, length))
    for tensor in weights:
        layer_gram = np.zeros((length, length))
        for chunk in _chunks(tensor):
            flat = to_segments(chunk, length).reshape(-1, length)
            layer_gram += flat.T @ flat
        energy = np.trace(layer_gram)  # = ||W_l||_F^2 (padding adds zeros)
        if energy > 0:
            gram += layer_gram / energy
    _, vectors = np.linalg.eigh(gram)
    basis = vectors[:, ::-1][:, :basis_size]
    peaks = basis[np.argmax(np.abs(basis), axis=0), np.arange(basis_size)]
    return np.ascontiguousarray(basis * np.where(peaks < 0, -1.0, 1.0))


def quantize_basis(basis: np.ndarray, bits: int) -> np.ndarray:
    """Round to ``bits``-bit symmetric levels with one max-abs step (values as on the cells)."""
    peak = float(np.abs(basis).max(initial=0.0))
    if peak == 0:
        return basis.astype(np.float64)
    step = peak / ((1 << (bits - 1)) - 1)
    return np.rint(basis / step) * step


def quantize_coefficients(coeffs: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Float ``[S, O, B]`` -> (integers, per-output scale ``[O]``); symmetric max-abs, nearest."""
    top = (1 << (bits - 1)) - 1
    scale = np.abs(coeffs).max(axis=(0, 2)) / top
    safe = np.where(scale > 0, scale, 1.0)
    levels = np.clip(np.rint(coeffs / safe[None, :, None]), -top, top)
    return levels.astype(coeff_dtype(bits)), scale


def fit_coefficients(segments: np.ndarray, basis: np.ndarray, nnz: int | None) -> np.ndarray:
    """Least-squares coefficients ``[n, B]`` of segments ``[n, L]``; at most ``nnz`` nonzero."""
    coeffs = segments @ np.linalg.pinv(basis).T
    if nnz is None or nnz >= basis.shape[1]:
        return coeffs
    keep = np.argsort(-np.abs(coeffs), axis=1, kind="stable")[:, :nnz]
    gram = basis.T @ basis
    sub = gram[keep[:, :, None], keep[:, None, :]]
    rhs = np.take_along_axis(segments @ basis, keep, axis=1)
    solved = (np.linalg.pinv(sub, hermitian=True) @ rhs[:, :, None])[:, :, 0]
    sparse = np.zeros_like(coeffs)
    np.put_along_axis(sparse, keep, solved, axis=1)
    return sparse


def fit_layer(weights: np.ndarray, basis: np.ndarray, coeff_bits: int,
              nnz: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    """A layer's quantized coefficients ``[S, O, B]``, scales ``[O]`` and relative error."""
    length, size = basis.shape
    levels, scales = [], []
    error = energy = 0.0
    for chunk in _chunks(weights):
        segments = to_segments(chunk, length)
        flat = fit_coefficients(segments.reshape(-1, length), basis, nnz)
        q, scale = quantize_coefficients(flat.reshape(*segments.shape[:2], size), coeff_bits)
        approx = (q.reshape(-1, size).astype(np.float64) @ basis.T).reshape(segments.shape)
        approx *= scale[:, None]
        error += float(np.sum((segments - approx) ** 2))
        energy += float(np.sum(segments**2))
        levels.append(q)
        scales.append(scale)
    relative = float(np.sqrt(error / energy)) if energy > 0 else 0.0 if error == 0 else np.inf
    return np.concatenate(levels, axis=1), np.concatenate(scales), relative
