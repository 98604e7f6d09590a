"""Integer helpers shared by every model."""

from __future__ import annotations

import math


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of a / b for positive b."""
    return -(-a // b)


def nbytes(elements: float, bits: int) -> int:
    """Bytes holding ``elements`` values of ``bits`` bits (ceil)."""
    return math.ceil(elements * bits / 8 - 1e-9) if elements > 0 else 0


def even_split(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` integers differing by at most one, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def proportional_split(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights``, exactly (largest remainder)."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [0] * len(weights)
    if len(weights) == 1:
        return [total]
    if len(weights) == 2:  # the common case (a span held by two tiles): one share at most left
        a, b = total * weights[0], total * weights[1]
        first, second = a // weight_sum, b // weight_sum
        if first + second < total:
            if a % weight_sum >= b % weight_sum:
                first += 1
            else:
                second += 1
        return [first, second]
    shares = [total * w // weight_sum for w in weights]
    left = total - sum(shares)
    if left:
        order = sorted(range(len(weights)), key=lambda i: -(total * weights[i] % weight_sum))
        for i in order[:left]:
            shares[i] += 1
    return shares
