"""RRAM device non-idealities: a frozen parameter set and per-array conductance sampling.

Units. Conductances are in microsiemens (``*_us``). The kernel works in *level units*: one
unit is the conductance step between adjacent programmed levels,
``step = (g_max - g_min) / (2**cell_bits - 1)``, and a cell's level is ``(G - g_min) / step``.
The ``g_min`` baseline of a column (``g_min * sum(inputs)``) is known and removed before the
ADC (a reference column in hardware, or the differential pair), so an ideal cell contributes
exactly its integer level and every analog deviation becomes a fractional level deviation:
a relative error ``e`` of the conductance range is ``e * (2**cell_bits - 1)`` levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np


class ProgramError(str, Enum):
    """Shape of the residual error a cell keeps after passing write-verify."""

    UNIFORM = "uniform"
    """Uniform inside the acceptance window: sigma = tolerance / sqrt(3)."""
    TRUNCATED_NORMAL = "truncated_normal"
    """Normal with ``program_sigma``, truncated to the acceptance window."""


@dataclass(frozen=True)
class DeviceModel:
    """Device non-idealities of one crossbar technology; all defaults describe an ideal device."""

    g_min_us: float = 1.0
    """Lowest programmed conductance (uS). 1 uS = 1 MOhm [S] MNSIM SimConfig.ini (10k-1M Ohm)."""
    g_max_us: float = 100.0
    """Highest programmed conductance (uS). 100 uS = 10 kOhm [S] MNSIM SimConfig.ini."""
    program_tolerance: float = 0.0
    """Half-width of the write-verify acceptance window, as a fraction of g_max - g_min.
    A verified cell ends inside target +/- tolerance * (g_max - g_min)."""
    program_error: ProgramError = ProgramError.UNIFORM
    """Distribution of the residual inside the window (str values accepted). UNIFORM gives
    sigma = tolerance / sqrt(3): 0.2% -> 0.115%, 2% -> 1.15%, matching aihwkit's
    ReRamCMONoiseModel fit for acceptance ranges 0.2% -> sigma ~0.107% and 2% -> ~1.13% (of G,
    plus 0.0008 / 0.011 uS) [S] aihwkit inference/noise/reram.py, docs/parameters.md. aihwkit states
    the window relative to the target G; here it is relative to the range, as docs/design.md
    section 9 states."""
    program_sigma: float = 0.0
    """Sigma of the TRUNCATED_NORMAL residual, fraction of g_max - g_min (unused for UNIFORM)."""
    read_sigma: float = 0.0
    """Read noise per cell and per read: additive Gaussian, fraction of g_max - g_min. aihwkit
    suggests ~1% short-term read noise for ReRAM (w_noise, reram.py docstring)."""
    stuck_on_rate: float = 0.0
    """Probability that a cell is stuck at g_max (level 2**cell_bits - 1)."""
    stuck_off_rate: float = 0.0
    """Probability that a cell is stuck at g_min (level 0). MNSIM uses 0.1% faults in total."""
    drift_nu: float = 0.0
    """Power-law drift exponent, G(t) = G0 * (t / t0)**-nu; 0 disables drift.
    aihwkit PCM uses nu ~0.05-0.1 (docs/parameters.md)."""
    drift_t_s: float = 1.0
    """Time since programming at which the array is read (s)."""
    drift_t0_s: float = 1.0
    """Reference time of the drift law, when G = G0 (s)."""
    r_wire_ohm: float = 0.0
    """Wire resistance of one cell-to-cell segment of a word or bit line (Ohm); 0: no IR drop."""
    failed_rates: tuple[float, ...] = ()
    """Per target level, the probability that write-verify gave up on a cell (empty: none)."""
    failed_window: float = 0.0
    """A failed cell's residual, uniform in magnitude between ``program_tolerance`` and this
    (fraction of g_max - g_min), either sign: outside the acceptance window."""

    def __post_init__(self) -> None:
        stuck = self.stuck_on_rate + self.stuck_off_rate
        checks = [
            ("g_min_us", self.g_min_us, self.g_min_us >= 0, ">= 0"),
            ("g_max_us", self.g_max_us, self.g_max_us > self.g_min_us, "> g_min_us"),
            ("program_tolerance", self.program_tolerance, self.program_tolerance >= 0, ">= 0"),
            ("program_sigma", self.program_sigma, self.program_sigma >= 0, ">= 0"),
            ("read_sigma", self.read_sigma, self.read_sigma >= 0, ">= 0"),
            ("stuck_on_rate", self.stuck_on_rate, 0 <= self.stuck_on_rate <= 1, "in [0, 1]"),
            ("stuck_off_rate", self.stuck_off_rate, 0 <= self.stuck_off_rate <= 1, "in [0, 1]"),
            ("stuck_on_rate + stuck_off_rate", stuck, stuck <= 1, "<= 1"),
            ("drift_nu", self.drift_nu, self.drift_nu >= 0, ">= 0"),
            ("drift_t_s", self.drift_t_s, self.drift_t_s > 0, "> 0"),
            ("drift_t0_s", self.drift_t0_s, self.drift_t0_s > 0, "> 0"),
            ("r_wire_ohm", self.r_wire_ohm, self.r_wire_ohm >= 0, ">= 0"),
            ("failed_window", self.failed_window,
             self.failed_window >= self.program_tolerance or not self.failed_rates,
             ">= program_tolerance"),
            *(("failed_rates", r, 0 <= r <= 1, "in [0, 1]") for r in self.failed_rates),
        ]
        for name, value, ok, expected in checks:
            if not (ok and math.isfinite(value)):
                raise ValueError(f"{name} must be {expected} (got {value!r})")
        object.__setattr__(self, "program_error", ProgramError(self.program_error))
        if (
            self.program_error is ProgramError.TRUNCATED_NORMAL
            and self.program_tolerance > 0
            and self.program_sigma <= 0
        ):
            raise ValueError("program_sigma must be > 0 for a truncated_normal program_error")

    @property
    def is_static_ideal(self) -> bool:
        """True when programmed conductances equal their targets (no programming error,
        stuck cells, drift or IR drop)."""
        return (
            self.program_tolerance == 0
            and not any(self.failed_rates)
            and self.stuck_on_rate == 0
            and self.stuck_off_rate == 0
            and (self.drift_nu == 0 or self.drift_t_s == self.drift_t0_s)
            and self.r_wire_ohm == 0
        )

    @property
    def is_ideal(self) -> bool:
        """True when the crossbar computes exact integer column sums."""
        return self.is_static_ideal and self.read_sigma == 0

    def read_sigma_levels(self, cell_bits: int) -> float:
        """Read-noise sigma of one cell in level units."""
        return self.read_sigma * ((1 << cell_bits) - 1)

    def _step_us(self, cell_bits: int) -> float:
        return (self.g_max_us - self.g_min_us) / ((1 << cell_bits) - 1)

    def program_levels(
        self, levels: np.ndarray, cell_bits: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Levels (float) the cells actually hold after write-verify and stuck-at faults."""
        top = (1 << cell_bits) - 1
        out = levels.astype(np.float64)
        if self.program_tolerance > 0:
            # window in level units: tolerance * (g_max - g_min) / step = tolerance * top
            out += top * self._residual(levels.shape, rng)
        if any(self.failed_rates):
            # cells write-verify gave up on: re-placed outside the window, at a distance
            # uniform between the tolerance and ``failed_window``, either sign
            rates = np.asarray(self.failed_rates)[levels]
            failed = rng.random(levels.shape) < rates
            n = int(failed.sum())
            distance = rng.uniform(self.program_tolerance, self.failed_window, n)
            sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
            out[failed] = levels[failed] + top * sign * distance
        if self.stuck_on_rate > 0 or self.stuck_off_rate > 0:
            u = rng.random(levels.shape)
            out[u < self.stuck_off_rate + self.stuck_on_rate] = float(top)
            out[u < self.stuck_off_rate] = 0.0
        # no negative conductance: G >= 0  <=>  level >= -g_min / step
        return np.maximum(out, -self.g_min_us / self._step_us(cell_bits))

    def _residual(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Write-verify residual, a fraction of g_max - g_min inside +/- program_tolerance."""
        tol = self.program_tolerance
        if self.program_error is ProgramError.UNIFORM:
            return rng.uniform(-tol, tol, shape)
        return _truncated_normal(shape, self.program_sigma, tol, rng)

    def conductances_us(self, levels_held: np.ndarray, cell_bits: int) -> np.ndarray:
        """Conductances (uS) of cells holding ``levels_held`` (float levels)."""
        return self.g_min_us + levels_held * self._step_us(cell_bits)

    def effective_levels(
        self,
        levels: np.ndarray,
        *,
        cell_bits: int,
        rows: int,
        cols: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Level-unit weights [K, C] the ADC sees for target levels [K, C] on one programmed array.

        Row k sits on crossbar row ``k % rows``, column c on crossbar column ``c % cols``.
        """
        if self.is_static_ideal:
            return levels.astype(np.float64)
        held = self.program_levels(levels, cell_bits, rng)
        if self.drift_nu == 0 and self.r_wire_ohm == 0:
            return held
        g = self.conductances_us(held, cell_bits)
        if self.drift_nu > 0:  # every cell, g_min ones too; the removed baseline stays nominal
            g = g * (self.drift_t_s / self.drift_t0_s) ** (-self.drift_nu)
        if self.r_wire_ohm > 0:
            g = g / (1.0 + g * 1e-6 * self.r_wire_ohm * _wire_segments(levels.shape, rows, cols))
        return (g - self.g_min_us) / self._step_us(cell_bits)


def _wire_segments(shape: tuple[int, ...], rows: int, cols: int) -> np.ndarray:
    """Wire segments in series with each cell: (i + 1) + (j + 1) for crossbar row i, column j.

    First-order IR drop: drivers sit at the column-0 end of each word line and sense amplifiers
    at the row-0 end of each bit line, so a cell at (i, j) sees its own G in series with
    (i + j + 2) * r_wire and conducts G / (1 + G * r_wire * (i + j + 2)). Currents of other
    cells sharing the wires (the second-order, input-dependent part) are ignored.
    """
    i = np.arange(shape[0]) % rows
    j = np.arange(shape[1]) % cols
    return (i[:, None] + j[None, :] + 2).astype(np.float64)


def _truncated_normal(
    shape: tuple[int, ...], sigma: float, bound: float, rng: np.random.Generator
) -> np.ndarray:
    """Normal(0, sigma) samples restricted to [-bound, bound] by rejection.

    The proposal keeps acceptance >= 0.6: a normal proposal when bound > sigma, otherwise a
    uniform proposal accepted with probability exp(-z^2 / 2 sigma^2).
    """
    out = np.empty(shape)
    flat = out.reshape(-1)
    todo = np.arange(flat.size)
    while todo.size:
        if bound > sigma:
            z = rng.normal(0.0, sigma, todo.size)
            ok = np.abs(z) <= bound
        else:
            z = rng.uniform(-bound, bound, todo.size)
            ok = rng.random(todo.size) < np.exp(-0.5 * (z / sigma) ** 2)
        flat[todo[ok]] = z[ok]
        todo = todo[~ok]
    return out


IDEAL = DeviceModel()
"""An ideal device: the crossbar computes exact integer column sums."""
