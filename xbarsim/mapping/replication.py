"""Weight replication: spare crossbars hold extra copies of layers to balance a layer pipeline.

In a pipeline every image passes through every layer, so throughput is set by the slowest layer.
ISAAC (Shafiee et al., ISCA 2016, section 5) replicates the early, high-resolution layers so
that every layer takes about as long per image. ``balance_copies`` does this greedily: while
crossbars remain, the slowest layer gets one more copy if it fits; a layer never gets more
copies than it has output vectors (a copy computes whole vectors).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from xbarsim.util import ceil_div


def stage_cycles(vectors: int, copies: int, cycles_per_vector: int) -> int:
    """Cycles one image spends in a layer whose ``copies`` share its ``vectors`` evenly."""
    return ceil_div(vectors, copies) * cycles_per_vector


def balance_copies(blocks: Sequence[int], vectors: Sequence[int],
                   cycles_per_vector: Sequence[int], crossbars: int) -> list[int]:
    """Copies of each layer: one each, then one more for the slowest layer while it fits.

    ``blocks[i]`` crossbars hold one copy of layer i, which computes ``vectors[i]`` vectors per
    image at ``cycles_per_vector[i]`` each. Stops when the slowest layer's next copy does not
    fit or would not make it faster (every vector already has a copy): giving crossbars to a
    faster layer cannot raise the pipeline's throughput. Ties go to the earlier layer.
    """
    copies = [1] * len(blocks)
    spare = crossbars - sum(blocks)
    if spare < 0:
        raise ValueError(f"one copy of every layer needs {sum(blocks)} crossbars, have {crossbars}")
    heap = [(-stage_cycles(v, 1, c), i) for i, (v, c) in enumerate(zip(vectors, cycles_per_vector))
            if blocks[i] > 0]
    heapq.heapify(heap)
    while heap:
        _, i = heap[0]
        if blocks[i] > spare or copies[i] >= vectors[i]:
            break
        spare -= blocks[i]
        copies[i] += 1
        heapq.heapreplace(heap, (-stage_cycles(vectors[i], copies[i], cycles_per_vector[i]), i))
    return copies
