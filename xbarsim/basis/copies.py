"""How a global basis (L x B, s_b * d columns per basis vector, the basis stored at
``basis_bits``) is replicated over the crossbars.

docs/design.md section 6 counts copies per crossbar as floor(rows / L) * floor(cols / (B * s * d)),
or several crossbars per copy when one copy is larger than a crossbar. Copies that share rows see
the same input and copies that share columns sum their currents, so a crossbar can serve only
min(floor(rows / L), floor(cols / (B * s * d))) *independent* projections per read (the copies on
its block diagonal); that is the parallelism the basis dataflow schedules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from xbarsim.errors import XbarsimError
from xbarsim.mapping.encoding import Encoding
from xbarsim.util import ceil_div


def basis_encoding(enc: Encoding, basis_bits: int) -> Encoding:
    """The chip's encoding with the basis's bits in place of the weights': the basis is stored
    at ``basis_bits`` (s_b = ceil(basis magnitude bits / cell_bits) slices per vector)."""
    return dataclasses.replace(enc, weight_bits=basis_bits)


@dataclass(frozen=True)
class BasisFootprint:
    """Crossbar footprint of one basis copy on a given chip."""

    length: int
    """L: rows of a copy (basis-vector length)."""
    size: int
    """B: basis vectors."""
    enc: Encoding
    """The encoding the basis is stored with (``basis_encoding``: at ``basis_bits``)."""

    @property
    def cols_per_copy(self) -> int:
        """B * s * d columns."""
        return self.size * self.enc.columns_per_weight

    @property
    def copies_per_crossbar(self) -> int:
        """Whole copies that fit in one crossbar (0 when a copy needs several crossbars)."""
        return (self.enc.rows // self.length) * (self.enc.cols // self.cols_per_copy)

    @property
    def parallel_per_crossbar(self) -> int:
        """Independent projections one crossbar read can serve (block-diagonal copies)."""
        return min(self.enc.rows // self.length, self.enc.cols // self.cols_per_copy)

    @property
    def crossbars_per_copy(self) -> int:
        """Crossbars one copy spans (1 when it fits in one)."""
        return ceil_div(self.length, self.enc.rows) * ceil_div(self.cols_per_copy, self.enc.cols)

    def units(self, crossbars: int) -> int:
        """Projection units on the chip: crossbars, or groups of crossbars holding one copy."""
        if self.parallel_per_crossbar >= 1:
            return crossbars
        return crossbars // self.crossbars_per_copy

    def total_copies(self, crossbars: int) -> int:
        """Basis copies written on the chip."""
        if self.copies_per_crossbar >= 1:
            return crossbars * self.copies_per_crossbar
        return self.units(crossbars)

    def check_fits(self, crossbars: int) -> None:
        """At least one copy must fit on the chip."""
        if self.units(crossbars) < 1:
            raise XbarsimError(
                f"one basis copy ({self.length} rows x {self.cols_per_copy} columns) needs "
                f"{self.crossbars_per_copy} crossbars but the chip has {crossbars}",
                key="chip.crossbars",
            )
