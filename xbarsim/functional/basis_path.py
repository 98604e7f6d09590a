"""What the basis hardware computes (``functional --dataflow basis``): the crossbars hold the
global basis, every length-L input segment is projected onto it, and the projections are
combined with the layer's quantized coefficients.

- The basis ``[L, B]`` is written to cells at ``basis_bits`` (quantized like weights: its
  largest magnitude to the top code of the chip's encoding at that width); inputs are the
  layer's re-quantized activations, cut into the segments of ``basis.basis_set``'s convention.
  One programmed basis serves every layer (it is written once); each call draws its own read
  noise.
- Exact path: projections ``P[m, s, b] = sum_l x[m, s*L + l] * B_int[l, b]`` and their exact
  combination ``y[m, o] = sum_s sum_b coeff[s, o, b] * P[m, s, b]``, whichever the combination
  (both give the same integers).
- Digital combination (``basis.combine: digital``): one crossbar-kernel call per layer part and
  group over all segments (``M*S`` vectors of length L), with the chip's device model, noise and
  ADC, then the exact integer multiply-accumulate of the converted projections.
- Analog combination (``basis.combine: analog``, ``analog_combine.py``): per segment, output
  and two's-complement coefficient bit-plane, the bit lines of the basis vectors whose
  coefficient bit is set are summed on one node and converted once, then shifted and added.
Either way the result returns to real units as ``y * s_x * s_basis * scale[o]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from xbarsim.basis.analog_groups import bitplane_masks
from xbarsim.basis.basis_set import BasisSet
from xbarsim.basis.copies import basis_encoding
from xbarsim.config.schema import Combine
from xbarsim.functional.analog_combine import combine_analog
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.functional.kernel.wrapper import Method, crossbar_mvm, exact_mvm
from xbarsim.functional.layers import weight_scale
from xbarsim.functional.seeds import derive_seed
from xbarsim.mapping.encoding import Encoding
from xbarsim.mapping.weights_map import group_matrices, integer_weights
from xbarsim.workload import Layer, Workload

BASIS_PROGRAM_KEY = 0xB4515
"""Seed key of the one programmed basis (mixed with the run's seed)."""


class BasisGroup(NamedTuple):
    """One group of a layer as the basis hardware holds it."""

    basis: np.ndarray
    """Integer basis ``[L, B]`` as written to cells (int64)."""
    coeff: np.ndarray
    """Integer coefficients ``[S, O_group, B]`` (int64)."""
    masks: np.ndarray | None = None
    """Analog combination: bit-plane masks ``[S, O_group, coeff_bits]`` (``bitplane_masks``,
    bit b set when bit k of coeff[s, o, b] is); None when the projections combine digitally."""


class BasisLayer(NamedTuple):
    """One MVM layer's basis form: per-group integer operands and the real-unit scales."""

    float_groups: list[np.ndarray]
    """Per group, the reconstructed float weights ``[K, O/G]`` (the float path)."""
    groups: list[BasisGroup]
    """Per group, the integer basis and coefficients (the exact and analog paths)."""
    scale: np.ndarray
    """Real value of one integer output step per output channel: s_basis * scale[o]."""


def prepare_basis_layer(layer: Layer, basis_set: BasisSet, workload: Workload,
                        enc: Encoding, combine: Combine) -> BasisLayer:
    """The basis form of ``layer``; under analog combination its groups carry the coefficients'
    bit-plane masks too."""
    basis_int = integer_weights(basis_set.basis, basis_encoding(enc, basis_set.basis_bits))
    s_basis = weight_scale(basis_set.basis, basis_int)
    coeff = np.asarray(basis_set.coeffs[layer.name], dtype=np.int64)  # [S, O, B]
    per = layer.out_per_group
    parts = [coeff[:, g * per:(g + 1) * per, :] for g in range(layer.groups)]
    groups = [BasisGroup(basis_int, c, bitplane_masks(c, basis_set.coeff_bits)
                         if combine is Combine.ANALOG else None) for c in parts]
    float_w = basis_set.reconstruct(layer.name, workload)
    return BasisLayer(group_matrices(float_w, layer), groups,
                      s_basis * np.asarray(basis_set.channel_scales(layer.name), dtype=float))


def segments(x: np.ndarray, length: int) -> np.ndarray:
    """Inputs ``[M, K]`` -> ``[M * S, L]`` segment vectors (the last one zero-padded)."""
    m, k = x.shape
    s = -(-k // length)
    padded = np.zeros((m, s * length), dtype=x.dtype)
    padded[:, :k] = x
    return padded.reshape(m * s, length)


def combine_digital(projections: np.ndarray, coeff: np.ndarray) -> np.ndarray:
    """``y[m, o] = sum_s sum_b coeff[s, o, b] * P[m, s, b]`` from ``P`` ``[M * S, B]``; exact
    in int64 for integer projections, float64 otherwise."""
    s, _, b = coeff.shape
    p = projections.reshape(-1, s * b)
    w = coeff.transpose(0, 2, 1).reshape(s * b, -1)  # [(s, b), O]
    if not np.issubdtype(p.dtype, np.integer):
        return p @ w.astype(np.float64)
    # Every partial sum is bounded by max|P| * max_o sum|coeff[:, o, :]|; below 2**53 float64
    # BLAS is exact in any order (and ~50x faster than NumPy's integer matmul).
    peak = int(np.abs(p).max(initial=0)) * int(np.abs(w).sum(axis=0).max(initial=0))
    if peak < 1 << 53:
        return np.rint(p.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return p.astype(np.int64) @ w


def exact_basis_matmul(x: np.ndarray, group: BasisGroup, key: tuple[int, ...]) -> np.ndarray:
    """The ideal basis hardware: exact projections, exact digital combination."""
    length = group.basis.shape[0]
    return combine_digital(exact_mvm(segments(x, length), group.basis), group.coeff)


def analog_basis_matmul(xbar: AnalogCrossbar, basis_bits: int, seed: int, index: int,
                        method: str | Method
                        ) -> Callable[[np.ndarray, BasisGroup, tuple[int, ...]], np.ndarray]:
    """The basis hardware of layer ``index`` (basis cells at ``basis_bits``), as each group
    combines: with masks, analog combination (``combine_analog``); without, projections through
    the crossbar kernel (``method``) and the exact digital combination of what the ADCs return."""
    cells = dataclasses.replace(xbar, enc=basis_encoding(xbar.enc, basis_bits))
    program_seed = derive_seed(seed, BASIS_PROGRAM_KEY)

    def matmul(x: np.ndarray, group: BasisGroup, key: tuple[int, ...]) -> np.ndarray:
        segs = segments(x, group.basis.shape[0])
        read_seed = derive_seed(seed, index, *key)
        if group.masks is not None:
            return combine_analog(segs, group.basis, group.masks, cells, (program_seed, read_seed))
        projections = crossbar_mvm(segs, group.basis, cells, seed=program_seed,
                                   read_seed=read_seed, method=method)
        return combine_digital(projections, group.coeff)
    return matmul
