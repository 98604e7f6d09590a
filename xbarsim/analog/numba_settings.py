"""Numba compilation flags for every analog kernel, kept in one place (STYLE 9)."""

from __future__ import annotations

from numba import njit

JIT_OPTIONS: dict[str, object] = {
    # Compiled code is cached next to the module, so only the first run pays the compile time.
    "cache": True,
    # Exactness: the ideal kernel must reproduce x @ w bit for bit, and the ADC rounding must
    # match the NumPy reference operation for operation, so no reassociation or fast reciprocals.
    "fastmath": False,
    # NumPy semantics for x / 0 (inf/nan, no exception check): keeps the ADC loop vectorizable.
    "error_model": "numpy",
    # Release the GIL so callers may run several kernels from threads.
    "nogil": True,
}
"""Flags shared by all analog kernels."""

jit = njit(**JIT_OPTIONS)
"""Decorator for serial kernels."""

jit_inline = njit(inline="always", **JIT_OPTIONS)
"""Decorator for small inner loops that must be inlined into their caller to vectorize."""

jit_parallel = njit(parallel=True, **JIT_OPTIONS)
"""Decorator for kernels that split the input vectors over threads with ``prange``."""
