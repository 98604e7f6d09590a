"""Numba compilation flags for every analog kernel, kept in one place."""

from __future__ import annotations

from typing import Final

from numba import njit

CACHE: Final = True
"""Cache compiled code next to the module, so only the first run pays the compile time."""
FASTMATH: Final = False
"""Exactness: the ideal kernel must reproduce x @ w bit for bit and the ADC rounding must match
the NumPy reference operation for operation, so no reassociation or fast reciprocals."""
ERROR_MODEL: Final = "numpy"
"""NumPy semantics for x / 0 (inf/nan, no exception check): keeps the ADC loops vectorizable."""
NOGIL: Final = True
"""Release the GIL, so callers may run kernels from several threads."""

jit = njit(cache=CACHE, fastmath=FASTMATH, error_model=ERROR_MODEL, nogil=NOGIL)
"""Decorator for serial kernels."""

jit_inline = njit(
    cache=CACHE, fastmath=FASTMATH, error_model=ERROR_MODEL, nogil=NOGIL, inline="always"
)
"""Decorator for small inner loops that must be inlined into their caller to vectorize."""

jit_parallel = njit(
    cache=CACHE, fastmath=FASTMATH, error_model=ERROR_MODEL, nogil=NOGIL, parallel=True
)
"""Decorator for kernels that split the input vectors over threads with ``prange``."""
