"""The walkthrough notebook runs end to end on a fresh kernel."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import REPO

pytestmark = pytest.mark.cluster


def test_walkthrough_executes(tmp_path):
    notebook = nbformat.read(REPO / "notebooks" / "walkthrough.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))
    assert "6570 rows of" in text
    assert "'total': 6, 'completed': 6, 'resumed': 0, 'failed': 0" in text  # 6 windows, variables together
    for variable in ("retail_sales", "stock_index", "sensor_reading"):
        assert variable in text
    assert "plot saved to" in text
