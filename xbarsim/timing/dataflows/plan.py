"""Placing crossbar blocks on the chip: the static (resident) plan and reprogramming rounds.

docs/design.md section 6: blocks are packed, in layer order, into rounds of at most ``capacity``
blocks; block k of a round sits on crossbar slot ``k``. A layer larger than a round spans
several rounds (its *parts*); its partial sums meet in the buffers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from xbarsim.errors import XbarsimError
from xbarsim.mapping.blocks import LayerMap, block_table
from xbarsim.mapping.encoding import Encoding


class Dataflow(enum.Enum):
    """How weights reach the crossbars."""

    STATIC = "static"
    """All blocks resident; programmed once (setup)."""
    REPROGRAM = "reprogram"
    """Rounds of blocks written by write-verify for every batch when the network does not fit."""
    BASIS = "basis"
    """A global basis written once; layers combine its projections with coefficients."""
    DIGITAL = "digital"
    """No crossbar: the tiles' digital MAC lanes compute every layer (the baseline)."""


@dataclass(frozen=True)
class Part:
    """The blocks of one layer that share a round."""

    lmap: LayerMap
    blocks: dict[str, np.ndarray]
    """Block records (see ``mapping.blocks.BLOCK_FIELDS``) of this part."""
    slots: np.ndarray
    """Crossbar slot of each block."""
    last: bool
    """Whether this is the layer's final part."""

    @property
    def size(self) -> int:
        """Blocks in the part."""
        return int(self.slots.size)


@dataclass(frozen=True)
class Round:
    """Blocks resident on the chip at the same time."""

    index: int
    parts: tuple[Part, ...]


def plan_rounds(maps: list[LayerMap], enc: Encoding, crossbars: int) -> list[Round]:
    """Pack all blocks in layer order into rounds of at most ``crossbars`` blocks."""
    capacity = crossbars
    rounds: list[list[Part]] = [[]]
    used = 0
    tables: dict[int, dict[str, np.ndarray]] = {}  # by LayerMap: a layer's copies share one
    for lmap in maps:
        table = tables.get(id(lmap))
        if table is None:
            table = tables[id(lmap)] = block_table(lmap, enc)
        total = lmap.mapped_blocks
        if total == 0:  # every weight pruned: the layer still runs, on no crossbar
            empty = {k: v[:0] for k, v in table.items()}
            rounds[-1].append(Part(lmap, empty, np.arange(0), last=True))
        start = 0
        while start < total:
            if used == capacity:
                rounds.append([])
                used = 0
            take = min(capacity - used, total - start)
            chunk = {k: v[start:start + take] for k, v in table.items()}
            slots = used + np.arange(take)
            start += take
            rounds[-1].append(Part(lmap, chunk, slots, last=start == total))
            used += take
    return [Round(i, tuple(parts)) for i, parts in enumerate(rounds)]


def check_static_fits(maps: list[LayerMap], crossbars: int) -> None:
    """The static dataflow needs every block resident."""
    needed = sum(m.mapped_blocks for m in maps)
    if needed > crossbars:
        raise XbarsimError(
            f"static needs {needed:,} crossbars to hold every block but the chip has "
            f"{crossbars:,} (use the reprogram or basis dataflow)",
            key="chip.crossbars",
        )
