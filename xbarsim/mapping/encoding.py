"""How numbers become cells and reads: bit slicing, differential pairs, bit-serial inputs.

docs/design.md section 5: signed weights are stored as differential column pairs (d = 2, the pair
carries the sign, m = weight_bits - 1 magnitude bits) or with an offset encoding (d = 1,
m = weight_bits, stored value = w + 2^(weight_bits-1)). s = ceil(m / cell_bits) slices per weight,
t = ceil(input_bits / dac.bits) reads per input vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from xbarsim.config.schema import Arch
from xbarsim.util import ceil_div


@dataclass(frozen=True)
class Encoding:
    """The number formats of one chip, derived once from its architecture."""

    weight_bits: int
    input_bits: int
    cell_bits: int
    dac_bits: int
    differential: bool
    rows: int
    cols: int

    @classmethod
    def from_arch(cls, arch: Arch) -> Encoding:
        """Read the encoding from a validated architecture."""
        xb = arch.crossbar
        return cls(
            weight_bits=arch.precision.weight_bits,
            input_bits=arch.precision.input_bits,
            cell_bits=xb.cell_bits,
            dac_bits=xb.dac.bits,
            differential=xb.differential,
            rows=xb.rows,
            cols=xb.cols,
        )

    @property
    def d(self) -> int:
        """Columns per weight slice: 2 for differential pairs, 1 for offset encoding."""
        return 2 if self.differential else 1

    @property
    def m(self) -> int:
        """Magnitude bits stored in cells."""
        return self.weight_bits - 1 if self.differential else self.weight_bits

    @cached_property
    def s(self) -> int:
        """Slices (cells) per weight and polarity."""
        return ceil_div(self.m, self.cell_bits)

    @cached_property
    def t(self) -> int:
        """Reads per input vector (bit-serial DAC steps)."""
        return ceil_div(self.input_bits, self.dac_bits)

    @cached_property
    def columns_per_weight(self) -> int:
        """Crossbar columns one output channel occupies: s * d."""
        return self.s * self.d

    @property
    def weight_range(self) -> tuple[int, int]:
        """Smallest and largest storable integer weight."""
        if self.differential:
            top = 2**self.m - 1
            return -top, top
        return -(2 ** (self.weight_bits - 1)), 2 ** (self.weight_bits - 1) - 1


def slice_levels(w: np.ndarray, enc: Encoding) -> np.ndarray:
    """Cell levels of integer weights ``w[K, O]`` as an array ``[K, O * s * d]``.

    Column order: output o, then slice j (least significant first), then polarity
    (positive, negative) for differential pairs: column = (o * s + j) * d + polarity.
    """
    lo, hi = enc.weight_range
    w = np.asarray(w, dtype=np.int64)
    if w.size and (w.min() < lo or w.max() > hi):
        raise ValueError(f"weights must lie in [{lo}, {hi}] for this encoding")
    if enc.differential:
        parts = np.stack([np.maximum(w, 0), np.maximum(-w, 0)], axis=-1)  # [K, O, 2]
    else:
        parts = (w + 2 ** (enc.weight_bits - 1))[..., None]  # [K, O, 1]
    mask = 2**enc.cell_bits - 1
    shifts = np.arange(enc.s, dtype=np.int64) * enc.cell_bits
    levels = (parts[:, :, None, :] >> shifts[None, None, :, None]) & mask  # [K, O, s, d]
    return levels.reshape(w.shape[0], -1).astype(np.uint16)
