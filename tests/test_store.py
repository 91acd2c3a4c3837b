"""The store on every backend (GeoPackage, PostGIS): transactions, journal, optimistic concurrency."""

from __future__ import annotations

from contextlib import contextmanager

import geopandas as gpd
import pyogrio
import pytest
import shapely

from ort_geo import Feature
from ort_geo.errors import (
    ConflictError,
    CRSError,
    FeatureNotFoundError,
    FieldError,
    GeometryError,
    LayerNotFoundError,
    StoreError,
)


def _sectors(**overrides):
    rows = [
        {"id": "s1", "nom": "Centre", "type": "centre_ville_principal", "code_insee": "68298"},
        {"id": "s2", "nom": "Halles", "type": "quartier", "code_insee": "68294"},
    ]
    geoms = [shapely.box(1010000, 6800000, 1011000, 6801000),
             shapely.box(1012000, 6800000, 1013000, 6801000)]
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154")
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_gdal_reads_every_layer(new_store):
    store = new_store("gpkg")
    store.write("secteurs_ort", _sectors(), author="test")
    layers = dict(pyogrio.list_layers(store.path))
    assert layers["secteurs_ort"] == "MultiPolygon"
    assert set(store.catalogue.names) <= set(layers)
    frame = pyogrio.read_dataframe(store.path, layer="secteurs_ort")
    assert frame.crs.to_epsg() == 2154
    assert sorted(frame["id"]) == ["s1", "s2"]
    assert frame.geometry.iloc[0].geom_type == "MultiPolygon"


def test_upsert_journal_and_history(store):
    summary = store.write("secteurs_ort", _sectors(), author="alice")
    assert (summary.inserted, summary.updated) == (2, 0)
    again = store.write("secteurs_ort", _sectors(), author="alice")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    changed = _sectors(nom=["Centre-ville", "Halles"])
    assert store.write("secteurs_ort", changed, author="bob").updated == 1
    history = store.history("secteurs_ort", "s1")
    assert [e.operation for e in history] == ["insert", "update"]
    assert history[1].author == "bob"
    assert history[1].before.properties["nom"] == "Centre"
    assert history[1].after.properties["nom"] == "Centre-ville"


def test_replace_mode_deletes_absent_features(store):
    store.write("secteurs_ort", _sectors(), author="a")
    summary = store.write("secteurs_ort", _sectors().iloc[:1], author="a", mode="replace")
    assert summary.deleted == 1
    assert store.count("secteurs_ort") == 1
    assert store.history("secteurs_ort", "s2")[-1].operation == "delete"


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (_sectors().set_crs("EPSG:4326", allow_override=True), CRSError),
        (_sectors(couleur="rouge"), FieldError),
        (_sectors(type=["centre_ville_principal", "inconnu"]), FieldError),
        (_sectors(id=["s1", "s1"]), FieldError),
        (gpd.GeoDataFrame({"id": ["x"]}, geometry=[shapely.Polygon()], crs=2154), GeometryError),
        (gpd.GeoDataFrame({"id": ["x"]}, geometry=[shapely.Point(1e6, 6.8e6)], crs=2154),
         GeometryError),
        (gpd.GeoDataFrame({"id": ["x"]}, crs=2154, geometry=[
            shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])]), GeometryError),
    ],
    ids=["crs", "unknown-field", "bad-enum", "duplicate-id", "empty", "wrong-type", "bowtie"],
)
def test_failed_write_leaves_store_unchanged(store, frame, error, store_state):
    store.write("secteurs_ort", _sectors(), author="a")
    before = store_state(store)
    with pytest.raises(error):
        store.write("secteurs_ort", frame, author="a")
    assert store_state(store) == before


def test_failure_inside_transaction_rolls_back(store, monkeypatch, store_state):
    store.write("secteurs_ort", _sectors(), author="a")
    before = store_state(store)
    begin = store._transaction

    @contextmanager
    def failing_journal():
        with begin() as tx:  # features get written, then the journal fails: all must roll back
            def boom(entries):
                raise RuntimeError("disque plein")

            monkeypatch.setattr(tx, "journal", boom)
            yield tx

    monkeypatch.setattr(store, "_transaction", failing_journal)
    with pytest.raises(RuntimeError):
        store.write("secteurs_ort", _sectors(nom=["A", "B"]), author="a")
    monkeypatch.undo()
    assert store_state(store) == before
    assert store.read("secteurs_ort")["nom"].tolist() == ["Centre", "Halles"]


def test_etag_conflict(store):
    store.write("secteurs_ort", _sectors(), author="a")
    current = store.get("secteurs_ort", "s1")
    store.update("secteurs_ort", "s1", {"nom": "Premier"}, author="ed1", if_match=current.etag)
    with pytest.raises(ConflictError):
        store.update("secteurs_ort", "s1", {"nom": "Second"}, author="ed2", if_match=current.etag)
    assert store.get("secteurs_ort", "s1").properties["nom"] == "Premier"
    assert [e.author for e in store.history("secteurs_ort", "s1")] == ["a", "ed1"]


def test_single_feature_edits(store):
    geom = shapely.box(1010000, 6802000, 1010100, 6802100)
    store.create("actions", Feature("a1", {"titre": "Îlot", "orientation": 1}, geom), author="e")
    with pytest.raises(FeatureNotFoundError):
        store.get("actions", "zz")
    store.delete("actions", "a1", author="e")
    assert store.count("actions") == 0
    assert [e.operation for e in store.history("actions", "a1")] == ["insert", "delete"]


def test_reads_filter_by_bbox_and_fields(store):
    store.write("secteurs_ort", _sectors(), author="a")
    assert store.count("secteurs_ort", bbox=(1010500, 6800500, 1010600, 6800600)) == 1
    assert store.read("secteurs_ort", where={"type": "quartier"})["id"].tolist() == ["s2"]
    assert store.extent("secteurs_ort") == (1010000, 6800000, 1013000, 6801000)
    with pytest.raises(LayerNotFoundError):
        store.read("routes")
    with pytest.raises(KeyError):  # library errors also inherit the matching builtin
        store.read("routes")


def test_not_a_store(tmp_path):
    from ort_geo import open_store

    fake = tmp_path / "faux.gpkg"
    fake.write_text("ceci n'est pas un GeoPackage")
    with pytest.raises(StoreError):
        open_store(fake)
