"""The example notebook runs end to end and shows its plots and ratio table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "compare_dataflows.ipynb"


def test_compare_dataflows_notebook_runs() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    began = time.monotonic()
    client = nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    assert time.monotonic() - began < 60
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # metrics and energy breakdown
    table = outputs[-1]["data"]["text/plain"]
    assert "cycles reprogram/static" in table and "EDP reprogram/static" in table
    assert "cycles basis/reprogram" in table  # basis points run, so they are compared
