"""Counter-based Gaussian read noise: z = f(key, counter), the same in numba and NumPy.

Why counter-based: every read of every column and vector gets its own standard normal, and a
stateful generator per thread would tie the values to the thread count and the chunking. Here
the value depends only on (key, counter), so results are deterministic per seed whatever the
threads, and tests/naive_analog.py reproduces the kernel's noisy output exactly with
``normal_pairs_numpy``.

Generator: a splitmix64 hash of ``key + counter * golden`` gives 64 bits per counter; Box-Muller
turns them into two normals (40 bits for the radius, so |z| reaches 7.4 sigma; 24 bits for the
angle). log, sin and cos are written as polynomials on bit-level range reductions, so LLVM
vectorizes the numba loop (libm calls would not); every step is an IEEE operation in a fixed
order (no fast-math), which is what makes the NumPy twin bit-identical. Accuracy: log, sin and
cos within a few ulp of float64, far below what read-noise modelling needs.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from xbarsim.numba_settings import jit, jit_inline

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_LN2 = 0.6931471805599453
_TWO_PI_24 = 2.0 * np.pi / 2.0**24  # radians per angle step (24-bit angle)
_LOG_COEF = tuple(1.0 / (2 * k + 1) for k in range(10))  # 2 atanh(s) = 2 s sum s^2k / (2k+1)
_SIN_COEF = tuple((-1.0) ** k / float(np.prod(np.arange(1, 2 * k + 2))) for k in range(12))
_COS_COEF = tuple((-1.0) ** k / float(np.prod(np.arange(1, 2 * k + 1))) for k in range(12))
# Horner's rule unrolled by hand below (numba indexes a tuple with a loop variable through a
# branch per element, which stops vectorization); _check_coefficients ties both to the tuples.


def _bits_typer(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


def _float_typer(typingctx, i):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_PYTHON = getattr(numba.config, "DISABLE_JIT", False)
"""Pure-Python runs (NUMBA_DISABLE_JIT=1, coverage): bit casts through NumPy views."""
_as_int: Any = (lambda x: np.float64(x).view(np.int64)) if _PYTHON else intrinsic(_bits_typer)
"""The bits of a float64 as int64."""
_as_float: Any = (lambda i: np.int64(i).view(np.float64)) if _PYTHON else intrinsic(_float_typer)
"""The float64 whose bits are an int64."""


@jit_inline
def _mix(z):
    """splitmix64 finalizer: 64 well-mixed bits from a uint64."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit_inline
def _log_poly(x):
    """sum_k _LOG_COEF[k] * x**k (Horner)."""
    p = 0.05263157894736842
    p = p * x + 0.058823529411764705
    p = p * x + 0.06666666666666667
    p = p * x + 0.07692307692307693
    p = p * x + 0.09090909090909091
    p = p * x + 0.1111111111111111
    p = p * x + 0.14285714285714285
    p = p * x + 0.2
    p = p * x + 0.3333333333333333
    p = p * x + 1.0
    return p


@jit_inline
def _sin_poly(x):
    """sum_k _SIN_COEF[k] * x**k (Horner): sin(phi) = phi * _sin_poly(phi**2)."""
    p = -1.2302708207447328e-19
    p = p * x + -2.353334294364486e-19
    p = p * x + -8.22063524662433e-18
    p = p * x + 2.8114572543455206e-15
    p = p * x + -7.647163731819816e-13
    p = p * x + 1.6059043836821613e-10
    p = p * x + -2.505210838544172e-08
    p = p * x + 2.7557319223985893e-06
    p = p * x + -0.0001984126984126984
    p = p * x + 0.008333333333333333
    p = p * x + -0.16666666666666666
    p = p * x + 1.0
    return p


@jit_inline
def _cos_poly(x):
    """sum_k _COS_COEF[k] * x**k (Horner): cos(phi) = _cos_poly(phi**2)."""
    p = 7.995773634431128e-19
    p = p * x + 4.110317623312165e-19
    p = p * x + -1.5619206968586225e-16
    p = p * x + 4.779477332387385e-14
    p = p * x + -1.1470745597729725e-11
    p = p * x + 2.08767569878681e-09
    p = p * x + -2.755731922398589e-07
    p = p * x + 2.48015873015873e-05
    p = p * x + -0.001388888888888889
    p = p * x + 0.041666666666666664
    p = p * x + -0.5
    p = p * x + 1.0
    return p


@jit_inline
def _log(u):
    """ln(u) for u > 0 normal: u = m * 2**e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s)."""
    bits = _as_int(u)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = _as_float((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = _log_poly(s2)
    return float(e) * _LN2 + 2.0 * s * p


@jit_inline
def _sin_cos(h):
    """(sin, cos) of the angle (h mod 2**24) * 2 pi / 2**24 for a uint64 h (quadrant from bits
    22-23, Taylor series on the rest, an angle in [0, pi/2))."""
    quadrant = (h >> np.uint64(22)) & np.uint64(3)
    phi = float(h & np.uint64(0x3FFFFF)) * _TWO_PI_24
    p2 = phi * phi
    s, c = phi * _sin_poly(p2), _cos_poly(p2)
    # rotate by the quadrant: odd quadrants swap sin and cos, then signs; one select and exact
    # multiplications by +-1 (a chain of selects would stop vectorization)
    odd = (quadrant & np.uint64(1)) == np.uint64(1)
    a, b = (c, s) if odd else (s, c)
    sin_sign = 1.0 - 2.0 * float(quadrant >> np.uint64(1))
    cos_sign = 1.0 - 2.0 * float(((quadrant + np.uint64(1)) >> np.uint64(1)) & np.uint64(1))
    return a * sin_sign, b * cos_sign


@jit_inline
def normal_pair(key, counter):
    """Two independent standard normals for (key, counter), both uint64."""
    h = _mix(np.uint64(key) + np.uint64(counter) * _GOLDEN)
    u = (float(h >> np.uint64(24)) + 0.5) * 2.0**-40  # in (0, 1)
    radius = np.sqrt(-2.0 * _log(u))
    s, c = _sin_cos(h)
    return radius * c, radius * s


@jit
def stream_key(seed, block):
    """Key of the noise stream of (read seed, row block)."""
    return _mix(_mix(np.uint64(seed)) + np.uint64(block + 1) * _GOLDEN)


@jit_inline
def fill_normals(key, first, out):
    """out[i] = normal number i of the pairs counted from ``first`` (pair i // 2, half i % 2)."""
    n = out.shape[0]
    for i in range(n // 2):
        z0, z1 = normal_pair(key, first + np.uint64(i))
        out[2 * i] = z0
        out[2 * i + 1] = z1
    if n % 2:
        out[n - 1] = normal_pair(key, first + np.uint64(n // 2))[0]


def _python(function: Any) -> Any:
    """The Python function behind a jitted one (itself under NUMBA_DISABLE_JIT)."""
    return getattr(function, "py_func", function)


def normal_pairs_numpy(key: np.uint64, counters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of ``normal_pair`` over an array of counters (bit-identical results)."""
    with np.errstate(over="ignore"):
        z = np.asarray(counters, np.uint64) * _GOLDEN + np.uint64(key)
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    h = z ^ (z >> np.uint64(31))
    u = ((h >> np.uint64(24)).astype(np.float64) + 0.5) * 2.0**-40
    radius = np.sqrt(-2.0 * _log_numpy(u))
    phi = (h & np.uint64(0x3FFFFF)).astype(np.float64) * _TWO_PI_24
    p2 = phi * phi
    s, c = phi * _python(_sin_poly)(p2), _python(_cos_poly)(p2)
    quadrant = (h >> np.uint64(22)) & np.uint64(3)
    odd = (quadrant & np.uint64(1)) == np.uint64(1)
    a, b = np.where(odd, c, s), np.where(odd, s, c)
    sin_sign = 1.0 - 2.0 * (quadrant >> np.uint64(1)).astype(np.float64)
    cos_sign = 1.0 - 2.0 * (((quadrant + np.uint64(1)) >> np.uint64(1)) & np.uint64(1)).astype(
        np.float64
    )
    return radius * (b * cos_sign), radius * (a * sin_sign)


def _log_numpy(u: np.ndarray) -> np.ndarray:
    """NumPy twin of ``_log``."""
    bits = u.view(np.int64)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = ((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)
    big = m > 1.4142135623730951
    m = np.where(big, m * 0.5, m)
    e = np.where(big, e + 1, e)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = _python(_log_poly)(s2)
    return e.astype(np.float64) * _LN2 + 2.0 * s * p


def stream_key_numpy(seed: int, block: int) -> np.uint64:
    """Python twin of ``stream_key``."""
    mask = (1 << 64) - 1

    def mix(z: int) -> int:
        z = ((z ^ (z >> 30)) * int(_MIX1)) & mask
        z = ((z ^ (z >> 27)) * int(_MIX2)) & mask
        return z ^ (z >> 31)

    return np.uint64(mix((mix(seed & mask) + (block + 1) * int(_GOLDEN)) & mask))
