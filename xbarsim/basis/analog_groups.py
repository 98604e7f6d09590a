"""Output groups for analog coefficient combination (docs/design.md section 6, ``combine: analog``).

For coefficient bit-plane k of segment s, output o sums the bit lines of the basis vectors whose
coefficient bit k is set (its *mask*) and converts the sum once. Two outputs can share a step only
if their masks are disjoint (a bit line feeds one summing node at a time). The steps per
bit-plane come from greedy colouring of the outputs in index order: each output joins the first
step whose union of masks it does not intersect (first-fit; at least the largest number of
outputs using one basis vector, at most the number of outputs with a nonempty mask).
"""

from __future__ import annotations

import numpy as np

from xbarsim.errors import XbarsimError
from xbarsim.numba_settings import jit

MAX_BASIS_VECTORS = 64
"""Masks are 64-bit words."""


def bitplane_masks(coeff: np.ndarray, coeff_bits: int) -> np.ndarray:
    """``masks[s, o, k]``: bit b set when bit k of coeff[s, o, b] (two's complement) is set."""
    b = coeff.shape[2]
    if b > MAX_BASIS_VECTORS:
        raise XbarsimError(f"analog combination supports at most {MAX_BASIS_VECTORS} basis "
                           f"vectors (got {b}; use basis.combine: digital)", key="basis.combine")
    pattern = coeff.astype(np.int64) & ((1 << coeff_bits) - 1)
    bits = (pattern[..., None] >> np.arange(coeff_bits)) & 1  # [S, O, B, k]
    weights = np.left_shift(np.uint64(1), np.arange(b, dtype=np.uint64))
    return np.einsum("sobk,b->sok", bits.astype(np.uint64), weights).astype(np.uint64)


@jit
def _first_fit(masks: np.ndarray, steps: np.ndarray, active: np.ndarray) -> None:
    """Greedy colouring of each (segment, bit-plane) column of ``masks[S, O, K]``."""
    n_seg, n_out, n_planes = masks.shape
    unions = np.zeros(n_out, dtype=np.uint64)
    for s in range(n_seg):
        for k in range(n_planes):
            groups = 0
            used = 0
            for o in range(n_out):
                m = masks[s, o, k]
                if m == 0:
                    continue
                used += 1
                placed = False
                for g in range(groups):
                    if unions[g] & m == 0:
                        unions[g] |= m
                        placed = True
                        break
                if not placed:
                    unions[groups] = m
                    groups += 1
            steps[s, k] = groups
            active[s, k] = used


def analog_steps(coeff: np.ndarray, coeff_bits: int, groups: int) -> tuple[int, int]:
    """Per input vector of a layer: (conversion steps, active output-planes) summed over
    layer groups, segments and bit-planes. ``coeff`` is ``[S, out_channels, B]``."""
    masks = bitplane_masks(coeff, coeff_bits)
    per_group = masks.shape[1] // groups
    steps_total = active_total = 0
    for g in range(groups):
        part = np.ascontiguousarray(masks[:, g * per_group:(g + 1) * per_group, :])
        steps = np.zeros((part.shape[0], coeff_bits), dtype=np.int64)
        active = np.zeros_like(steps)
        _first_fit(part, steps, active)
        steps_total += int(steps.sum())
        active_total += int(active.sum())
    return steps_total, active_total
