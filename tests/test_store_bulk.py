"""Bulk writes: the column-wise path of ``Store.write`` keeps the per-feature semantics.

Same French errors for the same bad cell wherever it sits, byte-for-byte unchanged store on failure,
journal records identical to ``Feature.to_record``, a GeoPackage GDAL still reads and edits.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import shapely.affinity

from ort_geo import Feature
from ort_geo.catalogue import CATALOGUE
from ort_geo.errors import FieldError, GeometryError
from ort_geo.features import FeatureBatch
from ort_geo.validation import coerce_value, validate_frame

BATIMENTS = CATALOGUE["batiments"]
N = 60_000


def _buildings(n: int = N) -> gpd.GeoDataFrame:
    i = np.arange(n)
    x, y = 1_000_000 + (i % 300) * 30.0, 6_800_000 + (i // 300) * 30.0
    return gpd.GeoDataFrame(
        {"id": [f"B{k:07d}" for k in i], "code_insee": "68298", "nb_logements": i % 7,
         "etat": np.array(["bon", "moyen", None], dtype=object)[i % 3],
         "rdc_commerce": i % 5 == 0},
        geometry=shapely.box(x, y, x + 12, y + 9), crs=2154)


BOWTIE = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])


@pytest.mark.parametrize(
    ("column", "value", "error", "message"),
    [
        ("nb_logements", -1, FieldError, "Valeurs refusées dans batiments (1) :\n"
         "  B0050000 : champ nb_logements = « -1 » est inférieur au minimum 0"),
        ("nb_logements", "douze", FieldError, "Valeurs refusées dans batiments (1) :\n"
         "  B0050000 : champ nb_logements = « douze » n'est pas un entier"),
        ("etat", "ruine", FieldError, "Valeurs refusées dans batiments (1) :\n"
         "  B0050000 : champ etat = « ruine » n'est pas une valeur admise "
         "(bon, moyen, degrade, tres_degrade)"),
        ("geometry", BOWTIE, GeometryError, "Géométries refusées dans batiments (1) :\n"
         "  B0050000 : géométrie invalide (Self-intersection[0.5 0.5])"),
        ("geometry", shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
         GeometryError, "Géométries refusées dans batiments (1) :\n"
         "  B0050000 : multipolygone de plusieurs parties : un seul polygone attendu"),
    ],
    ids=["below-minimum", "not-a-number", "bad-enum", "bowtie", "multipart"],
)
def test_bad_cell_deep_in_a_large_frame(store, store_state, column, value, error, message):
    frame = _buildings()
    store.write("batiments", frame.iloc[:1000], author="a")
    before = store_state(store)
    frame[column] = frame[column].astype(object)
    frame.loc[50_000, column] = value
    with pytest.raises(error) as info:
        store.write("batiments", frame, author="a")
    assert str(info.value) == message
    assert store_state(store) == before


def test_many_bad_cells_reported_in_row_then_field_order(store):
    frame = _buildings(2000)
    frame["nb_logements"] = frame["nb_logements"].astype(object)
    frame.loc[[1500, 20, 700], "nb_logements"] = -1
    frame.loc[[700, 1999], "etat"] = "ruine"
    with pytest.raises(FieldError) as info:
        store.write("batiments", frame, author="a")
    lines = str(info.value).splitlines()
    assert lines[0] == "Valeurs refusées dans batiments (5) :"
    assert [" ".join(line.split()[0:4:3]) for line in lines[1:]] == [
        "B0000020 nb_logements", "B0000700 nb_logements", "B0000700 etat",
        "B0001500 nb_logements", "B0001999 etat"]


COLUMNS = {
    "nb_logements": [pd.Series([3, None, 0], dtype="Int64"), pd.Series([3.0, np.nan, -0.0]),
                     pd.Series(["1 000", " 5 ", None], dtype=object), pd.Series([1, 2, 3])],
    "rdc_commerce": [pd.Series([True, False, True]), pd.Series([True, None, False], dtype="boolean"),
                     pd.Series([True, None, "oui"], dtype=object), pd.Series([1.0, 0.0, np.nan]),
                     pd.Series([1, 0, 1])],
    "etat": [pd.Series([" Très dégradé", "bon", None], dtype=object),
             pd.Series(["moyen ", "", None], dtype="str")],
    "code_insee": [pd.Series([68298, 68294, 68102]), pd.Series([" 68298", None, ""], dtype="str"),
                   pd.Series([68298.0, np.nan, 1.5])],
    "nb_logements_vacants": [pd.Series([np.nan, 2.0, 1.0])],
    "annee_construction": [pd.Series([1900, 2000, 1850], dtype="int32")],
}


@pytest.mark.parametrize(("name", "series"),
                         [(n, s) for n, many in COLUMNS.items() for s in many],
                         ids=[f"{n}-{s.dtype}-{i}" for n, many in COLUMNS.items()
                              for i, s in enumerate(many)])
def test_bulk_coercion_equals_coerce_value(name, series):
    frame = gpd.GeoDataFrame({"id": ["a", "b", "c"], name: series},
                             geometry=[shapely.box(0, 0, 1, 1)] * 3, crs=2154)
    got = validate_frame(BATIMENTS, frame).columns[name].tolist()
    expected = [coerce_value(BATIMENTS.field(name), v) for v in series.tolist()]
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]


def test_bulk_journal_records_are_to_record():
    features = [
        Feature("a%s", {"d": dt.date(2024, 2, 29), "f": -0.0, "g": 1e300, "b": True,
                        "s": 'guillemets " et accents é', "n": None, "i": 12}, shapely.box(0, 0, 1, 1)),
        Feature("b", {"d": None, "f": 2.5, "g": float("inf"), "b": False, "s": None, "n": None,
                      "i": None}, shapely.Point(1.123456789012, 2)),
    ]
    batch = FeatureBatch.from_features(features, ["d", "f", "g", "b", "s", "n", "i"])
    assert batch.records_json().tolist() == [json.dumps(f.to_record(), ensure_ascii=False)
                                             for f in features]


def test_upsert_reimport_diff_and_journal(store):
    frame = _buildings(3000)
    assert store.write("batiments", frame, author="a").inserted == 3000
    again = frame.drop(columns=["etat"])  # absent fields keep their stored value
    again.loc[10, "nb_logements"] = 99
    again.loc[20, "geometry"] = shapely.box(0, 0, 5, 5)
    again.loc[30, "geometry"] = shapely.affinity.translate(frame.geometry[30], 0.004)  # < 1 cm
    new = gpd.GeoDataFrame({"id": ["Z1"], "nb_logements": [1]}, geometry=[shapely.box(0, 0, 1, 1)],
                           crs=2154)
    summary = store.write("batiments", pd.concat([new, again], ignore_index=True), author="b")
    assert (summary.inserted, summary.updated, summary.unchanged) == (1, 2, 2998)
    entries = store.journal()[3000:]
    assert [(e.feature_id, e.operation) for e in entries] == [
        ("Z1", "insert"), ("B0000010", "update"), ("B0000020", "update")]
    assert entries[1].before.properties["nb_logements"] == 3
    assert entries[1].after.properties["nb_logements"] == 99
    assert entries[1].after.properties["etat"] == "moyen"
    assert entries[2].after.geometry.equals(shapely.box(0, 0, 5, 5))
    assert store.get("batiments", "B0000012").properties["etat"] == "bon"
    assert store.get("batiments", "Z1").properties["etat"] is None
    summary = store.write("batiments", frame.iloc[:2], author="c", mode="replace")
    assert (summary.unchanged, summary.deleted) == (2, 2999)
    assert store.read("batiments")["id"].tolist() == ["B0000000", "B0000001"]
    assert store.history("batiments", "Z1")[-1].operation == "delete"


def test_bulk_write_keeps_a_valid_geopackage(new_store):
    store = new_store("gpkg")

    def triggers():
        with sqlite3.connect(store.path) as conn:
            return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'batiments' ORDER BY name").fetchall()

    created = triggers()
    frame = _buildings(5000)
    store.write("batiments", frame, author="a")
    moved = frame.iloc[:10].copy()
    moved["geometry"] = moved.translate(500, 500)
    store.write("batiments", moved, author="a")
    assert triggers() == created
    # The seven R-tree triggers of GeoPackage 1.4, and the three of the journal.
    assert sum(n.startswith("rtree_") for n, _ in created) == 7
    assert sum(n.startswith("ort_journal_") for n, _ in created) == 3
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT rtreecheck('rtree_batiments_geom')").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM rtree_batiments_geom").fetchone()[0] == 5000
    stored = pyogrio.read_dataframe(store.path, layer="batiments",
                                    bbox=(1_000_500, 6_800_500, 1_000_520, 6_800_520))
    assert stored["id"].tolist() == ["B0000000"]
    # An external editor (GDAL) appends: the triggers we kept index its feature.
    extra = gpd.GeoDataFrame({"id": ["G1"]}, geometry=[shapely.box(0, 0, 3, 3)], crs=2154)
    pyogrio.write_dataframe(extra, store.path, layer="batiments", append=True)
    assert store.read("batiments", bbox=(1, 1, 2, 2))["id"].tolist() == ["G1"]
    assert store.extent("batiments") == (0.0, 0.0, 1_008_982.0, 6_800_509.0)


@pytest.mark.parametrize("n", [0, 1, 167, 168, 30_000])
def test_packed_rtree_equals_sqlite_inserts(n):
    """The packed R-tree holds exactly the boxes SQLite would store, answers the same queries,
    passes SQLite's own check and stays editable by SQLite."""
    from ort_geo.store.rtree import pack, rtree_boxes

    rng = np.random.default_rng(n)
    x, y = rng.uniform(-1e6, 1e6, n), rng.uniform(6e6, 7e6, n)
    bounds = np.c_[x, y, x + rng.uniform(0, 30, n), y + rng.uniform(0, 30, n)]
    ids = np.arange(1, n + 1) * 3
    trees = []
    for packed in (False, True):
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
        if packed:
            pack(conn, "r", ids, rtree_boxes(bounds))
        else:
            conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)",
                             zip(ids.tolist(), *bounds[:, [0, 2, 1, 3]].T.tolist(), strict=True))
        trees.append(conn)
    query = ("SELECT id FROM r WHERE maxx >= 0 AND minx <= 1e5 AND maxy >= 6.4e6 "
             "AND miny <= 6.6e6 ORDER BY id")
    for sql in ("SELECT * FROM r ORDER BY id", query):
        assert trees[1].execute(sql).fetchall() == trees[0].execute(sql).fetchall()
    assert trees[1].execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    for conn in trees:
        conn.execute("INSERT INTO r VALUES (1, -5, 5, 6.5e6, 6.5e6 + 1)")
        conn.execute("DELETE FROM r WHERE id < ?", (3 * (n // 2),))
    assert (trees[1].execute("SELECT * FROM r ORDER BY id").fetchall()
            == trees[0].execute("SELECT * FROM r ORDER BY id").fetchall())
    assert trees[1].execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"


def test_store_write_benchmark_runs(monkeypatch, capsys):
    """``python -m benchmarks.store_write`` at a tiny scale: it runs and its writes do what it says."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    from benchmarks.store_write import main

    main(["--features", "300"])
    out = capsys.readouterr().out
    assert "300 ajout(s)" in out
    assert "30 modification(s), 0 suppression(s), 270 inchangé(s)" in out
    assert out.count("ratio") == 4


def test_a_small_write_leaves_the_schema_alone(new_store):
    """A write of a few rows keeps the per-row triggers in place: setting them aside changes
    the schema, and every other connection (readers, other server processes) would then parse
    it again after each edit. The R-tree is right either way."""
    from ort_geo.store.gpkg import TRIGGERS_ASIDE_MIN
    from ort_geo.store.rtree import rtree_boxes

    store = new_store("gpkg")

    def schema_version() -> int:
        with sqlite3.connect(store.path) as conn:
            return conn.execute("PRAGMA schema_version").fetchone()[0]

    frame = _buildings(TRIGGERS_ASIDE_MIN)
    start = schema_version()
    store.write("batiments", frame, author="a")  # a bulk write sets them aside, then back
    assert schema_version() > start
    start = schema_version()
    moved = frame.iloc[:3].copy()
    moved["geometry"] = moved.translate(1000, 1000)
    store.write("batiments", moved, author="a")
    store.apply("batiments", [("replace", "B0000004", Feature(
        "B0000004", {"code_insee": "68298"}, shapely.box(0, 0, 7, 7)), None)], author="b")
    assert schema_version() == start
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT rtreecheck('rtree_batiments_geom')").fetchone()[0] == "ok"
        rows = dict((fid, box) for fid, *box in conn.execute(
            'SELECT b.id, r.minx, r.maxx, r.miny, r.maxy FROM rtree_batiments_geom r '
            'JOIN batiments b ON b.fid = r.id WHERE b.id IN (?, ?, ?, ?)',
            ["B0000000", "B0000001", "B0000002", "B0000004"]))
    expected = rtree_boxes(shapely.bounds(np.array([*moved.geometry, shapely.box(0, 0, 7, 7)])))
    for fid, box in zip(["B0000000", "B0000001", "B0000002", "B0000004"], expected,
                        strict=True):
        assert rows[fid] == pytest.approx(box.tolist(), abs=0)
    assert sorted(store.read("batiments", bbox=(1, 1, 2, 2))["id"]) == ["B0000004"]
    assert len(store.history("batiments", "B0000004")) == 2


def test_the_kept_write_connection_follows_the_file(new_store, tmp_path):
    """Writes reuse one connection per thread: after a refused edit it still writes, and a
    store file replaced under the same path is written, not the old one."""
    from ort_geo import open_store
    from ort_geo.errors import ConflictError

    store = new_store("gpkg")
    store.write("batiments", _buildings(3), author="a")
    feature = store.get("batiments", "B0000001")
    with pytest.raises(ConflictError):
        store.apply("batiments", [("replace", "B0000001", feature, "stale")], author="b")
    changed = Feature(feature.id, {**feature.properties, "nb_logements": 9}, feature.geometry)
    store.apply("batiments", [("replace", "B0000001", changed, feature.etag)], author="b")
    assert store.get("batiments", "B0000001").properties["nb_logements"] == 9
    other = open_store(tmp_path / "other.gpkg", create=True)
    other.write("batiments", _buildings(2), author="c")
    other.close()
    (tmp_path / "other.gpkg").replace(store.path)
    store.write("batiments", _buildings(5).iloc[4:], author="d")
    assert sorted(store.read("batiments")["id"]) == ["B0000000", "B0000001", "B0000004"]
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM batiments").fetchone()[0] == 3


def test_connections_of_ended_threads_do_not_pile_up(new_store):
    """Each thread keeps its read and write connections; a server's worker threads come and go
    (anyio ends idle ones): the connections of ended threads are closed, not accumulated."""
    import os
    import threading

    store = new_store("gpkg")
    store.write("batiments", _buildings(3), author="a")

    def open_files() -> int:
        fds = os.listdir("/proc/self/fd")
        return sum(os.path.realpath(f"/proc/self/fd/{fd}") == str(store.path.resolve())
                   for fd in fds if os.path.exists(f"/proc/self/fd/{fd}"))

    def edit(k: int) -> None:
        feature = store.get("batiments", "B0000001")
        changed = Feature(feature.id, {**feature.properties, "nb_logements": k},
                          feature.geometry)
        store.apply("batiments", [("replace", "B0000001", changed, feature.etag)], author="t")

    for k in range(30):
        thread = threading.Thread(target=edit, args=(k,))
        thread.start()
        thread.join()
    assert store.get("batiments", "B0000001").properties["nb_logements"] == 29
    assert open_files() <= 6  # this thread's, the last thread's, the revision descriptor
