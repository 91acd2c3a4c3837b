"""HTTP caching of collections and pages of features (issue 16, point 3), with a real client on
a live server, both backends: weak ETags from the store's revision, 304 without a body,
``Cache-Control`` by role, ``Vary`` on the credentials — and an edit seen at once (ETag, extent)."""

from __future__ import annotations

import httpx
import pytest
import shapely
import shapely.affinity
from conftest_api import X0, Y0

from ort_geo import editing
from ort_geo.features import Feature

PATHS = ["/collections/secteurs_ort/items?limit=5", "/collections/secteurs_ort", "/collections"]


def _revalidated(client: httpx.Client, path: str, headers: dict | None = None) -> httpx.Response:
    """GET, then GET again with its ETag in If-None-Match: the 304. On PostGIS the revision is
    the cluster's snapshot, which another database's commit may move in between: then the second
    answer is a full one with a new ETag, and the pair is tried again."""
    for _ in range(10):
        first = client.get(path, headers=headers)
        assert first.status_code == 200, first.text
        again = client.get(path, headers={**(headers or {}),
                                          "If-None-Match": first.headers["etag"]})
        if again.status_code == 304:
            assert again.headers["etag"] == first.headers["etag"]
            return again
        assert again.status_code == 200 and again.headers["etag"] != first.headers["etag"]
    pytest.fail(f"{path} : jamais de 304")


@pytest.mark.parametrize("path", PATHS)
def test_public_and_keyed_answers_revalidate_with_304(live_server, keys, path):
    staff = {"X-API-Key": keys["staff"]}
    with httpx.Client(base_url=live_server, timeout=30) as client:
        public = client.get(path)
        assert public.status_code == 200
        assert public.headers["etag"].startswith('W/"')
        # Anyone may keep a public answer (revalidated on each use: an edit shows at once);
        # an answer to a key stays private; both vary with the credentials.
        assert public.headers["cache-control"] == "public, no-cache"
        assert {"X-API-Key", "Authorization"} <= {
            v.strip() for v in public.headers["vary"].split(",")}
        not_modified = _revalidated(client, path)
        assert not_modified.content == b""
        assert not_modified.headers["cache-control"] == "public, no-cache"
        # A list of tags, weak or not, and "*" match too (RFC 9110).
        listed = client.get(path, headers={
            "If-None-Match": f'"autre", {not_modified.headers["etag"].removeprefix("W/")}'})
        assert listed.status_code in (200, 304)  # 200 only when the revision moved meanwhile
        assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304
        assert client.get(path, headers={"If-None-Match": '"autre"'}).status_code == 200

        keyed = client.get(path, headers=staff)
        assert keyed.headers["cache-control"] == "private, no-cache"
        assert keyed.headers["etag"] != client.get(path).headers["etag"]
        assert _revalidated(client, path, staff).content == b""
        # The public tag does not validate the staff answer (it shows more fields).
        crossed = client.get(path, headers={**staff, "If-None-Match": public.headers["etag"]})
        assert crossed.status_code == 200
        # Another query is another answer.
        other = client.get(path + ("&" if "?" in path else "?") + "f=json")
        assert other.headers["etag"] != client.get(path).headers["etag"]


def test_an_edit_changes_the_etag_and_the_extent_at_once(live_server, keys, api_store):
    editor = {"X-API-Key": keys["editor"]}
    items = "/collections/secteurs_ort/items"
    with httpx.Client(base_url=live_server, timeout=30) as client:
        before = {path: client.get(path) for path in PATHS}
        east = before["/collections/secteurs_ort"].json()["extent"]["spatial"]["bbox"][0][2]
        # Another client (QGIS, a script) adds a sector 700 m east of the others: the server
        # learns it from the store's revision alone.
        editing.checked_edit(api_store, "secteurs_ort", "create", Feature(
            "gare", {"nom": "Gare", "type": "quartier"},
            shapely.box(X0 + 2000, Y0, X0 + 2200, Y0 + 200)), author="qgis")
        for path, old in before.items():
            # The cached copy is stale: revalidating it gives the new answer, not a 304.
            now = client.get(path, headers={"If-None-Match": old.headers["etag"]})
            assert now.status_code == 200 and now.headers["etag"] != old.headers["etag"], path
        page = client.get(items, params={"limit": 50}).json()
        assert "gare" in {f["id"] for f in page["features"]}
        # The extent includes the new sector at once (it was kept 30 s).
        described = client.get("/collections/secteurs_ort").json()
        assert described["extent"]["spatial"]["bbox"][0][2] > east + 0.005  # 700 m further east

        # One feature keeps its strong ETag — the one If-Match takes — with the same caching.
        one = client.get(f"{items}/gare", headers=editor)
        assert not one.headers["etag"].startswith("W/")
        assert one.headers["cache-control"] == "private, no-cache"
        assert client.get(f"{items}/gare", headers={
            **editor, "If-None-Match": one.headers["etag"]}).status_code == 304
        patched = client.patch(f"{items}/gare", json={"properties": {"nom": "Gare SNCF"}},
                               headers={**editor, "If-Match": one.headers["etag"],
                                        "Content-Type": "application/merge-patch+json"})
        assert patched.status_code == 200, patched.text
        names = {f["id"]: f["properties"]["nom"]
                 for f in client.get(items, params={"limit": 50}).json()["features"]}
        assert names["gare"] == "Gare SNCF"


def test_a_whole_small_collection_is_kept_per_revision_role_and_crs(demo_store_edit):
    """The first page of a collection that holds all of it (no box, filter nor date) is kept
    per store revision, role and CRS: the same answer without reading the store; any write (by
    anyone) reads again; a box, a filter, a later page or a smaller limit always read; without
    a revision (GeoPackage in WAL mode) nothing is kept."""
    from fastapi.testclient import TestClient

    from api import create_app
    from ort_geo import auth

    store = demo_store_edit
    staff = {"X-API-Key": auth.create_key(store, "agent", "staff")}
    items = "/collections/secteurs_ort/items"
    with TestClient(create_app(store.url)) as client:
        served = client.app.state.store
        reads = []
        read_page = served.read_page
        served.read_page = lambda *a, **k: reads.append(a[0]) or read_page(*a, **k)

        def page(path: str = items, **params):
            resp = client.get(path, params=params, headers=params.pop("headers", staff))
            assert resp.status_code == 200, resp.text
            body = resp.json()
            return body, [f["id"] for f in body["features"]], len(reads)

        for _ in range(10):  # on PostGIS, another database's commit moves the revision too
            revision = served.revision()
            first, ids, n = page()
            again, same, m = page()
            if served.revision() == revision:
                break
        assert first["numberMatched"] == first["numberReturned"] == len(ids) >= 3
        assert m == n and same == ids  # kept: no read
        assert {k: v for k, v in again.items() if k != "timeStamp"} == {
            k: v for k, v in first.items() if k != "timeStamp"}
        public, _, m = page(headers={})  # another role: its own answer
        assert m == n + 1 and not set(public["features"][0]["properties"]) - set(
            store.spec("secteurs_ort").public_fields)
        l93, _, m = page(crs=f"http://www.opengis.net/def/crs/EPSG/0/{store.epsg}")
        assert m == n + 2 and l93["features"][0]["geometry"] != first["features"][0]["geometry"]
        for params in ({"limit": 2}, {"offset": 1}, {"bbox": "7.0,48.0,7.5,48.5"},
                       {"type": first["features"][0]["properties"]["type"]}):
            before = len(reads)
            body, _, m = page(**params)
            assert m == before + 1, params
            body, _, m = page(**params)
            assert m == before + 2, params  # never kept
        assert page(limit=2)[0]["numberReturned"] == 2  # not the kept whole collection
        # Anyone's write (here straight into the store) is seen at once.
        editing.checked_edit(store, "secteurs_ort", "update", None, author="qgis",
                             feature_id=ids[0], properties={"nom": "Renommé"})
        before = len(reads)
        body, _, m = page()
        assert m == before + 1
        assert {f["id"]: f["properties"]["nom"] for f in body["features"]}[ids[0]] == "Renommé"
        # No revision: every request reads.
        served.revision = lambda layer=None: None
        before = len(reads)
        assert page()[2] == before + 1 and page()[2] == before + 2


def test_served_feature_texts_are_kept_until_the_store_changes(demo_store_edit):
    """A bbox page serves the texts of the features it served since the store last changed
    without reading their rows (the same bytes as when read); texts are kept per fields and CRS
    (a public caller never gets a staff text, Lambert-93 never a CRS84 one); a write by the
    tool or by another client (straight into the store) is served at once."""
    from fastapi.testclient import TestClient
    from pyproj import Transformer

    from api import create_app
    from ort_geo import auth
    from ort_geo.store.base import Store

    store = demo_store_edit
    if type(store).read_page is Store.read_page:
        pytest.skip(f"{type(store).__name__} lit encore toute la page (read_page par défaut)")
    staff = {"X-API-Key": auth.create_key(store, "agent", "staff")}
    spec = store.spec("batiments")
    x, y = store.read("batiments").geometry.union_all().centroid.coords[0]
    to_lonlat = Transformer.from_crs(store.epsg, 4326, always_xy=True)
    lon0, lat0 = to_lonlat.transform(x - 400, y - 400)
    lon1, lat1 = to_lonlat.transform(x + 400, y + 400)
    items = f"/collections/batiments/items?limit=60&bbox={lon0},{lat0},{lon1},{lat1}"
    with TestClient(create_app(store.url)) as client:
        served = client.app.state.store
        read: list[int] = []  # rows read per page
        read_page = served.read_page

        def counted(*args, **kwargs):
            page = read_page(*args, **kwargs)
            read.append(len(page.batch))
            return page

        served.read_page = counted

        def page(path: str = items, headers: dict | None = staff) -> dict:
            resp = client.get(path, headers=headers)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            return {k: v for k, v in body.items() if k != "timeStamp"}

        for _ in range(10):  # on PostGIS, another database's commit moves the revision too
            revision = served.revision()
            first = page()
            again = page()
            if served.revision() == revision:
                break
        assert first["numberReturned"] == 60 and first["numberMatched"] > 60
        assert read[-2:] == [60, 0] and again == first  # kept: nothing read, same features
        public = page(headers={})  # other fields: their own texts
        assert read[-1] == public["numberReturned"] > 0
        assert all(set(f["properties"]) <= set(spec.public_fields) for f in public["features"])
        assert set(spec.field_names) - set(spec.public_fields)  # staff texts hold more
        l93 = page(f"{items}&crs=http://www.opengis.net/def/crs/EPSG/0/{store.epsg}")
        assert read[-1] == 60 and l93["features"][0]["geometry"] != first["features"][0]["geometry"]
        assert page() == first and read[-1] == 0
        # Another page of the same box: its own features read, the first page's kept.
        page(f"{items}&offset=30")
        assert read[-1] == 30
        # The tool's write, then another client's straight into the store: seen at once.
        ids = [f["id"] for f in first["features"]]
        editing.checked_edit(store, "batiments", "update", None, author="qgis",
                             feature_id=ids[0], properties={"adresse": "1 rue Neuve"})
        body = page()
        assert read[-1] == 60
        assert body["features"][0]["properties"]["adresse"] == "1 rue Neuve"
        _outside_write(store, "batiments", ids[1], "adresse", "2 rue Neuve")
        body = page()
        assert read[-1] == 60
        assert body["features"][1]["properties"]["adresse"] == "2 rue Neuve"
        assert page() == body and read[-1] == 0


def _outside_write(store, layer: str, feature_id: str, field: str, value: str) -> None:
    """``UPDATE`` of one field by another client (sqlite3 or psycopg): no tool in between."""
    if store.url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(f'UPDATE "{store.schema}"."{layer}" SET "{field}" = %s WHERE "id" = %s',
                         (value, feature_id))
        return
    conn = _sqlite_client(store)
    with conn:
        conn.execute(f'UPDATE "{layer}" SET "{field}" = ? WHERE "id" = ?', (value, feature_id))
    conn.close()


def _sqlite_client(store):
    """Another client's connection to the GeoPackage, with the functions its triggers call."""
    import sqlite3

    from ort_geo.store.gpkg import _st, _st_is_empty

    conn = sqlite3.connect(store.path)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(name, 1, _st(i), deterministic=True)
    conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
    return conn


def _outside_move(store, layer: str, feature_id: str, dx: float) -> None:
    """Another client moves a feature by ``dx`` metres (sqlite3 or psycopg, no tool in between;
    on the GeoPackage its R-tree triggers follow, as under QGIS)."""
    if store.url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(f'UPDATE "{store.schema}"."{layer}" SET geom = ST_Translate(geom, %s, 0) '
                         'WHERE "id" = %s', (dx, feature_id))
        return
    from ort_geo.store.gpkg import encode_geometries

    geom = shapely.affinity.translate(store.get(layer, feature_id).geometry, dx)
    conn = _sqlite_client(store)
    with conn:
        conn.execute(f'UPDATE "{layer}" SET geom = ? WHERE "id" = ?',
                     (encode_geometries([geom], store.epsg)[0], feature_id))
    conn.close()


def test_every_worker_serves_a_box_as_the_store_now_holds_it(demo_store_edit):
    """A live server with two worker processes, each keeping its pages' matches and texts: after
    every write — the tool's from another process, another client's straight into the store; a
    building moved out of the box, back in, its fields changed — the next pages, whichever
    worker answers, are the store's page as it now is (members, count, fields, geometry)."""
    from conftest import serve_process
    from pyproj import Transformer

    from api.geojson import CRS84, parse_bbox
    from ort_geo import auth

    store = demo_store_edit
    staff = {"X-API-Key": auth.create_key(store, "agent", "staff")}
    x, y = store.read("batiments").geometry.union_all().centroid.coords[0]
    to_lonlat = Transformer.from_crs(store.epsg, 4326, always_xy=True)
    lon0, lat0 = to_lonlat.transform(x - 150, y - 150)
    lon1, lat1 = to_lonlat.transform(x + 150, y + 150)
    bbox = f"{lon0},{lat0},{lon1},{lat1}"
    items = f"/collections/batiments/items?limit=100&bbox={bbox}"
    query = parse_bbox(bbox, CRS84, storage=store.epsg)

    def truth() -> tuple[int, dict[str, dict]]:
        """The box as the store holds it, read whole (no page path, nothing kept)."""
        frame = store.read("batiments", bbox=query.envelope)
        frame = frame[frame.intersects(query.area)]
        plain = frame.astype(object).where(frame.notna(), None)  # as JSON gives them
        return len(frame), {row["id"]: {"adresse": row["adresse"],
                                        "nb_logements": row["nb_logements"]}
                            for _, row in plain.iterrows()}

    matched, members = truth()
    assert 5 < matched < 100, matched  # one page holds the box
    moved = sorted(members)[len(members) // 2]

    def served(server: str) -> None:
        expected_count, expected = truth()
        for _ in range(8):  # new connections: both workers answer in turn
            resp = httpx.get(server + items, headers=staff, timeout=60)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["numberMatched"] == expected_count
            got = {f["id"]: {n: f["properties"][n] for n in ("adresse", "nb_logements")}
                   for f in body["features"]}
            assert got == expected
            if moved in got:
                shape = shapely.geometry.shape(
                    next(f for f in body["features"] if f["id"] == moved)["geometry"])
                assert shape.intersects(shapely.box(lon0, lat0, lon1, lat1))

    with serve_process(store.url, "--workers", "2", timeout=120) as (server, _):
        for _ in range(3):
            served(server)  # every worker keeps the box's matches and texts
        editing.checked_edit(store, "batiments", "update", None, author="test",
                             feature_id=moved, properties={"adresse": "3 rue Neuve"})
        served(server)
        _outside_move(store, "batiments", moved, 1000.0)  # out of the box
        assert moved not in truth()[1]
        served(server)
        _outside_write(store, "batiments", moved, "adresse", "4 rue Neuve")  # out: unseen
        served(server)
        _outside_move(store, "batiments", moved, -1000.0)  # back in
        assert truth()[1][moved]["adresse"] == "4 rue Neuve"
        served(server)
        geom = shapely.affinity.translate(store.get("batiments", moved).geometry, 1000.0)
        editing.checked_edit(store, "batiments", "update", None, author="test",
                             feature_id=moved, properties={"nb_logements": 7}, geometry=geom)
        assert moved not in truth()[1]
        served(server)
