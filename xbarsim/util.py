"""Integer helpers shared by every model."""

from __future__ import annotations

import math


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of a / b for positive b."""
    return -(-a // b)


def nbytes(elements: float, bits: int) -> int:
    """Bytes holding ``elements`` values of ``bits`` bits (ceil)."""
    return math.ceil(elements * bits / 8 - 1e-9) if elements > 0 else 0
