"""Sweeps: points, local or Dask backends, the sweep runner and its plots."""

from xbarsim.sweep.run import sweep

__all__ = ["sweep"]
