"""Where the activations of ``reprogram``, ``basis`` and ``digital`` live between layers, and how
they move (docs/design.md section 6.1). The config decides: with ``chip.global_buffer``, in the
global buffer (``global_buffer_memory.py``); without one, as in ISAAC and PUMA, in the tile
buffers (``tile_memory.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xbarsim.timing.dataflows.global_buffer_memory import GlobalBufferMemory
from xbarsim.timing.dataflows.tile_memory import TileMemory

if TYPE_CHECKING:
    from xbarsim.timing.dataflows.engine import Engine


def memory_for(engine: Engine) -> GlobalBufferMemory | TileMemory:
    """The activation memory of the engine's chip."""
    if engine.chip.global_buffer is None:
        return TileMemory(engine)
    return GlobalBufferMemory(engine)
