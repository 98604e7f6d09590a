"""Weights -> crossbar blocks (docs/design.md section 5), as plain records and arrays.

A layer with G groups, fan-in K and O outputs per group is cut into ceil(K / rows) row blocks and
ceil(O * s * d / cols) column blocks per group; each block occupies one crossbar. The block table
is what the dataflows schedule and what ``info`` reports. The per-inference counts here are the
*expected* values of docs/design.md section 5, for tests and ``info``; the simulator counts its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xbarsim.mapping.encoding import Encoding
from xbarsim.util import ceil_div
from xbarsim.workload.graph import Workload

BLOCK_FIELDS = ("layer", "group", "row_block", "col_block", "rows_used", "cols_used")
"""Columns of a block table: layer index in the workload, then the block's position and size."""


@dataclass(frozen=True)
class LayerMap:
    """How one MVM layer occupies crossbars."""

    index: int
    """Position of the layer in the workload."""
    name: str
    K: int
    """Fan-in per group: (C / G) * kh * kw."""
    O: int
    """Output channels per group."""
    G: int
    """Groups."""
    P: int
    """Output pixels (1 for linear)."""
    row_blocks: int
    """Row blocks per group: ceil(K / rows)."""
    col_blocks: int
    """Column blocks per group: ceil(O * s * d / cols)."""
    cells: int
    """Cells holding the layer: G * K * O * s * d."""
    macs: int
    """Multiply-accumulates per inference."""
    table: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)
    """Block records of the mapped (pruned) blocks when real weights were mapped, else None."""

    @property
    def blocks(self) -> int:
        """Crossbars the layer occupies without pruning: G * row_blocks * col_blocks."""
        return self.G * self.row_blocks * self.col_blocks

    @property
    def mapped_blocks(self) -> int:
        """Crossbars actually mapped (all-zero blocks of real weights skipped)."""
        return self.blocks if self.table is None else int(self.table["group"].size)

    @property
    def mapped_cells(self) -> int:
        """Cells actually written (all-zero columns of real weights skipped)."""
        if self.table is None:
            return self.cells
        return int((self.table["rows_used"] * self.table["cols_used"]).sum())

    def expected_xbar_reads(self, enc: Encoding, batch: int = 1) -> int:
        """N * P * G * ceil(K/rows) * ceil(O*s*d/cols) * t."""
        return batch * self.P * self.blocks * enc.t

    def expected_adc_conversions(self, enc: Encoding, batch: int = 1) -> int:
        """N * P * G * ceil(K/rows) * O*s*d * t (used columns only)."""
        return batch * self.P * self.G * self.row_blocks * self.O * enc.columns_per_weight * enc.t

    def expected_dac_conversions(self, enc: Encoding, batch: int = 1) -> int:
        """N * P * G * K * ceil(O*s*d/cols) * t.

        Every crossbar drives its rows with its own DACs, so a layer spread over several column
        blocks converts each input once per column block. (N*P*G*K*t, the
        count often quoted, holds only when a layer has a single column block.)
        """
        return batch * self.P * self.G * self.K * self.col_blocks * enc.t


def map_layer(workload: Workload, index: int, enc: Encoding) -> LayerMap:
    """Crossbar footprint of the MVM layer at ``index`` of a workload."""
    layer = workload.layers[index]
    K, O, G = layer.fan_in, layer.out_per_group, layer.groups
    return LayerMap(
        index=index,
        name=layer.name,
        K=K,
        O=O,
        G=G,
        P=workload.out_pixels(layer.name),
        row_blocks=ceil_div(K, enc.rows),
        col_blocks=ceil_div(O * enc.columns_per_weight, enc.cols),
        cells=G * K * O * enc.columns_per_weight,
        macs=workload.macs(layer.name),
    )


def map_workload(workload: Workload, enc: Encoding) -> list[LayerMap]:
    """Footprints of every MVM layer, in layer order."""
    return [map_layer(workload, i, enc) for i, layer in enumerate(workload.layers) if layer.is_mvm]


def block_table(lm: LayerMap, enc: Encoding) -> dict[str, np.ndarray]:
    """The mapped blocks of a layer: the pruned table when weights were mapped, else dense."""
    return lm.table if lm.table is not None else dense_block_table(lm, enc)


def dense_block_table(lm: LayerMap, enc: Encoding) -> dict[str, np.ndarray]:
    """One record per crossbar block of a layer, group-major then row block then column block."""
    g, r, c = (axis.ravel() for axis in np.meshgrid(
        np.arange(lm.G), np.arange(lm.row_blocks), np.arange(lm.col_blocks), indexing="ij"))
    width = lm.O * enc.columns_per_weight
    return {
        "layer": np.full(g.size, lm.index, dtype=np.int64),
        "group": g.astype(np.int64),
        "row_block": r.astype(np.int64),
        "col_block": c.astype(np.int64),
        "rows_used": np.minimum(enc.rows, lm.K - r * enc.rows).astype(np.int64),
        "cols_used": np.minimum(enc.cols, width - c * enc.cols).astype(np.int64),
    }
