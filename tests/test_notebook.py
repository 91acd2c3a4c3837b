"""The partner notebook runs from top to bottom on a real store and exports its files."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "batiments-vacants.ipynb"


@pytest.fixture
def notebook_store(request):
    """The demo store when the territory build provides it, else the synthetic zones store."""
    try:
        return request.getfixturevalue("demo_store")
    except pytest.FixtureLookupError:
        return request.getfixturevalue("zones_store")


def test_notebook_runs(notebook_store, tmp_path, monkeypatch):
    monkeypatch.setenv("ORT_GEO_STORE", str(notebook_store.url))
    monkeypatch.setenv("ORT_GEO_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "bâtiment(s) avec au moins un logement vacant" in outputs
    exported = sorted(p.suffix for p in tmp_path.iterdir())
    assert exported == [".csv", ".gpkg"]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in nb.cells for o in c.get("outputs", []))
