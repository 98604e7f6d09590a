"""Mapping real weights: integer quantization, per-group matrices, pruned blocks, cell levels.

With weights given, a block whose cells would all be zero is not mapped, and within a block a
column whose cells are all zero is not used (structured pruning: filter/column or crossbar-block
pruning); unmapped blocks and columns are never read, converted or written. Each mapped block
also carries, per row, how many of its cells sit at each conductance level: the write-verify
controller draws pulse counts per target level from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from xbarsim.mapping.blocks import LayerMap, dense_block_table, map_workload
from xbarsim.mapping.encoding import Encoding, slice_levels
from xbarsim.workload.graph import Workload
from xbarsim.workload.layer import Layer


def integer_weights(w: np.ndarray, enc: Encoding) -> np.ndarray:
    """Symmetric per-layer quantization to the encoding's storable range (max |w| -> top)."""
    top = enc.weight_range[1] if enc.differential else 2 ** (enc.weight_bits - 1) - 1
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    if peak == 0.0:
        return np.zeros(w.shape, dtype=np.int64)
    return np.rint(np.asarray(w, dtype=np.float64) * (top / peak)).astype(np.int64)


def group_matrices(w_int: np.ndarray, layer: Layer) -> list[np.ndarray]:
    """Per group the ``[K, O]`` matrix a crossbar holds (fan-in ordered c, i, j row-major)."""
    out = w_int.reshape(layer.out_channels, -1)
    per_group = layer.out_per_group
    return [out[g * per_group:(g + 1) * per_group].T for g in range(layer.groups)]


def pruned_table(lm: LayerMap, layer: Layer, w_int: np.ndarray,
                 enc: Encoding) -> dict[str, np.ndarray]:
    """The layer's block table without all-zero blocks, ``cols_used`` counting only nonzero
    columns, plus ``level_counts[block, row, level]`` of the used columns."""
    table = dense_block_table(lm, enc)
    levels_by_group = [slice_levels(m, enc) for m in group_matrices(w_int, layer)]
    n_levels = 2**enc.cell_bits
    keep = np.zeros(table["group"].size, dtype=bool)
    cols_used = np.zeros_like(table["cols_used"])
    counts = np.zeros((keep.size, enc.rows, n_levels), dtype=np.int64)
    for k in range(keep.size):
        r0 = int(table["row_block"][k]) * enc.rows
        c0 = int(table["col_block"][k]) * enc.cols
        cells = levels_by_group[int(table["group"][k])][r0:r0 + enc.rows, c0:c0 + enc.cols]
        used = cells.any(axis=0)
        cols_used[k] = int(used.sum())
        keep[k] = cols_used[k] > 0
        kept = cells[:, used]
        for level in range(n_levels):
            counts[k, : kept.shape[0], level] = (kept == level).sum(axis=1)
    out = {key: value[keep] for key, value in table.items()}
    out["cols_used"] = cols_used[keep]
    out["level_counts"] = counts[keep]
    return out


def map_weights(workload: Workload, enc: Encoding,
                weights: Mapping[str, np.ndarray] | None) -> list[LayerMap]:
    """Footprints of every MVM layer, pruned by the given weights (dense without weights)."""
    maps = map_workload(workload, enc)
    if weights is None:
        return maps
    return [dataclasses.replace(lm, table=pruned_table(
        lm, workload.layers[lm.index], integer_weights(weights[lm.name], enc), enc))
        for lm in maps]
