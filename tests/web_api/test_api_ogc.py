"""OGC API – Features Core, CRS and queryables over the test store (in-process client)."""

from __future__ import annotations

import re

import pytest
from conftest_api import N_BUILDINGS, X0, Y0
from pyproj import Transformer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
L93 = "http://www.opengis.net/def/crs/EPSG/0/2154"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)


def test_landing_conformance_and_openapi(client):
    links = {link["rel"]: link["href"] for link in client.get("/").json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf
    api = client.get("/api")
    assert api.status_code == 200 and api.json()["openapi"].startswith("3.")
    assert "/collections/batiments/items" in api.json()["paths"]


def test_collections_describe_extent_and_crs(client):
    ids = [c["id"] for c in client.get("/collections").json()["collections"]]
    assert {"secteurs_ort", "batiments", "actions", "communes"} <= set(ids)
    doc = client.get("/collections/secteurs_ort").json()
    assert doc["storageCrs"] == L93 and CRS84 in doc["crs"] and EPSG4326 in doc["crs"]
    minx, miny, maxx, maxy = doc["extent"]["spatial"]["bbox"][0]
    # Every corner of both sectors lies inside the CRS84 extent, which is no wider than needed.
    corners = [TO_WGS84.transform(x, y) for x in (X0, X0 + 1500) for y in (Y0, Y0 + 500)]
    assert minx == pytest.approx(min(c[0] for c in corners), abs=1e-5)
    assert maxy == pytest.approx(max(c[1] for c in corners), abs=1e-5)
    assert all(minx <= lon <= maxx and miny <= lat <= maxy for lon, lat in corners)
    assert client.get("/collections/inconnue").status_code == 404


def test_items_paging_follows_next_links(client):
    url, seen, pages = "/collections/batiments/items?limit=25", [], 0
    while url:
        page = client.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/geo+json"
        body = page.json()
        assert body["numberMatched"] == N_BUILDINGS
        assert body["numberReturned"] == len(body["features"]) <= 25
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == N_BUILDINGS


def test_a_page_is_stamped_within_its_request(client):
    """timeStamp (OGC /ats/core/fc-timeStamp) lies between the request's start and its end, to the
    millisecond: a stamp cut to the second precedes the request that asked for it."""
    from datetime import UTC, datetime, timedelta

    for path in ("/collections/batiments/items?limit=2", "/collections/secteurs_ort/items"):
        for _ in range(3):
            before = datetime.now(UTC)
            stamp = client.get(path).json()["timeStamp"]
            after = datetime.now(UTC)
            assert stamp.endswith("Z")
            assert before - timedelta(milliseconds=1) <= datetime.fromisoformat(stamp) <= after


def test_items_are_rfc7946_lon_lat_by_default(client):
    resp = client.get("/collections/secteurs_ort/items")
    assert resp.headers["content-crs"] == f"<{CRS84}>"
    feature = resp.json()["features"][0]
    lon, lat = feature["geometry"]["coordinates"][0][0][0]
    assert 7.0 < lon < 7.4 and 48.1 < lat < 48.4
    assert feature["id"] == "centre" and feature["properties"]["nom"] == "Centre-ville"


def test_crs_parameter_lambert93_and_epsg4326_axis_order(client):
    l93 = client.get(f"/collections/secteurs_ort/items/centre?crs={L93}")
    assert l93.headers["content-crs"] == f"<{L93}>"
    ring = l93.json()["geometry"]["coordinates"][0][0]
    xs = sorted(p[0] for p in ring)
    assert xs[0] == pytest.approx(X0) and xs[-1] == pytest.approx(X0 + 500)
    latlon = client.get(f"/collections/secteurs_ort/items/centre?crs={EPSG4326}").json()
    lat, lon = latlon["geometry"]["coordinates"][0][0][0]
    assert 48.1 < lat < 48.4 and 7.0 < lon < 7.4


def test_bbox_in_each_crs_selects_the_same_buildings(client):
    # The western sector only: buildings b000..b039.
    box = (X0, Y0, X0 + 600, Y0 + 600)
    lon0, lat0 = TO_WGS84.transform(box[0] + 1, box[1] + 1)
    lon1, lat1 = TO_WGS84.transform(box[2], box[3])
    queries = {
        f"bbox={','.join(map(str, box))}&bbox-crs={L93}",
        f"bbox={lon0},{lat0},{lon1},{lat1}",
        f"bbox={lat0},{lon0},{lat1},{lon1}&bbox-crs={EPSG4326}",
    }
    for query in queries:
        body = client.get(f"/collections/batiments/items?limit=100&{query}").json()
        assert body["numberMatched"] == 40, query
        assert {f["id"] for f in body["features"]} == {f"b{i:03d}" for i in range(40)}


def test_single_item_etag_and_not_modified(client):
    resp = client.get("/collections/secteurs_ort/items/centre")
    etag = resp.headers["etag"]
    assert etag.startswith('"') and resp.json()["id"] == "centre"
    again = client.get("/collections/secteurs_ort/items/centre", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get("/collections/secteurs_ort/items/absent").status_code == 404


def test_queryables_and_property_filters(client):
    q = client.get("/collections/actions/queryables")
    assert q.headers["content-type"].startswith("application/schema+json")
    props = q.json()["properties"]
    assert props["orientation"]["type"] == "integer" and "enum" in props["statut"]
    body = client.get("/collections/batiments/items?nb_logements=3&limit=100").json()
    assert body["numberMatched"] == 12
    assert all(f["properties"]["nb_logements"] == 3 for f in body["features"])
    both = client.get("/collections/batiments/items?nb_logements=3&nb_logements=4").json()
    assert both["numberMatched"] == 24


@pytest.mark.parametrize("query, words", [
    ("limit=0", "limit"),
    ("limit=-5", "limit"),
    ("limit=abc", "limit"),
    ("offset=-1", "offset"),
    ("bbox=1,2,3", "4 nombres"),
    ("bbox=a,b,c,d", "nombres"),
    ("bbox=10,50,5,40", "minimum"),
    ("bbox=7,48,8", "4 nombres"),
    ("crs=EPSG:9999", "non pris en charge"),
    ("bbox=7,48,8,49&bbox-crs=urn:bad", "bbox-crs"),
    ("bbox-crs=EPSG:2154", "bbox"),
    ("couleur=rouge", "inconnu"),
    ("nb_logements=beaucoup", "n'est pas un entier"),
    ("annee_construction=1,5", "n'est pas un entier"),
    ("nb_logements=99999999999999999999999", "hors limites"),
    ("annee_construction=1e400", "entier"),
    ("f=html", "Format"),
])
def test_invalid_parameters_answer_400_with_a_clear_message(client, query, words):
    resp = client.get(f"/collections/batiments/items?{query}")
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["description"]
    assert not ENGLISH.search(resp.json()["description"]), resp.text  # Python's words stay out


#: Words of Python's and the frameworks' own (English) error messages.
ENGLISH = re.compile(r"\b(could|convert|string|float|invalid|expected|error|parsing|there)\b",
                     re.IGNORECASE)


def test_a_bbox_in_degrees_is_matched_exactly(client, api_store):
    """A CRS84 box is a curved quadrilateral in Lambert-93: no building outside it is returned,
    none inside it is missed (checked against geopandas on the reprojected buildings)."""
    import numpy as np
    import shapely

    buildings = api_store.read("batiments").to_crs(4326)
    lon0, lat0 = TO_WGS84.transform(X0, Y0)
    rng = np.random.default_rng(3)
    for _ in range(6):
        x, y = lon0 + rng.uniform(-0.001, 0.015), lat0 + rng.uniform(-0.001, 0.004)
        box = (x, y, x + rng.uniform(0.002, 0.01), y + rng.uniform(0.001, 0.003))
        expected = set(buildings.loc[buildings.intersects(shapely.box(*box)), "id"])
        body = client.get("/collections/batiments/items?limit=100&bbox="
                          + ",".join(f"{v:.7f}" for v in box)).json()
        assert {f["id"] for f in body["features"]} == expected, box
        assert body["numberMatched"] == len(expected)


@pytest.mark.parametrize("box", [(0.004, 0.0, 0.004, 0.002), (0.0, 0.001, 0.015, 0.001),
                                 (0.004, 0.001, 0.004, 0.001)])
def test_a_flat_bbox_selects_what_it_crosses(client, api_store, box):
    """A box of no width or height (min = max: a line or a point, allowed by OGC API –
    Features) selects the buildings it touches — it answered nothing, and a point a 500."""
    import shapely

    buildings = api_store.read("batiments").to_crs(4326)
    lon0, lat0 = TO_WGS84.transform(X0, Y0)
    corners = (lon0 + box[0], lat0 + box[1], lon0 + box[2], lat0 + box[3])
    flat = shapely.box(*corners) if box[0] != box[2] and box[1] != box[3] else (
        shapely.Point(corners[:2]) if box[:2] == box[2:] else
        shapely.LineString([corners[:2], corners[2:]]))
    expected = set(buildings.loc[buildings.intersects(flat), "id"])
    resp = client.get("/collections/batiments/items?limit=1000&bbox="
                      + ",".join(f"{v:.7f}" for v in corners))
    assert resp.status_code == 200, resp.text
    assert {f["id"] for f in resp.json()["features"]} == expected
    if box[0] != box[2] or box[1] != box[3]:
        assert expected  # the line crosses buildings


def test_one_feature_answer_is_the_frame_answer(demo):
    """The one-feature answer (GET of an item, and every edit's answer) reads a plain batch:
    the same GeoJSON text and ETag as written from the frame, in both CRSs, typed views too."""
    from api import geojson
    from api.ogc import feature_json
    from ort_geo.geometry_views import geometry_views, view_frame
    from ort_geo.store.base import iter_features

    _, store, _ = demo
    crss = [geojson.CRS84, geojson.parse_crs(
        f"http://www.opengis.net/def/crs/EPSG/0/{store.epsg}", storage=store.epsg)]
    seen = 0
    for name in store.layer_names():
        spec = store.spec(name)
        for fid in store.read(name, columns=[], limit=15)[spec.key]:
            for view in [None, *geometry_views(spec)]:
                frame = store.read(name, ids=[fid])
                if view is not None:
                    frame = view_frame(frame, view)
                if frame.empty:
                    continue
                for crs in crss:
                    expected = (f'"{next(iter_features(spec, frame)).etag}"',
                                geojson.features_json(frame, spec.key, spec.field_names, crs)[0])
                    assert feature_json(store, spec, fid, spec.field_names, crs, view) \
                        == expected, (name, fid, view)
                    seen += 1
    assert seen > 150


def test_every_collection_is_answered_by_routes_tried_first(client, keys):
    """The router matches a request route by route (twice per request): the pages and features
    of every collection go through routes it tries right after the landing ones — with the
    collection's own answers; an unknown collection is still a 404 for any method, a write to
    a read-only collection a 405."""
    from api import ogc

    # FastAPI >= 0.13x keeps an included router whole; older versions copy its routes in order.
    routes = next((r.original_router.routes for r in client.app.router.routes
                   if hasattr(r, "original_router") and any(
                       getattr(x, "path", "") == "/conformance" for x in r.original_router.routes)),
                  client.app.router.routes)
    landing = next(i for i, r in enumerate(routes) if getattr(r, "path", "") == "/")
    first = routes[landing:landing + 5]
    staff = {"X-API-Key": keys["staff"]}
    for collection in ogc.COLLECTIONS:
        for path in (f"/collections/{collection.id}/items", f"/collections/{collection.id}/items/x1"):
            assert any(r.path_regex.match(path) for r in first), path
        page = client.get(f"/collections/{collection.id}/items?limit=2", headers=staff)
        assert page.status_code == 200, page.text
        assert page.json()["links"][1]["href"].endswith(f"/collections/{collection.id}")
        for feature in page.json()["features"]:
            one = client.get(f"/collections/{collection.id}/items/{feature['id']}", headers=staff)
            assert one.status_code == 200 and one.json()["id"] == feature["id"]
    for method in ("GET", "POST", "DELETE"):
        assert client.request(method, "/collections/inconnue/items").status_code == 404
        assert client.request(method, "/collections/inconnue/items/x").status_code == 404
    assert client.post("/collections/communes/items", json={}).status_code == 405
    assert not any("{collection}" in path or ":" in path for path in client.get("/api").json()["paths"])


def test_an_unexpected_failure_answers_a_french_500(api_store):
    """Whatever fails unexpectedly, the client reads a French exception document (never the
    framework's "Internal Server Error", nor the exception's own text)."""
    from fastapi.testclient import TestClient

    from api import create_app

    app = create_app(api_store.url)

    def broken() -> None:
        raise RuntimeError("internal details")

    app.add_api_route("/panne", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/panne")
    assert resp.status_code == 500 and resp.json()["code"] == "InternalError"
    assert resp.json()["description"].startswith("Erreur interne du serveur")
    assert "internal details" not in resp.text


def test_a_nul_in_a_path_is_not_found_on_every_backend(client, keys):
    """psycopg refuses a NUL in a query parameter: a feature id carrying one was a 500 on
    PostGIS for the routes that query by it (history, buildings of a zone)."""
    staff = {"X-API-Key": keys["staff"]}
    for path in ("/collections/secteurs_ort/items/a%00", "/collections/secteurs_ort/items/a%00"
                 "/versions", "/collections/secteurs_ort/items/a%00/batiments"):
        resp = client.get(path, headers=staff)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["description"] == "Ressource introuvable."
