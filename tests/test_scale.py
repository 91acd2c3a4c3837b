"""National scale (issue 16): statistics from stored representative points, never from features.

Each store keeps a representative point per building, shop and action, written with the feature;
a geometry changed by another client (GDAL/QGIS on the GeoPackage, SQL on PostGIS) gets its point
forgotten (GeoPackage trigger) or recomputed (PostGIS generated column), and readers compute the
missing ones. ``zone_sums`` streams those points (or joins inside PostGIS): same figures as the
engine run on the features themselves.
"""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from ort_geo.assign import PolygonGrid
from ort_geo.measures import Condition, Measure, with_condition
from ort_geo.privacy import RESTRICTED_SOURCES
from ort_geo.stats import building_measure_list, building_measures
from ort_geo.store.base import Store, representative_xy
from ort_geo.store.gpkg import encode_geometries

X0, Y0 = 1_000_000.0, 6_800_000.0
BACKENDS = ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)]


def _l_shapes(n: int, seed: int = 3) -> gpd.GeoDataFrame:
    """L-shaped footprints (their centroid lies outside them) with a few missing values."""
    rng = np.random.default_rng(seed)
    x = X0 + rng.uniform(0, 1000, n)
    y = Y0 + rng.uniform(0, 1000, n)
    geoms = [shapely.Polygon([(a, b), (a + 20, b), (a + 20, b + 4), (a + 4, b + 4), (a + 4, b + 20),
                              (a, b + 20)]) for a, b in zip(x, y, strict=True)]
    vac = rng.integers(0, 3, n).astype(object)
    vac[::7] = None
    return gpd.GeoDataFrame({
        "id": [f"b{i:05d}" for i in range(n)], "code_insee": "68298",
        "nb_logements": rng.integers(0, 9, n), "nb_logements_vacants": vac,
        "annee_debut_vacance": rng.choice([2010, 2020, 2025, None], n),
        "etat": rng.choice(["bon", "moyen", "degrade", "tres_degrade", None], n),
        "habitat_indigne": rng.choice([True, False, None], n),
        "source": rng.choice([RESTRICTED_SOURCES[0], "BD TOPO", None], n),
    }, geometry=geoms, crs=2154)


def _zones() -> np.ndarray:
    """Overlapping zones, one with a hole, one empty of buildings, one missing."""
    a = shapely.box(X0 + 100, Y0 + 100, X0 + 600, Y0 + 600)
    b = shapely.box(X0 + 400, Y0 + 400, X0 + 900, Y0 + 900).difference(
        shapely.box(X0 + 600, Y0 + 600, X0 + 700, Y0 + 700))
    return np.array([a, b, shapely.box(0, 0, 10, 10), None], dtype=object)


def _engine(frame: gpd.GeoDataFrame, zones: np.ndarray) -> dict[str, np.ndarray]:
    """The reference: the engine on the features' own representative points."""
    x, y = representative_xy(frame.geometry.to_numpy())
    values = building_measures(frame, 2026)
    sums = PolygonGrid(zones).sums(x, y, values)
    return {name: np.r_[sums[name], v.sum()] for name, v in values.items()}


def _sums(store: Store, zones: np.ndarray, generic: bool = False, measures=None
          ) -> dict[str, np.ndarray]:
    fn = Store.zone_sums if generic else type(store).zone_sums
    sums = fn(store, "batiments", zones, measures or building_measure_list(2026))
    return {name: np.r_[s.per_zone, s.total] for name, s in sums.items()}


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name].astype(a[name].dtype)), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_stored_points_follow_every_write(new_store, backend):
    store = new_store(backend)
    frame = _l_shapes(400)
    store.write("batiments", frame, author="t")
    moved = frame.iloc[:50].copy()
    moved["geometry"] = moved.translate(300, -50)
    store.write("batiments", moved, author="t")
    store.update("batiments", "b00060", {}, geometry=shapely.box(X0 + 1, Y0 + 1, X0 + 9, Y0 + 5),
                 author="t")
    stored = store.read("batiments")
    points = next(store.iter_points("batiments", []))
    # Each stored point lies inside its (current) footprint.
    assert shapely.covers(stored.geometry.to_numpy(),
                          shapely.points(points["x"], points["y"])).all()
    if backend == "gpkg":  # shapely's point on surface, exactly
        x, y = representative_xy(stored.geometry.to_numpy())
        assert np.array_equal(points["x"], x) and np.array_equal(points["y"], y)
    zones = _zones()
    _assert_same(_engine(stored, zones), _sums(store, zones))


def test_geopackage_edits_by_gdal_get_their_points(new_store):
    """Another client (GDAL, as QGIS) moves a building and adds one: no stale point is used."""
    store = new_store("gpkg")
    frame = _l_shapes(300)
    store.write("batiments", frame, author="t")
    zones = _zones()
    target = shapely.Polygon([(X0 + 150, Y0 + 150), (X0 + 170, Y0 + 150), (X0 + 150, Y0 + 170)])
    outside = frame.index[~shapely.covers(zones[0], frame.geometry.to_numpy())][0]
    # A plain SQL edit of the geometry only, through a connection with the GeoPackage functions
    # the R-tree triggers call (as GDAL and QGIS have).
    conn = store._connect()
    with conn:
        conn.execute("UPDATE batiments SET geom = ? WHERE id = ?",
                     (encode_geometries([target])[0], frame.loc[outside, "id"]))
        assert conn.execute("SELECT ort_x FROM batiments WHERE id = ?",
                            (frame.loc[outside, "id"],)).fetchone()[0] is None
    conn.close()
    extra = _l_shapes(3, seed=9)
    extra["id"] = ["gdal1", "gdal2", "gdal3"]
    pyogrio.write_dataframe(extra, store.path, layer="batiments", append=True)
    stored = store.read("batiments")
    assert len(stored) == 303
    _assert_same(_engine(stored, zones), _sums(store, zones))


def test_geopackage_made_before_stored_points_gets_them(new_store, tmp_path):
    store = new_store("gpkg")
    frame = _l_shapes(200)
    store.write("batiments", frame, author="t")
    with sqlite3.connect(store.path) as conn:  # the store as an older ort-geo wrote it
        conn.execute('DROP TRIGGER "ort_batiments_point_reset"')
        conn.execute('DROP INDEX "ort_batiments_point_stale"')
        conn.execute("ALTER TABLE batiments DROP COLUMN ort_x")
        conn.execute("ALTER TABLE batiments DROP COLUMN ort_y")
    from ort_geo import open_store

    reopened = open_store(store.path)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM batiments WHERE ort_x IS NULL").fetchone()[0] == 0
    zones = _zones()
    _assert_same(_engine(frame, zones), _sums(reopened, zones))


@pytest.mark.postgis
def test_postgis_join_in_sql_equals_the_engine(new_store):
    """The join pushed into PostGIS gives the figures of the streamed engine, missing values,
    overlapping zones, holes, external SQL edits and all."""
    store = new_store("postgis")
    frame = _l_shapes(500)
    store.write("batiments", frame, author="t")
    with store._connection() as conn:  # psql moves a building: PostgreSQL recomputes its point
        conn.execute(f"UPDATE {store._t('batiments')} SET geom = ST_Translate(geom, 200, 200) "
                     "WHERE id = 'b00001'")
    zones = _zones()
    sql, streamed = _sums(store, zones), _sums(store, zones, generic=True)
    _assert_same(streamed, sql)
    _assert_same(_engine(store.read("batiments"), zones), sql)
    # Public records only (the public release's input): missing sources are kept.
    public = with_condition(building_measure_list(2026),
                            Condition("source", "not_in", RESTRICTED_SOURCES))
    restricted = _sums(store, zones, measures=public)
    _assert_same(_sums(store, zones, generic=True, measures=public), restricted)
    kept = frame["source"].ne(RESTRICTED_SOURCES[0]).sum()
    assert 0 < restricted["batiments"][-1] == kept < len(frame)


def _pg_edit(store, *statements: str) -> None:
    """Plain SQL as psql or QGIS would send it (``{t}``: the buildings table)."""
    with store._connection() as conn:
        for sql in statements:
            conn.execute(sql.format(t=store._t("batiments")))


#: Beyond the catalogue's: a float sum of an integer field, fields and conditions the layer lacks.
ODD_MEASURES = (Measure("logements_reels", "nb_logements", integer=False),
                Measure("absent", "pas_de_champ"),
                Measure("absent_reel", "pas_de_champ", integer=False),
                Measure("jamais", where=(Condition("pas_de_champ", "known"),)),
                Measure("anciens", "nb_logements", (Condition("annee_debut_vacance", "le", 2015),
                                                    Condition("etat", "in", ["degrade"]))))


@pytest.mark.postgis
def test_postgis_sequential_read_equals_the_index_join(new_store, monkeypatch):
    """The layer read sequentially (one session or parallel ones, several messages and
    batches) gives the figures of the index join and of the engine on the features: missing
    values, a building without geometry, psql edits, overlapping zones, holes, public records,
    measures on fields the layer lacks."""
    import ort_geo.store.postgis as postgis

    store = new_store("postgis")
    frame = _l_shapes(600)
    store.write("batiments", frame, author="t")
    _pg_edit(store, "UPDATE {t} SET geom = ST_Translate(geom, 200, 200) WHERE id = 'b00001'",
             "UPDATE {t} SET geom = NULL WHERE id = 'b00002'",
             "UPDATE {t} SET nb_logements = NULL, etat = NULL WHERE id IN ('b00003', 'b00004')",
             "ANALYZE {t}")
    zones = np.r_[_zones(), [shapely.Polygon()]]  # and an empty zone
    measures = (*building_measure_list(2026), *ODD_MEASURES)
    public = with_condition(measures, Condition("source", "not_in", RESTRICTED_SOURCES))
    monkeypatch.setattr(postgis, "SCAN_SHARE", 2.0)  # never: the index join
    joined = _sums(store, zones, measures=measures)
    joined_public = _sums(store, zones, measures=public)
    engine = _engine(store.read("batiments"), zones)
    _assert_same(engine, {k: joined[k] for k in engine})
    assert 0 < joined["batiments"][-1] == 600 and joined["anciens"][-1] > 0

    def no_join(*args, **kwargs):
        raise AssertionError("the index join ran")

    monkeypatch.setattr(postgis, "SCAN_SHARE", 0.0)  # always: the sequential read
    monkeypatch.setattr(postgis.PostGISStore, "_joined", no_join)
    readers = []
    original = postgis.prefetched
    monkeypatch.setattr(postgis, "prefetched",
                        lambda *sources, **kw: readers.append(len(sources)) or original(*sources,
                                                                                         **kw))
    _assert_same(joined, _sums(store, zones, measures=measures))
    _assert_same(joined_public, _sums(store, zones, measures=public))
    assert readers == [1, 1]
    # Three sessions sharing a snapshot, messages of 16 records, batches of 64.
    monkeypatch.setattr(postgis, "PARALLEL_ROWS", -1)
    monkeypatch.setattr(postgis.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(postgis, "SCAN_MESSAGE_ROWS", 16)
    monkeypatch.setattr(postgis, "BATCH_ROWS", 64)
    _assert_same(joined, _sums(store, zones, measures=measures))
    _assert_same(joined_public, _sums(store, zones, measures=public))
    assert readers == [1, 1, 3, 3]


@pytest.mark.postgis
def test_postgis_reads_the_whole_layer_only_for_zones_covering_a_fair_share(new_store,
                                                                            monkeypatch):
    """The plan follows the planner's statistics: the index join for a small zone, the
    sequential read for zones covering most buildings, the join while nothing is known (never
    analysed) or inside a write transaction."""
    import ort_geo.store.postgis as postgis

    store = new_store("postgis")
    store.write("batiments", _l_shapes(600), author="t")
    whole = np.array([shapely.box(X0 - 50, Y0 - 50, X0 + 1050, Y0 + 1050)], dtype=object)
    corner = np.array([shapely.box(X0 + 500, Y0 + 500, X0 + 510, Y0 + 510)], dtype=object)
    half = np.array([shapely.box(X0 - 50, Y0 - 50, X0 + 500, Y0 + 1050)], dtype=object)
    plans = []
    scanned, joined = postgis.PostGISStore._scanned, postgis.PostGISStore._joined
    monkeypatch.setattr(postgis.PostGISStore, "_scanned",
                        lambda *a: plans.append("scan") or scanned(*a))
    monkeypatch.setattr(postgis.PostGISStore, "_joined",
                        lambda *a: plans.append("join") or joined(*a))

    def share(zones):
        return store._share_in_zones("batiments", list(shapely.to_wkb(zones)))

    assert share(whole) is None  # no statistics yet
    _sums(store, whole)
    _pg_edit(store, "ANALYZE {t}")
    assert share(whole)[0] > 0.9 and share(whole)[1] == 600
    assert 0.35 < share(half)[0] < 0.65
    assert share(corner)[0] < postgis.SCAN_SHARE
    for zones in (whole, corner, half):
        _sums(store, zones)
    with store._transaction() as tx, tx.reads():
        assert share(whole) is None
    assert plans == ["join", "scan", "join", "scan"]


@pytest.mark.postgis
@pytest.mark.parametrize("workers", [1, 3])
def test_postgis_sequential_read_failing_midway_is_one_french_error(new_store, monkeypatch,
                                                                     workers):
    """A server error in any reader: one French StoreError, every reader thread stopped."""
    import dataclasses
    import threading

    import ort_geo.store.postgis as postgis
    from ort_geo.errors import StoreError

    store = new_store("postgis")
    store.write("batiments", _l_shapes(300), author="t")
    _pg_edit(store, "ANALYZE {t}")
    original = postgis._Records.of

    def failing(spec, measures):  # the last row divides by zero (records of the same width)
        records = original(spec, measures)
        last = f"(SELECT max(fid) FROM {store._t('batiments')})"
        return dataclasses.replace(records, sql=f"(CASE WHEN 1 / (b.fid - {last}) = 0 THEN "
                                   f"''::bytea ELSE ''::bytea END) || {records.sql}")

    monkeypatch.setattr(postgis._Records, "of", staticmethod(failing))
    monkeypatch.setattr(postgis, "SCAN_SHARE", 0.0)
    monkeypatch.setattr(postgis, "PARALLEL_ROWS", -1)
    monkeypatch.setattr(postgis.os, "cpu_count", lambda: workers)
    monkeypatch.setattr(postgis, "SCAN_MESSAGE_ROWS", 8)
    with pytest.raises(StoreError, match=r"^(Erreur PostGIS|Lecture impossible).*refusée") \
            as raised:
        _sums(store, _zones())
    assert "division" in raised.value.detail  # the server's words, for ort-geo -v
    assert not [t for t in threading.enumerate() if t.name == "ort-geo-prefetch"]


@pytest.mark.postgis
def test_postgis_parallel_readers_see_one_state(new_store, monkeypatch):
    """Buildings deleted by another client once the lead session has exported its snapshot
    (before any reader starts): every reader still sees them, as the lead does."""
    import psycopg

    import ort_geo.store.postgis as postgis

    store = new_store("postgis")
    store.write("batiments", _l_shapes(400), author="t")
    _pg_edit(store, "ANALYZE {t}")
    zones = _zones()
    monkeypatch.setattr(postgis, "SCAN_SHARE", 2.0)
    before = _sums(store, zones)
    monkeypatch.setattr(postgis, "SCAN_SHARE", 0.0)
    monkeypatch.setattr(postgis, "PARALLEL_ROWS", -1)
    monkeypatch.setattr(postgis.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(postgis, "SCAN_MESSAGE_ROWS", 8)
    original = postgis.PostGISStore._snapshot_sessions

    def then_delete(self):
        lead, session = original(self)
        with psycopg.connect(store.conninfo, autocommit=True) as other:
            other.execute(f"DELETE FROM {store._t('batiments')} WHERE fid % 2 = 0")
        return lead, session

    monkeypatch.setattr(postgis.PostGISStore, "_snapshot_sessions", then_delete)
    _assert_same(before, _sums(store, zones))
    assert store.count("batiments") == 200  # the deletion did happen
