"""A global basis with per-layer quantized coefficients (docs/design.md section 4), and the segment
convention shared by fitting, reconstruction and the basis dataflow.

Segment convention: a kernel's fan-in vector of length K = (C / groups) * kh * kw, ordered
``c, i, j`` row-major over ``[C / groups, kh, kw]`` (a linear layer's row as is), is cut into
S = ceil(K / L) segments of length L, the last one zero-padded. Segment s of output o is
approximated by ``scale[o] * sum_b coeff[s, o, b] * basis[:, b]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from xbarsim.errors import XbarsimError
from xbarsim.workload import Workload
from xbarsim.workload.weights import unknown_layer_message, weight_shape

MAX_BITS = 32
"""Largest ``basis_bits`` / ``coeff_bits`` (coefficients are stored as at most int32)."""


def num_segments(fan_in: int, length: int) -> int:
    """S = ceil(K / L), the segments of one fan-in vector."""
    return -(-fan_in // length)


def to_segments(weights: np.ndarray, length: int) -> np.ndarray:
    """Weights ``[O, ...]`` -> float64 segments ``[S, O, L]`` (row-major fan-in, zero-padded)."""
    flat = weights.reshape(weights.shape[0], -1)
    outputs, fan_in = flat.shape
    padded = np.zeros((outputs, num_segments(fan_in, length) * length))
    padded[:, :fan_in] = flat
    return padded.reshape(outputs, -1, length).transpose(1, 0, 2)


def from_segments(segments: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``to_segments``: segments ``[S, O, L]`` -> weights of ``shape`` (pad dropped)."""
    outputs = segments.shape[1]
    flat = segments.transpose(1, 0, 2).reshape(outputs, -1)
    fan_in = int(np.prod(shape[1:]))
    return np.ascontiguousarray(flat[:, :fan_in]).reshape(shape)


def coeff_range(bits: int) -> tuple[int, int]:
    """Two's complement range ``(-2**(bits-1), 2**(bits-1) - 1)`` of a ``bits``-bit integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def coeff_dtype(bits: int) -> type[np.signedinteger]:
    """The smallest signed integer dtype holding ``bits``-bit coefficients."""
    return np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32


@dataclass(frozen=True, eq=False)
class BasisSet:
    """One basis ``[L, B]`` shared by all layers plus each MVM layer's coefficients and scales.

    Construction checks the arrays against each other (not against a workload: see
    ``check_workload``); errors are ``XbarsimError`` whose key is the NPZ key at fault.
    """

    basis: np.ndarray
    """Basis vectors as columns, ``[L, B]`` float (values as written to cells)."""
    basis_bits: int
    """Bits the basis values are quantized to when written to cells."""
    coeff_bits: int
    """Bits of the signed (two's complement) coefficients."""
    coeffs: Mapping[str, np.ndarray]
    """Per MVM layer, integer coefficients ``[S, out_channels, B]``."""
    scales: Mapping[str, np.ndarray]
    """Per MVM layer, float scale: scalar or per output channel ``[out_channels]``."""
    length: int
    """L, the basis-vector (segment) length."""

    def __post_init__(self) -> None:
        _check_header(self)
        for name in self.coeffs:
            if name not in self.scales:
                raise XbarsimError("missing (expected a scale for every coeff/<layer>)",
                                   key=f"scale/{name}")
        for name in self.scales:
            if name not in self.coeffs:
                raise XbarsimError("missing (expected coefficients for every scale/<layer>)",
                                   key=f"coeff/{name}")
            _check_layer(self, name)

    @property
    def basis_size(self) -> int:
        """B, the number of basis vectors."""
        return int(self.basis.shape[1])

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the layers with coefficients, in file (workload) order."""
        return tuple(self.coeffs)

    def segments(self, layer: str) -> int:
        """S, the segments per output of ``layer``."""
        return int(self.coeffs[layer].shape[0])

    def nnz(self, layer: str) -> np.ndarray:
        """Nonzero coefficients per (segment, output), ``[S, out_channels]`` int."""
        return np.count_nonzero(self.coeffs[layer], axis=2)

    def nnz_total(self, layer: str) -> int:
        """All nonzero coefficients of ``layer`` (digital MACs per output pixel)."""
        return int(np.count_nonzero(self.coeffs[layer]))

    def channel_scales(self, layer: str) -> np.ndarray:
        """The scale of ``layer`` broadcast to one float per output channel."""
        return np.broadcast_to(self.scales[layer], (self.coeffs[layer].shape[1],))

    def reconstruct_segments(self, layer: str) -> np.ndarray:
        """Approximated segments ``[S, out_channels, L]`` (float64)."""
        coeff = self.coeffs[layer]
        flat = coeff.reshape(-1, coeff.shape[2]).astype(np.float64)
        segments = (flat @ self.basis.T.astype(np.float64)).reshape(*coeff.shape[:2], -1)
        return segments * self.channel_scales(layer)[:, None]

    def reconstruct(self, layer_name: str, workload: Workload) -> np.ndarray:
        """Approximated weights of a layer: conv ``[O, C/g, kh, kw]``, linear ``[O, K]``."""
        shape = weight_shape(workload.layer(layer_name))
        return from_segments(self.reconstruct_segments(layer_name), shape)


def _check_header(bs: BasisSet) -> None:
    """Bits, length and the basis array."""
    for key in ("basis_bits", "coeff_bits"):
        value = getattr(bs, key)
        if not _is_int(value) or not 2 <= value <= MAX_BITS:
            raise XbarsimError(f"expected an integer in 2..{MAX_BITS}, got {value!r}", key=key)
    if not _is_int(bs.length) or bs.length < 1:
        raise XbarsimError(f"expected a positive integer, got {bs.length!r}", key="length")
    basis = bs.basis
    if not isinstance(basis, np.ndarray) or basis.dtype.kind != "f" or basis.ndim != 2:
        raise XbarsimError(f"expected a 2-D float array [L, B], got {_describe(basis)}",
                           key="basis")
    if basis.shape[0] != bs.length or basis.shape[1] < 1:
        raise XbarsimError(f"shape {list(basis.shape)} (expected [{bs.length}, B] with "
                           f"length {bs.length} and B >= 1)", key="basis")
    if not np.isfinite(basis).all():
        raise XbarsimError("contains NaN or infinite values (expected finite numbers)",
                           key="basis")


def _check_layer(bs: BasisSet, name: str) -> None:
    """One layer's coefficient array (integer, 3-D, B columns, in range) and scale."""
    coeff, key = bs.coeffs[name], f"coeff/{name}"
    if not isinstance(coeff, np.ndarray) or coeff.dtype.kind not in "iu" or coeff.ndim != 3:
        raise XbarsimError(f"expected a 3-D integer array [S, out_channels, B], got "
                           f"{_describe(coeff)}", key=key)
    if coeff.shape[2] != bs.basis_size:
        raise XbarsimError(f"shape {list(coeff.shape)}: {coeff.shape[2]} coefficients per "
                           f"segment (expected B = {bs.basis_size}, the basis vectors)", key=key)
    low, high = coeff_range(bs.coeff_bits)
    if coeff.size and (coeff.min() < low or coeff.max() > high):
        raise XbarsimError(f"values {coeff.min()}..{coeff.max()} do not fit coeff_bits = "
                           f"{bs.coeff_bits} (expected {low}..{high})", key=key)
    _check_scale(bs.scales[name], coeff.shape[1], f"scale/{name}")


def _check_scale(scale: object, outputs: int, key: str) -> None:
    """A finite non-negative float scalar or ``[out_channels]`` vector."""
    if not isinstance(scale, np.ndarray) or scale.dtype.kind not in "fiu":
        raise XbarsimError(f"expected a float scalar or [out_channels] array, got "
                           f"{_describe(scale)}", key=key)
    if scale.shape not in ((), (outputs,)):
        raise XbarsimError(f"shape {list(scale.shape)} (expected a scalar or [{outputs}], one "
                           "scale per output channel)", key=key)
    if not np.isfinite(scale).all() or (scale < 0).any():
        raise XbarsimError("expected finite non-negative values", key=key)


def check_workload(bs: BasisSet, workload: Workload) -> None:
    """Coefficients exist for exactly the workload's MVM layers, each ``[ceil(K/L), O, B]``."""
    mvm = {layer.name: layer for layer in workload.mvm_layers}
    for name in bs.coeffs:
        if name not in mvm:
            raise XbarsimError(unknown_layer_message(name, workload), key=f"coeff/{name}")
    for name, layer in mvm.items():
        key = f"coeff/{name}"
        if name not in bs.coeffs:
            raise XbarsimError(f"missing (expected coefficients for every conv and linear "
                               f"layer of workload {workload.name})", key=key)
        expected = (num_segments(layer.fan_in, bs.length), layer.out_channels, bs.basis_size)
        got = bs.coeffs[name].shape
        if got != expected:
            raise XbarsimError(f"shape {list(got)} (expected {list(expected)}: S = ceil(K/L) = "
                               f"ceil({layer.fan_in}/{bs.length}), out_channels, B)", key=key)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {list(value.shape)}"
    return type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
