"""Seeds of the functional model's random draws, derived from the run's seed and a position."""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """A 32-bit seed from a tuple of non-negative ints (numpy SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])
