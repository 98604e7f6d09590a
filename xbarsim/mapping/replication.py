"""Weight replication: spare crossbars hold extra copies of layers to balance a layer pipeline.

In a pipeline every image passes through every layer, so throughput is set by the slowest layer.
ISAAC (Shafiee et al., ISCA 2016, section 5) replicates the early, high-resolution layers so
that every layer takes about as long per image. ``balance_copies`` does this greedily: while
crossbars remain, the slowest layer gets one more copy if it fits. Up to one copy per output
vector of an image, copies share an image's vectors; beyond that, with a batch of several
images, a layer's copies form *lanes* of one copy per vector, each lane taking whole images
(image b on lane b mod lanes), so more copies pay only a lane at a time.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from xbarsim.util import ceil_div


def lanes(vectors: int, copies: int, images: int) -> int:
    """Lanes of a layer whose ``copies`` serve ``images`` images of ``vectors`` vectors each:
    one while the copies share each image's vectors, else one per ``vectors`` copies, at most
    one per image."""
    return max(1, min(images, copies // max(vectors, 1)))


def stage_cycles(vectors: int, copies: int, cycles_per_vector: int, images: int = 1) -> int:
    """Cycles ``images`` images spend in a layer whose ``copies`` share each image's
    ``vectors`` evenly (or, with more copies than vectors, take whole images in lanes)."""
    ways = lanes(vectors, copies, images)
    return ceil_div(images, ways) * ceil_div(vectors, copies // ways) * cycles_per_vector


def balance_copies(blocks: Sequence[int], vectors: Sequence[int],
                   cycles_per_vector: Sequence[int], crossbars: int, images: int = 1) -> list[int]:
    """Copies of each layer: one each, then more for the slowest layer while they fit.

    ``blocks[i]`` crossbars hold one copy of layer i, which computes ``vectors[i]`` vectors per
    image at ``cycles_per_vector[i]`` each, for ``images`` images. The slowest layer gets one
    more copy while it has fewer copies than vectors, then a lane of ``vectors[i]`` copies at a
    time (at most one lane per image). Stops when the slowest layer's next step does not fit or
    it has a copy for every vector of the batch: giving crossbars to a faster layer cannot
    raise the pipeline's throughput. Ties go to the earlier layer.
    """
    copies = [1] * len(blocks)
    spare = crossbars - sum(blocks)
    if spare < 0:
        raise ValueError(f"one copy of every layer needs {sum(blocks)} crossbars, have {crossbars}")
    heap = [(-stage_cycles(v, 1, c, images), i)
            for i, (v, c) in enumerate(zip(vectors, cycles_per_vector)) if blocks[i] > 0]
    heapq.heapify(heap)
    while heap:
        _, i = heap[0]
        v = max(vectors[i], 1)
        step = 1 if copies[i] < v else v
        if blocks[i] * step > spare or copies[i] + step > v * images:
            break
        spare -= blocks[i] * step
        copies[i] += step
        heapq.heapreplace(heap, (-stage_cycles(vectors[i], copies[i], cycles_per_vector[i],
                                               images), i))
    return copies
