"""A département's BD TOPO imported in chunks (issue 16, point 4): the same buildings, report and
journal as one read, in ONE transaction (a failure in the last chunk leaves the store as it was),
with a progress line per chunk — on each backend."""

from __future__ import annotations

import pytest

from benchmarks.import_bdtopo import make_bdtopo
from ort_geo.importers import bdtopo, import_buildings, iter_bdtopo, read_bdtopo

N = 800


@pytest.fixture(scope="module")
def bdtopo_file(tmp_path_factory):
    """A BD TOPO-like ``batiment`` layer (the benchmark's generator), spread over the Haut-Rhin."""
    return make_bdtopo(tmp_path_factory.mktemp("bdtopo") / "BDTOPO_D068.gpkg", N)


@pytest.fixture
def territory_store(store, demo_store):
    """A store holding the Val d'Argent communes: most of the département lies outside."""
    store.write("communes", demo_store.read("communes"), author="test")
    return store


def _chunks(monkeypatch, rows: int) -> None:
    monkeypatch.setitem(iter_bdtopo.__kwdefaults__, "batch_rows", rows)


def test_chunks_read_like_one_file(bdtopo_file):
    whole, report = read_bdtopo(bdtopo_file)
    chunked_report, chunks = iter_bdtopo(bdtopo_file, batch_rows=250)
    parts = list(chunks)
    assert len(parts) == 4
    import pandas as pd

    joined = pd.concat(parts, ignore_index=True)
    assert joined.drop(columns="geometry").equals(whole.drop(columns="geometry"))
    assert joined.geometry.geom_equals_exact(whole.geometry, 0).all()
    assert chunked_report.messages == report.messages and chunked_report.features == N


def test_import_in_chunks_equals_one_write(territory_store, new_store, demo_store, backend,
                                           bdtopo_file, monkeypatch):
    one = new_store(backend)
    one.write("communes", demo_store.read("communes"), author="test")
    expected = import_buildings(one, bdtopo_file, "bdtopo", author="t", keep_outside=True)
    _chunks(monkeypatch, 250)
    lines: list[str] = []
    report = import_buildings(territory_store, bdtopo_file, "bdtopo", author="t",
                              keep_outside=True, progress=lines.append)
    assert len(lines) == 4 and lines[-1].startswith(f"{N:,}".replace(",", "\u202f"))
    assert report.messages == expected.messages
    assert report.summary == expected.summary and report.summary.inserted > 700
    a = territory_store.read("batiments").sort_values("id").reset_index(drop=True)
    b = one.read("batiments").sort_values("id").reset_index(drop=True)
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()
    assert a["code_insee"].notna().sum() > 0  # the ones inside the communes are located
    journal = territory_store.journal(layer="batiments")
    assert len(journal) == report.summary.inserted
    assert len({e.timestamp for e in journal}) == 1  # one import, one moment


def test_a_failing_chunk_leaves_the_store_unchanged(territory_store, bdtopo_file, monkeypatch,
                                                   store_state):
    _chunks(monkeypatch, 250)
    before = store_state(territory_store)
    real = bdtopo._buildings
    calls = []

    def fail_on_last(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise ValueError("chunk illisible")
        return real(*args, **kwargs)

    monkeypatch.setattr(bdtopo, "_buildings", fail_on_last)
    with pytest.raises(ValueError, match="illisible"):
        import_buildings(territory_store, bdtopo_file, "bdtopo", author="t", keep_outside=True)
    assert len(calls) == 4
    assert store_state(territory_store) == before


def test_import_benchmark_runs_at_a_tiny_scale(tmp_path, system_tool, capsys):
    """``python -m benchmarks.import_bdtopo`` on a GeoPackage (no timing asserted)."""
    from benchmarks.import_bdtopo import main

    system_tool("ogr2ogr", "gdal-bin")
    assert main(["--buildings", "300", "--backend", "gpkg", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ort-geo / ogr2ogr" in out and "300 rows" in out
