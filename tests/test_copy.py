"""``ort-geo copy``: whole stores between backends, journal and metadata included, verified."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from ort_geo import Feature
from ort_geo.cli import main
from ort_geo.copy import copy_store, store_digest
from ort_geo.errors import InputError, StoreError


def _fill(store) -> None:
    """A small store using every field type, several geometry kinds, edits, deletes, metadata."""
    sectors = gpd.GeoDataFrame(
        [{"id": "s1", "nom": "Centre-ville", "type": "centre_ville_principal",
          "code_insee": "68298", "date_debut": dt.date(2024, 3, 1), "version": 2,
          "indicatif": False},
         {"id": "s2", "nom": "Les Halles — Sainte-Croix", "type": "quartier",
          "code_insee": "68294", "indicatif": True}],
        geometry=[shapely.box(1010000.125, 6800000, 1011000, 6801000.333),
                  shapely.MultiPolygon([shapely.box(1012000, 6800000, 1013000, 6801000),
                                        shapely.box(1014000, 6800000, 1014500, 6800500)])],
        crs="EPSG:2154")
    store.write("secteurs_ort", sectors, author="alice", message="délibération n°12")
    buildings = gpd.GeoDataFrame(
        [{"id": f"b{i}", "nb_logements": i % 4 or None, "habitat_indigne": i % 3 == 0,
          "etat": ["bon", "degrade"][i % 2], "annee_construction": 1850 + i}
         for i in range(30)],
        geometry=[shapely.box(1010000 + 20 * i, 6800100, 1010010 + 20 * i, 6800110)
                  if i % 5 else shapely.Point(1010000 + 20 * i, 6800100) for i in range(30)],
        crs="EPSG:2154")
    store.write("batiments", buildings, author="import")
    store.create("actions", Feature("a1", {"titre": "Îlot « démonstrateur »", "orientation": 1,
                                           "cout_ht": 125000.5},
                                    shapely.LineString([(1010000, 6800000), (1010500, 6800200)])),
                 author="bob")
    store.update("secteurs_ort", "s2", {"nom": "Halles"}, author="bob")
    store.delete("batiments", "b7", author="carole", message="démoli")
    store.set_meta("territory", {"manifest": '{"name": "val-d-argent"}'})
    store.set_meta("apikeys", {"k1": "editor"})


def _same_content(a, b) -> None:
    for name in a.layer_names():
        left, right = a.read(name), b.read(name)
        pd.testing.assert_frame_equal(left.drop(columns="geometry"),
                                      right.drop(columns="geometry"))
        assert left.geometry.geom_equals_exact(right.geometry, 0).all(), name
        assert shapely.to_wkb(left.geometry.values).tolist() == \
            shapely.to_wkb(right.geometry.values).tolist(), name
    assert [(e.seq, e.timestamp, e.author, e.operation, e.message,
             e.after and e.after.to_record()) for e in a.journal()] == \
        [(e.seq, e.timestamp, e.author, e.operation, e.message,
          e.after and e.after.to_record()) for e in b.journal()]
    assert {s: a.get_meta(s) for s in a.meta_scopes()} == \
        {s: b.get_meta(s) for s in b.meta_scopes()}


def test_round_trip_through_each_backend(new_store, backend):
    source = new_store("gpkg", "source")
    _fill(source)
    middle, back = new_store(backend, "milieu"), new_store("gpkg", "retour")
    report = copy_store(source, middle)
    assert report.ok and report.before.layers["batiments"].count == 29
    assert report.before.journal_count == len(source.journal()) == 35
    copy_store(middle, back)
    _same_content(source, middle)
    _same_content(source, back)
    # The copy is a working store: edits continue the journal's numbering.
    middle.update("secteurs_ort", "s1", {"version": 3}, author="dora")
    assert middle.journal()[-1].seq == 36


def _clustered(store) -> dict[str, bool]:
    """Each GiST index of a PostGIS store's schema: whether its table is clustered on it."""
    import psycopg

    with psycopg.connect(store.conninfo, autocommit=True) as conn:
        return dict(conn.execute(
            "SELECT x.relname, i.indisclustered FROM pg_index i "
            "JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am a ON a.oid = x.relam "
            "JOIN pg_namespace n ON n.oid = x.relnamespace "
            "WHERE n.nspname = %s AND a.amname = 'gist'", (store.schema,)).fetchall())


def test_a_copy_into_postgis_lays_each_layer_out_by_its_spatial_index(new_store):
    """``ort-geo copy`` into PostGIS leaves each layer clustered on its GiST index, its planner
    statistics gathered: the buildings of a box share a few heap pages, where the same rows
    written in their (scattered) identifier order take one page each; the content is the
    source's."""
    import numpy as np
    import psycopg

    rng = np.random.default_rng(5)
    cells = rng.permutation(80 * 50)  # a grid of buildings, numbered in no order of place
    x0, y0 = 1010000 + 20.0 * (cells % 80), 6800000 + 20.0 * (cells // 80)
    buildings = gpd.GeoDataFrame({"id": [f"b{i:04d}" for i in range(len(cells))]},
                                 geometry=shapely.box(x0, y0, x0 + 12, y0 + 9), crs="EPSG:2154")
    source, copied, written = (new_store("gpkg", "source"), new_store("postgis", "copie"),
                               new_store("postgis", "ecrit"))
    source.write("batiments", buildings, author="import")
    written.write("batiments", buildings, author="import")
    copy_store(source, copied)

    def pages(store) -> int:
        """Heap pages holding the 100 buildings of a 10 × 10 block."""
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            return conn.execute(
                f'SELECT count(DISTINCT (ctid::text::point)[0]) FROM "{store.schema}".batiments '
                "WHERE geom && ST_MakeEnvelope(1010400, 6800400, 1010599, 6800599, 2154)"
            ).fetchone()[0]

    with psycopg.connect(copied.conninfo, autocommit=True) as conn:
        analysed = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s "
            "AND last_analyze IS NOT NULL", (copied.schema,))}
    clustered = _clustered(copied)
    spatial = {n for n in source.layer_names() if source.spec(n).spatial}
    assert set(clustered) == {f"{n}_geom_gist" for n in spatial} and all(clustered.values())
    assert spatial <= analysed
    scattered, together = pages(written), pages(copied)
    assert together * 3 <= scattered, (scattered, together)  # 12 against 64 here
    _same_content(source, copied)


def test_a_copy_postgis_cannot_lay_out_is_still_made(new_store, caplog):
    """A destination PostgreSQL refuses to cluster (here its buildings' spatial index has
    another name, as in a schema a DBA made): the copy is made all the same, complete and
    verified, the layer left as it came, and the log says why."""
    import psycopg

    source, dest = new_store("gpkg", "source"), new_store("postgis", "copie")
    _fill(source)
    with psycopg.connect(dest.conninfo, autocommit=True) as conn:
        conn.execute(f'ALTER INDEX "{dest.schema}".batiments_geom_gist RENAME TO bati_idx')
    with caplog.at_level("WARNING", logger="ort_geo.store.postgis"):
        report = copy_store(source, dest)
    assert report.ok
    _same_content(source, dest)
    assert "batiments copiée sans rangement spatial" in caplog.text
    clustered = _clustered(dest)
    assert {k: clustered[k] for k in ("bati_idx", "secteurs_ort_geom_gist")} == \
        {"bati_idx": False, "secteurs_ort_geom_gist": True}


def test_refuses_a_destination_that_is_not_empty(new_store, backend):
    source, dest = new_store("gpkg"), new_store(backend)
    _fill(source)
    dest.set_meta("territory", {"manifest": "{}"})
    before = store_digest(dest).fingerprint
    with pytest.raises(InputError, match="pas vide"):
        copy_store(source, dest)
    assert store_digest(dest).fingerprint == before


def test_a_lost_feature_fails_loudly(new_store, backend, monkeypatch):
    source, dest = new_store("gpkg"), new_store(backend)
    _fill(source)
    begin = dest._transaction

    from contextlib import contextmanager

    @contextmanager
    def lossy():
        with begin() as tx:
            insert = tx.insert
            monkeypatch.setattr(tx, "insert", lambda spec, feats: insert(spec, feats[:-1]))
            yield tx

    monkeypatch.setattr(dest, "_transaction", lossy)
    with pytest.raises(StoreError, match="batiments : 30 objets → 29|batiments : 29 objets → 28"):
        copy_store(source, dest)


def test_cli_copy_reports_in_french(new_store, tmp_path, backend):
    source = new_store("gpkg")
    _fill(source)
    dest = new_store(backend)
    dest_location = str(dest.url)
    if backend == "gpkg":  # let the command create the file
        dest_location = str(tmp_path / "copie.gpkg")
    result = CliRunner().invoke(main, ["copy", str(source.url), dest_location])
    assert result.exit_code == 0, result.output
    assert "Copie vérifiée : rien n'a été perdu." in result.output
    assert "batiments" in result.output and "identique" in result.output
    again = CliRunner().invoke(main, ["copy", str(source.url), dest_location])
    assert again.exit_code == 2
    assert "pas vide" in " ".join(again.output.split())
