"""Analog coefficient combination (``basis.combine: analog``): what the basis hardware computes
when it sums bit lines per coefficient bit-plane instead of multiplying projections digitally.

The crossbar holds the integer basis ``[L, B]`` as the kernel maps weights (``levels_for_kernel``:
column ``(b*s + j)*d + p`` holds slice j, polarity p of basis vector b). For segment s, output o
and coefficient bit-plane k, ``masks[s, o, k]`` (``basis.analog_groups.bitplane_masks``) selects
the basis vectors b whose coefficient bit k is set; for every row block, DAC read r, slice j and
polarity p, the selected bit lines ``(b, j, p)`` feed one summing node whose current,
``V = sum_{b in mask} sum_l digit_r(x_l) * level[l, (b*s + j)*d + p]``, is converted by ONE ADC
conversion. Shift-and-add then forms, per output,
``y[o] = sum_{s, block, r, k, j, p} w_k * sign_p * 2**(j*cell_bits) * 2**(r*dac_bits) * ADC(V)``.

Sign convention (two's complement, ``coeff_bits`` planes): plane k < coeff_bits - 1 weighs
``w_k = +2**k``; the top plane k = coeff_bits - 1 weighs ``w_k = -2**(coeff_bits - 1)``, so
``sum_k w_k * bit_k(c) = c`` for every c in ``[-2**(coeff_bits-1), 2**(coeff_bits-1) - 1]``.
Offset encoding (d = 1) stores ``B + 2**(basis_bits-1)``: each selected bit line adds the offset
times the segment's input sum, removed digitally as ``offset * sum(x_s) * sum_k w_k * |mask|``.

ADC full scale of a summing node: the kernel's ``adc_range`` policy (``adc_full_scale``) summed
over the bit lines the node can connect. ``fixed``: the converter is built before coefficients
are known, so it covers the worst mask, all B bit lines (B times a single column's fixed range;
an ADC that never clips). ``calibrated``: the node's own largest sum, ``(2**dac_bits - 1)`` times
the target levels of its mask's bit lines in the block. A one-vector mask gets exactly the
kernel's single-column range under ``calibrated``, and under ``fixed`` when B = 1.

Device: the basis cells are the ones the digital path's kernel programs (``effective_levels32``
with the same seed and cache key: programming error, stuck cells, drift and IR drop drawn once).
Read noise: every bit line's cells carry their own noise (sd sigma per cell and digit, as in the
kernel), and every conversion is its own read (different outputs and planes are different read
steps; a bit line feeds one node per step), so a node of ``|mask|`` bit lines carries a Gaussian
of sd ``sigma * sqrt(|mask| * sum digit**2)``: one standard normal per conversion, number q of
pair row ``(n*t + r) * ceil(Q/2)`` of the stream of (read seed, row block) (``noise.py``), with
``n`` the segment vector and ``q = ((o*coeff_bits + k)*s + j)*d + p`` of ``Q`` nodes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from xbarsim.config.schema import AdcRange
from xbarsim.errors import XbarsimError
from xbarsim.functional.kernel.adc import (
    AdcTables,
    adc_full_scale,
    adc_tables,
    noisy_adc_accumulate,
    parse_enum,
)
from xbarsim.functional.kernel.checks import MAX_EXACT_BITS, validate
from xbarsim.functional.kernel.columns import levels_for_kernel
from xbarsim.functional.kernel.crossbar import AnalogCrossbar
from xbarsim.functional.kernel.float_path import effective_levels32, weights_id
from xbarsim.functional.kernel.noise import fill_normals, stream_key
from xbarsim.numba_settings import jit_inline, jit_parallel


def combine_analog(x: np.ndarray, basis: np.ndarray, masks: np.ndarray, xbar: AnalogCrossbar,
                   seeds: tuple[int, int]) -> np.ndarray:
    """y [M, O] from segment vectors x [M*S, L] (row m*S + s is segment s of vector m), the
    integer basis [L, B] on crossbars ``xbar`` and bit-plane masks [S, O, coeff_bits] (uint64).

    Cells are programmed from seeds[0], read noise drawn from seeds[1]. int64 when the result
    is integer (quantizing ADC or ideal device), float64 otherwise."""
    x, basis = validate(x, basis, xbar)
    enc, device = xbar.enc, xbar.device
    n_seg, n_out, coeff_bits = masks.shape
    vectors = x.shape[0] // n_seg
    if x.shape[0] != vectors * n_seg:
        raise ValueError(f"x has {x.shape[0]} rows (expected a multiple of S = {n_seg})")
    _check_exact(enc.input_bits, enc.weight_bits, coeff_bits, n_seg * basis.size)
    mapped = levels_for_kernel(basis, enc)
    # crossbar_mvm's cache key for these cells: the very array digital combination reads
    levels = effective_levels32(mapped.levels, device,
                                (enc.cell_bits, enc.rows, enc.cols, seeds[0]),
                                weights_id(basis, enc))
    selected = _mask_bits(masks, basis.shape[1])  # [S, O, K, B]
    width = enc.s * enc.d  # bit lines per basis vector
    adc = node_adc_tables(mapped.levels, selected, xbar)
    root_count = np.repeat(np.sqrt(selected.sum(axis=3, dtype=np.float64)), width, axis=2)
    quantize = xbar.adc_bits > 0
    blocks = adc.fs.shape[0]
    keys = np.array([stream_key(seeds[1], b) for b in range(blocks)], np.uint64)
    y = np.zeros((vectors, n_out))
    _combine_kernel(
        x.astype(np.int64, copy=False), levels.astype(np.float64),
        selected.reshape(n_seg, n_out * coeff_bits, -1), adc, quantize,
        (enc.t, enc.dac_bits, enc.rows),
        (device.read_sigma_levels(enc.cell_bits), keys, root_count.reshape(n_seg, -1)),
        node_weights(mapped.shift[:width], mapped.sign[:width], n_out, coeff_bits), y,
    )  # fmt: skip
    offset = _offset_correction(x, selected, mapped.offset)
    if quantize or device.is_ideal:
        return np.rint(y).astype(np.int64) - offset
    return y - offset


def node_adc_tables(levels: np.ndarray, selected: np.ndarray, xbar: AnalogCrossbar
                    ) -> AdcTables:
    """ADC tables [row blocks, S, Q] of the summing nodes: ``adc_full_scale`` of each bit line
    summed over the bit lines a node can connect (all B under ``fixed``, its mask otherwise)."""
    enc = xbar.enc
    adc_range = parse_enum(AdcRange, xbar.adc_range, "adc_range")
    per_line = adc_full_scale(levels, rows=enc.rows, dac_bits=enc.dac_bits,
                              cell_bits=enc.cell_bits, adc_range=adc_range)  # [blocks, C]
    n_seg, n_basis = selected.shape[0], selected.shape[3]
    reach = np.ones_like(selected) if adc_range is AdcRange.FIXED else selected
    fs = np.einsum("sokb,nbw->nsokw", reach.astype(np.float64),
                   per_line.reshape(len(per_line), n_basis, -1))
    return adc_tables(np.ascontiguousarray(fs.reshape(len(per_line), n_seg, -1)), xbar.adc_bits)


def node_weights(shift: np.ndarray, sign: np.ndarray, n_out: int, coeff_bits: int
                 ) -> np.ndarray:
    """Shift-and-add weight [Q] of node q = ((o*coeff_bits + k)*s + j)*d + p: the plane's
    two's-complement weight times the column's sign and slice shift (``shift``, ``sign`` of
    one basis vector's s*d bit lines)."""
    plane = plane_weights(coeff_bits).astype(np.float64)
    line = sign * 2.0 ** shift
    return np.tile(np.outer(plane, line).ravel(), n_out)


def plane_weights(coeff_bits: int) -> np.ndarray:
    """Two's-complement weight of each coefficient bit-plane (int64): 2**k, and
    -2**(coeff_bits - 1) for the top plane, the sign bit."""
    plane = 1 << np.arange(coeff_bits, dtype=np.int64)
    plane[-1] = -plane[-1]
    return plane


def _mask_bits(masks: np.ndarray, n_basis: int) -> np.ndarray:
    """selected[s, o, k, b] = bit b of masks[s, o, k] (uint8)."""
    bits = np.asarray(masks, np.uint64)[..., None] >> np.arange(n_basis, dtype=np.uint64)
    return (bits & np.uint64(1)).astype(np.uint8)


def _offset_correction(x: np.ndarray, selected: np.ndarray, offset: int) -> np.ndarray:
    """[M, O] int64 that offset encoding adds: offset * sum(x_s) per selected bit line, weighed
    by the planes' two's-complement weights (the same as sum_b coeff[s, o, b])."""
    n_seg, _, n_planes, _ = selected.shape
    lines = selected.sum(axis=3, dtype=np.int64) @ plane_weights(n_planes)  # [S, O]
    segment_sums = x.astype(np.int64).sum(axis=1).reshape(-1, n_seg)
    return offset * (segment_sums @ lines)


def _check_exact(input_bits: int, basis_bits: int, coeff_bits: int, terms: int) -> None:
    """Integer results stay exact in float64: input_bits + basis_bits + coeff_bits +
    ceil(log2(S * L * B)) <= MAX_EXACT_BITS (the kernel's bound)."""
    need = input_bits + basis_bits + coeff_bits + math.ceil(math.log2(max(2, terms)))
    if need > MAX_EXACT_BITS:
        raise XbarsimError(f"input_bits + basis_bits + coeff_bits + ceil(log2(S*L*B)) = {need} "
                           f"(expected <= {MAX_EXACT_BITS} so analog combination stays exact)",
                           key="basis.combine")


@jit_parallel
def _combine_kernel(x, levels, selected, adc, quantize, geometry, noise, weights, y):
    """y[m, o] += weights[q] * sum over segments, row blocks and reads r of 2**(r*dac_bits) *
    ADC(node q's sum + noise), for the nodes q of output o; per segment, vectors split over
    threads."""
    reads, dac_bits, rows = geometry
    sigma, keys, root_count = noise
    fs, gain, lsb = adc
    n_seg, n_sel, n_basis = selected.shape
    L = levels.shape[0]
    width = levels.shape[1] // n_basis
    Q = n_sel * width
    per_out = Q // y.shape[1]
    pairs = (Q + 1) // 2
    digit_mask = (1 << dac_bits) - 1
    for s in range(n_seg):
        node_levels = _node_levels(levels, selected[s], width)
        for m in prange(y.shape[0]):
            n = m * n_seg + s
            nodes = np.empty(Q)
            normals = np.zeros(Q)
            scaled = np.zeros(Q)
            acc = np.zeros(Q)
            for b in range(fs.shape[0]):
                k0, k1 = b * rows, min(L, (b + 1) * rows)
                for r in range(reads):
                    sumsq = _node_sums(x[n], node_levels, k0, k1, r * dac_bits, digit_mask, nodes)
                    sd = sigma * np.sqrt(sumsq)
                    if sd > 0.0:
                        fill_normals(keys[b], np.uint64((n * reads + r) * pairs), normals)
                        for q in range(Q):  # |mask| bit lines: variance |mask| * sd**2
                            scaled[q] = normals[q] * root_count[s, q]
                    noisy_adc_accumulate(acc, nodes, scaled, sd, (fs[b, s], gain[b, s], lsb[b, s]),
                                         quantize, float(1 << (r * dac_bits)))  # fmt: skip
            for q in range(Q):
                y[m, q // per_out] += weights[q] * acc[q]


@jit_parallel
def _node_levels(levels, selected, width):
    """[L, Q] level each row adds to node i*width + w: the levels of bit line w (slice and
    polarity) of every basis vector b in node i's mask (i = o*coeff_bits + k), summed in b
    order."""
    L = levels.shape[0]
    out = np.zeros((L, selected.shape[0] * width))
    for i in prange(selected.shape[0]):
        for b in range(selected.shape[1]):
            if selected[i, b]:
                for row in range(L):
                    for w in range(width):
                        out[row, i * width + w] += levels[row, b * width + w]
    return out


@jit_inline
def _node_sums(xn, node_levels, k0, k1, shift, digit_mask, out):
    """out[q] = sum over rows k0..k1 of digit * node_levels[row, q] for the digits
    (xn >> shift) & digit_mask: each node's current; returns the digits' sum of squares."""
    out[:] = 0.0
    sumsq = 0
    for row in range(k0, k1):
        digit = (xn[row] >> shift) & digit_mask
        sumsq += digit * digit
        if digit:
            for q in range(out.shape[0]):
                out[q] += digit * node_levels[row, q]
    return sumsq
