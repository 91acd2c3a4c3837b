"""Pages read inside the store (the API's read path): the same features as a full read filtered
by geopandas, on every backend; the store's revision and the caches keyed by it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from stats_data import buildings_frame

from ort_geo import auth

X0, Y0 = 1_010_000.0, 6_800_000.0
BOX = (X0 + 300, Y0 + 300, X0 + 700, Y0 + 700)


def _buildings(n: int = 120) -> gpd.GeoDataFrame:
    """Small squares on a grid, plus shapes whose envelope meets ``BOX`` but not themselves: an L
    around its corner and a thin diagonal strip past it."""
    rng = np.random.default_rng(5)
    xy = rng.uniform([X0, Y0], [X0 + 1000, Y0 + 1000], (n, 2))
    geoms = list(shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + 8, xy[:, 1] + 8))
    corner = shapely.union(shapely.box(BOX[2] + 5, BOX[1] - 60, BOX[2] + 15, BOX[1] + 60),
                           shapely.box(BOX[2] - 60, BOX[1] - 15, BOX[2] + 15, BOX[1] - 5))
    strip = shapely.Polygon([(BOX[0] - 60, BOX[3] - 10), (BOX[0] - 58, BOX[3] - 10),
                             (BOX[0] + 10, BOX[3] + 60), (BOX[0] + 8, BOX[3] + 60)])
    geoms += [corner, strip]
    return buildings_frame(geoms, rng, 3)


def _ids(batch) -> list[str]:
    return batch.ids.tolist()


def test_pages_match_a_filtered_full_read(store):
    store.write("batiments", _buildings(), author="test")
    full = store.read("batiments")
    # An area given in degrees becomes a curved quadrilateral in Lambert-93: a rotated square.
    area = shapely.affinity.rotate(shapely.box(X0 + 200, Y0 + 200, X0 + 800, Y0 + 800), 20)
    cases = {
        "all": (full, {}),
        "where": (full[full["etat"].isin(["bon", "moyen"])], {"where": {"etat": ["bon", "moyen"]}}),
        "bbox": (full[full.intersects(shapely.box(*BOX))], {"bbox": BOX}),
        "area": (full[full.intersects(area)], {"area": area}),
        "bbox+where": (full[full.intersects(shapely.box(*BOX)) & (full["etat"] == "degrade")],
                       {"bbox": BOX, "where": {"etat": "degrade"}}),
    }
    assert {"b120", "b121"}.isdisjoint(cases["bbox"][0]["id"])  # envelope only: left out
    for name, (expected, filters) in cases.items():
        ids = expected["id"].tolist()
        assert ids, name
        for limit, offset in ((7, 0), (7, 7), (1000, 0), (5, len(ids) - 2), (5, len(ids) + 3)):
            batch, matched = store.read_batch("batiments", columns=["etat"], limit=limit,
                                              offset=offset, count=True, **filters)
            assert matched == len(ids), (name, limit, offset)
            assert _ids(batch) == ids[offset:offset + limit], (name, limit, offset)
            assert list(batch.columns) == ["id", "etat"]
        batch, matched = store.read_batch("batiments", **filters)
        assert matched is None and _ids(batch) == ids
        rows = expected.set_index("id")
        assert batch.columns["nb_logements"].tolist() == rows["nb_logements"].tolist()
        assert all(isinstance(v, int) for v in batch.columns["nb_logements"])
        assert shapely.equals(batch.geometry, rows.geometry.to_numpy()).all(), name


def test_revision_changes_with_every_write_and_caches_follow(store):
    first = store.revision()
    assert store.revision() == first  # reads change nothing
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert store.cached("n", compute) == store.cached("n", compute) == 1
    store.write("batiments", _buildings(3), author="test")
    second = store.revision()
    assert second != first
    assert store.cached("n", compute) == 2
    key = auth.create_key(store, "agent", "staff")  # metadata too
    assert store.revision() != second
    assert auth.authenticate(store, key).role == "staff"
    auth.revoke_key(store, "agent")
    with pytest.raises(PermissionError):
        auth.authenticate(store, key)  # revoked at once, cache or not
    # Another client's write (QGIS, psql: here a bare SQL insert) changes it as well.
    before = store.revision()
    sql = "INSERT INTO {} (scope, key, value) VALUES ('autre', 'client', 'x')"
    if hasattr(store, "path"):
        import sqlite3

        with sqlite3.connect(store.path) as conn:
            conn.execute(sql.format("ort_meta"))
    else:
        import psycopg

        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(sql.format(store._t("ort_meta")))
    assert store.revision() != before
    assert store.get_meta("autre") == {"client": "x"}


def test_a_checked_key_is_known_until_the_store_changes(store, monkeypatch):
    """A server checks the same keys on every request: a key's digest is computed once per
    store revision; a revoked key, or another key created meanwhile, is seen at once."""
    key = auth.create_key(store, "agent", "staff")
    digests = []
    digest = auth._digest
    monkeypatch.setattr(auth, "_digest", lambda *a: digests.append(1) or digest(*a))
    for _ in range(3):
        assert auth.authenticate(store, key) == auth.Principal("agent", "staff")
    assert len(digests) == 1
    with pytest.raises(PermissionError):  # a wrong secret of the same key: checked, refused
        auth.authenticate(store, key[:-2] + ("aa" if not key.endswith("aa") else "bb"))
    assert len(digests) == 2
    other = auth.create_key(store, "editeur", "editor")  # a write: the checks start again
    assert auth.authenticate(store, other).role == "editor"
    assert auth.authenticate(store, key).role == "staff"
    assert len(digests) == 5  # one to create the key, one per key checked
    auth.revoke_key(store, "agent")
    with pytest.raises(PermissionError):
        auth.authenticate(store, key)
    # Without a revision (a GeoPackage in WAL mode), nothing is kept: every call checks.
    assert auth.authenticate(store, other, lambda: None).role == "editor"
    assert auth.authenticate(store, other, lambda: None).role == "editor"
    assert len(digests) == 7  # (the revoked key has no record left to check)


def test_revision_of_a_geopackage_in_wal_mode(new_store):
    """QGIS may switch a GeoPackage to WAL mode: commits then leave the file as it is, so the
    store gives no revision (nothing is cached) while the -wal file exists; once it is folded
    back into the file, the revision tells the change."""
    import sqlite3

    store = new_store("gpkg")
    before = store.revision()
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    conn.execute("INSERT INTO ort_meta (scope, key, value) VALUES ('autre', 'client', 'x')")
    conn.commit()
    assert store.revision() is None
    calls = []
    assert store.cached("n", lambda: calls.append(1)) is None
    assert store.cached("n", lambda: calls.append(1)) is None and len(calls) == 2
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    assert store.revision() not in (None, before)


def test_get_is_the_frame_read_for_every_layer(demo_store_edit):
    """``Store.get`` reads a plain batch (no frame): the same feature, record and ETag as the
    frame read for every layer of the demo (dates, integers, booleans, empty cells, geometry
    kinds) — a changed ETag would refuse every editor's ``If-Match``."""
    from ort_geo.store.base import iter_features

    store, seen = demo_store_edit, 0
    for name in store.layer_names():
        spec = store.spec(name)
        for expected in iter_features(spec, store.read(name, limit=150)):
            got = store.get(name, expected.id)
            assert got.to_record() == expected.to_record(), (name, expected.id)
            assert got.etag == expected.etag
            seen += 1
    assert seen > 400


def _edge_areas() -> list:
    """Searched areas (Lambert-93 metres): a web client's CRS84 box (a square turned by 3°, its
    edges curved), a square turned by 20°, a square with a hole off its centre, two squares
    (their envelope's centre in neither: no inscribed box)."""
    turned = [shapely.affinity.rotate(shapely.segmentize(shapely.box(x, Y0, x + 600, Y0 + 600),
                                                         150), angle)
              for x, angle in ((X0, 3), (X0 + 2000, 20))]
    holed = shapely.Polygon(shapely.box(X0 + 4000, Y0, X0 + 4600, Y0 + 600).exterior.coords,
                            [shapely.box(X0 + 4380, Y0 + 250, X0 + 4480, Y0 + 350).exterior.coords])
    parts = shapely.MultiPolygon([shapely.box(X0 + 6000, Y0, X0 + 6200, Y0 + 600),
                                  shapely.box(X0 + 6400, Y0, X0 + 6600, Y0 + 600)])
    return [*turned, holed, parts]


def test_an_area_page_is_the_exact_test_at_its_edges(store):
    """PostGIS skips the exact test for the features whose stored (float32) box lies in a box
    inscribed in the area: features hugging that box's corners and edges and the area's own
    boundary (2 cm to 30 cm in or out, smaller than a float32 step of these coordinates),
    features straddling the boundary and an empty geometry give the ids and count of the exact
    test on every backend, page by page."""
    from ort_geo.privacy import RESTRICTED_SOURCES, public_where
    from ort_geo.store.postgis import _inner_box

    areas = _edge_areas()
    geoms = []
    for area in areas:
        inner = _inner_box(area)
        # None for the two parts, and for the hole in the middle (no inscribed quadrilateral).
        assert (inner is None) == (area.geom_type == "MultiPolygon" or bool(area.interiors))
        x0, y0, x1, y1 = inner if inner is not None else area.bounds
        # The inscribed box's corners and mid-edges, and points of the area's boundary.
        spots = [(x, y) for x in (x0, (x0 + x1) / 2, x1) for y in (y0, (y0 + y1) / 2, y1)]
        spots += shapely.get_coordinates(shapely.segmentize(area.boundary, 40)).tolist()
        for x, y in spots:
            for dx in (-0.3, -0.02, 0.02, 0.3):
                for dy in (-0.3, 0.02):
                    geoms.append(shapely.box(x + dx, y + dy, x + dx + 0.05, y + dy + 0.05))
        # Large features across the boundary, and one just inside each inscribed corner.
        geoms += [shapely.box(x - 15, y - 15, x + 15, y + 15) for x, y in spots[9::7]]
    # Every third record from a restricted source (staff only), some without a source.
    sources = [(RESTRICTED_SOURCES[0], "BD TOPO", None)[i % 3] for i in range(len(geoms))]
    frame = gpd.GeoDataFrame({"id": [f"e{i:05d}" for i in range(len(geoms))],
                              "code_insee": "68298", "source": sources},
                             geometry=geoms, crs="EPSG:2154")
    store.write("batiments", frame, author="test")
    if not hasattr(store, "path"):  # another client's empty geometry (the tool refuses them)
        import psycopg

        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(f"INSERT INTO {store._t('batiments')} (id, geom) SELECT 'vide', "
                         "ST_SetSRID(ST_GeomFromText('MULTIPOLYGON EMPTY'), 2154)")
    full = store.read("batiments")
    for k, area in enumerate(areas):
        ids = full[full.intersects(area)]["id"].tolist()
        outside = full[~full.intersects(area) & full.intersects(shapely.box(*area.bounds))]
        assert len(ids) > 100 and len(outside) > 20, k  # both sides of the edge are tried
        for limit, offset in ((7, 0), (100, 50), (100_000, 0), (5, len(ids) + 3)):
            batch, matched = store.read_batch("batiments", columns=["id"], limit=limit,
                                              offset=offset, count=True, area=area,
                                              bbox=area.bounds)
            assert matched == len(ids), (k, limit, offset)
            assert _ids(batch) == ids[offset:offset + limit], (k, limit, offset)
        # The public's page: records of restricted sources left out by the same statement.
        public = full[full.intersects(area) & ~full["source"].isin(RESTRICTED_SOURCES)]
        batch, matched = store.read_batch("batiments", limit=50, offset=10, count=True,
                                          area=area, bbox=area.bounds,
                                          where=public_where("batiments"))
        assert 0 < len(public) < len(ids) - 30, k
        assert matched == len(public) and _ids(batch) == public["id"].tolist()[10:60], k
    # A box alone (bbox-crs in the store's CRS): its own inscribed box.
    box = shapely.box(*areas[0].bounds)
    batch, matched = store.read_batch("batiments", count=True, bbox=areas[0].bounds)
    assert _ids(batch) == full[full.intersects(box)]["id"].tolist() and matched == len(batch)


def _same_rows(got, expected, name) -> None:
    assert got.ids.tolist() == expected.ids.tolist(), name
    assert list(got.columns) == list(expected.columns), name
    for column, values in expected.columns.items():
        assert got.columns[column].tolist() == values.tolist(), (name, column)
    assert shapely.equals_exact(got.geometry, expected.geometry, 0).all(), name


def test_a_page_with_kept_features_is_the_page_without_them(store, monkeypatch):
    """``read_page(kept=…)``: the ids, count and rows of the page read whole, less the rows of the
    features the caller keeps (whichever they are), for every box, filter and offset — on
    PostGIS by both of its paths (the ids then the rows not kept; the whole page at once, taken
    while the callers keep little)."""
    from ort_geo.store import postgis

    frame = _buildings(300)
    frame.loc[frame.index[::7], "etat"] = None  # empty cells read back as None
    store.write("batiments", frame, author="test")
    area = shapely.affinity.rotate(shapely.box(X0 + 200, Y0 + 200, X0 + 800, Y0 + 800), 20)
    cases = {"all": {}, "where": {"where": {"etat": ["bon", "moyen"]}}, "bbox": {"bbox": BOX},
             "bbox as a list": {"bbox": list(BOX)},
             "area": {"area": area, "bbox": area.bounds},
             "area+where": {"area": area, "bbox": area.bounds, "where": {"etat": "degrade"}}}
    rng = np.random.default_rng(7)
    subsets = {"none": lambda ids: [], "all": lambda ids: ids, "odd": lambda ids: ids[1::2],
               "first": lambda ids: ids[:3], "last": lambda ids: ids[-1:],
               "random": lambda ids: [i for i in ids if rng.random() < 0.6]}
    paths = (-1.0, 2.0) if not hasattr(store, "path") else (postgis.KEPT_SHARE,)
    checked = 0
    for name, filters in cases.items():
        for limit, offset in ((20, 0), (20, 20), (1000, 0), (5, 10_000)):
            whole, matched = store.read_batch("batiments", columns=["etat", "nb_logements"],
                                              limit=limit, offset=offset, count=True, **filters)
            assert offset == 10_000 or len(whole), name  # pages with features; one past the end
            # Without kept: the whole page, as read_batch, and the store's row numbers.
            base = store.read_page("batiments", columns=["etat", "nb_logements"], limit=limit,
                                   offset=offset, count=True, **filters)
            assert base.kept == [None] * len(whole) and base.matched == matched
            _same_rows(base.batch, whole, name)
            rows = base.rows
            assert len(set(rows)) == len(rows) == len(whole)
            for subset, keep in subsets.items():
                for share in paths:  # PostGIS: always the ids first, or always whole
                    monkeypatch.setattr(postgis, "KEPT_SHARE", share)
                    held = {r: f"texte {r}" for r in keep(rows)}
                    asked: list[list[int]] = []

                    def kept(got, asked=asked, held=held):
                        asked.append(got)
                        return [held.get(r) for r in got]

                    page = store.read_page("batiments", columns=["etat", "nb_logements"],
                                           limit=limit, offset=offset, count=True, **filters,
                                           kept=kept)
                    case = (name, limit, offset, subset, share)
                    assert page.rows == rows and page.matched == matched, case
                    assert asked == [rows], case  # asked once, for the page's rows
                    assert page.kept == [held.get(r) for r in rows], case
                    assert page.read_rows == [r for r in rows if r not in held], case
                    _same_rows(page.batch, whole.take(np.array([r not in held for r in rows],
                                                               dtype=bool)), case)
                    checked += 1
    assert checked == len(cases) * 4 * len(subsets) * len(paths)
