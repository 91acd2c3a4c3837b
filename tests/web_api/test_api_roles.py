"""Roles: every route of the API, called anonymously or with a lower role, withholds restricted data.

The routes are enumerated from the application itself, so a new route without a check here fails
``test_every_route_is_covered``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re

import pytest
from conftest_api import SECRET, X0, Y0

from api import ogc
from ort_geo.catalogue import CATALOGUE

PRIVATE = {name for spec in CATALOGUE for name in spec.private_fields}
COLLECTIONS = {c.id: c for c in ogc.COLLECTIONS}




def app_routes(client) -> list[tuple[str, str]]:
    """Every operation the API declares (its OpenAPI document), plus the document itself."""
    paths = client.get("/api").json()["paths"]
    return [("GET", "/api")] + [(method.upper(), path) for path, ops in paths.items()
                                for method in ops]


def assert_nothing_private(text: str) -> None:
    """No private field as a JSON key, no restricted value, anywhere in a response."""
    assert SECRET not in text
    def walk(node):
        if isinstance(node, dict):
            assert not PRIVATE & set(node), sorted(PRIVATE & set(node))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    with contextlib.suppress(json.JSONDecodeError):
        walk(json.loads(text))


def _layer(path: str) -> str | None:
    match = re.match(r"/collections/(\w+)", path)
    return match.group(1) if match else None


def _sample_id(client, layer: str, headers) -> str | None:
    body = client.get(f"/collections/{layer}/items?limit=1", headers=headers).json()
    return body["features"][0]["id"] if body["features"] else None


PERIMETER = {"type": "Polygon", "coordinates": [[[7.17, 48.24], [7.21, 48.24], [7.21, 48.26],
                                                [7.17, 48.26], [7.17, 48.24]]]}


def assert_masked(text: str) -> None:
    """Every published count derived from restricted fields between 1 and 10 is masked."""
    from ort_geo.secrecy import restricted_columns

    for row in json.loads(text)["statistiques"]:
        for name in restricted_columns():
            value = row[name]
            assert not (isinstance(value, int) and 0 < value < 11), (name, value, row["id"])


# Routes that need a key whatever the layer, and the least role that may use them.
KEYED_ROUTES = {"/versions/{number}/restore": "editor", "/versions": "staff",
                "/versions/{number}": "staff", "/diff": "staff", "/verification": "staff",
                "/editeur/session": "staff", "/carte/contenu": "staff",
                "/editeur/decoupage": "editor", "/editeur/fusion": "editor",
                "/modifications": "editor"}


def _keyed_role(path: str) -> str | None:
    for suffix, role in KEYED_ROUTES.items():
        if path.endswith(suffix):
            return role
    return None


def check_route(client, keys, method: str, path: str) -> None:
    """What an anonymous (and a lower-role) caller gets from one route."""
    staff = {"X-API-Key": keys["staff"]}
    layer = _layer(path)
    spec = COLLECTIONS[layer].spec if layer else None  # a typed view is read as its layer
    if path.startswith("/collections/") and path.endswith("/stats"):
        anon = client.get(path)
        assert anon.status_code == 200, anon.text
        # Aggregates only (a count may share a field's name, e.g. habitat_indigne), all masked.
        assert SECRET not in anon.text
        assert_masked(anon.text)
        assert json.loads(anon.text)["secret_statistique"] is True
        assert client.get(path, headers=staff).json()["secret_statistique"] is False
        return
    if path == "/stats":
        assert client.post(path, json=PERIMETER).status_code == 401
        assert client.post(path, json=PERIMETER, headers=staff).status_code == 200
        return
    if path.endswith("/{featureId}/batiments") or path == "/batiments/within":
        if path == "/batiments/within":
            def call(query="", headers=None):
                return client.post(f"{path}{query}", json=PERIMETER, headers=headers)
        else:
            fid = _sample_id(client, layer, staff)
            if fid is None:
                assert client.get(path.replace("{featureId}", "x")).status_code == 404
                return
            url = path.replace("{featureId}", fid)

            def call(query="", headers=None):
                return client.get(f"{url}{query}", headers=headers)
        anon = call()
        assert anon.status_code == 200, anon.text
        assert_nothing_private(anon.text)
        for fmt in ("csv", "gpkg"):
            assert SECRET.encode() not in call(f"?f={fmt}").content
        for query in ("?vacant=true", "?etat=degrade", "?vacance_longue=false"):
            refused = call(query)
            assert refused.status_code == 401 and SECRET not in refused.text, (path, query)
        if anon.json()["features"]:
            assert SECRET in call(headers=staff).text
            assert call("?vacant=true", headers=staff).status_code == 200
        return
    if "{collectionId}" in path:  # vector tiles: every tiled layer, fields by role
        check_tiles(client, staff, path)
        return
    needed = _keyed_role(path)
    if needed:
        # Journal, candidate checks and the editor's helpers need a key whatever the layer.
        fid = _sample_id(client, layer, staff) if layer else None
        url = path.replace("{featureId}", fid or "x").replace("{number}", "1")
        if url.endswith("/diff"):
            url += "?de=1&a=2"
        kwargs = {} if method == "GET" else {"json": {}}
        anon = client.request(method, url, **kwargs)
        assert anon.status_code == 401, (method, url, anon.text)
        assert_nothing_private(anon.text)
        staff_status = client.request(method, url, headers=staff, **kwargs).status_code
        if needed == "editor":
            assert staff_status == 403, (method, url, staff_status)
        else:
            assert staff_status not in (401, 403), (method, url, staff_status)
        return
    if method == "GET":
        url = path
        if "{featureId}" in path:
            fid = _sample_id(client, layer, staff)
            if fid is None:
                assert client.get(path.replace("{featureId}", "x")).status_code == 404
                return
            url = path.replace("{featureId}", fid)
        if url.endswith("/items"):
            url += "?limit=1000"
        anon = client.get(url)
        assert anon.status_code == 200, (url, anon.text)
        assert_nothing_private(anon.text)
        if spec is not None and spec.private_fields:
            staff_text = client.get(url, headers=staff).text
            if url.endswith(("/queryables", "/schema", "1000")) or "{featureId}" in path:
                assert any(f'"{name}"' in staff_text for name in spec.private_fields)
            if path.endswith("/items"):
                hidden = spec.private_fields[0]
                refused = client.get(f"{path}?{hidden}=1")
                assert refused.status_code == 401, refused.text
                assert "WWW-Authenticate" in refused.headers
                assert_nothing_private(refused.text)
        return
    # Editing: anonymous 401, staff 403, and nothing changes.
    fid = _sample_id(client, layer, staff) or "x"
    url = path.replace("{featureId}", fid).replace("{number}", "1")
    def content():
        return client.get(f"/collections/{layer}/items?limit=1000", headers=staff).json()["features"]

    before = content()
    body = {"type": "Feature", "id": "nouveau", "properties": {},
            "geometry": {"type": "Point", "coordinates": [7.18, 48.24]}}
    kwargs = {} if method == "DELETE" else {"json": body}
    anon = client.request(method, url, headers={"If-Match": '"x"'}, **kwargs)
    assert anon.status_code == 401, (method, url, anon.text)
    lower = client.request(method, url, headers={"If-Match": '"x"', **staff}, **kwargs)
    assert lower.status_code == 403, (method, url, lower.text)
    assert content() == before


def building_tile(z: int = 14) -> str:
    """``z/row/col`` of the tile holding the test store's first buildings."""
    from pyproj import Transformer

    from ort_geo.vector_tiles import tile_range

    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(X0 + 100, Y0 + 100)
    col, row, _, _ = tile_range(z, (lon, lat, lon, lat))
    return f"{z}/{row}/{col}"


def check_tiles(client, staff, path: str) -> None:
    """Tile routes: the public gets public fields of public records, staff what staff items
    carry; the metadata describes the fields each may see."""
    import mapbox_vector_tile

    from ort_geo.vector_tiles import tiled_layers

    for spec in tiled_layers():
        url = path.replace("{collectionId}", spec.name).replace(
            "{tileMatrix}/{tileRow}/{tileCol}", building_tile())
        if spec.name != "batiments" and "{tileMatrix}" not in path:
            assert client.get(url).status_code == 200, url
            continue
        if spec.name != "batiments":
            continue
        anon, full = client.get(url), client.get(url, headers=staff)
        assert anon.status_code == full.status_code == 200, (url, anon.text)
        assert_nothing_private(anon.text)
        if "{tileMatrix}" in path:
            public = mapbox_vector_tile.decode(anon.content)["batiments"]["features"]
            staffs = mapbox_vector_tile.decode(full.content)["batiments"]["features"]
            assert len(public) == len(staffs) > 0
            assert not any(PRIVATE & set(f["properties"]) for f in public)
            assert SECRET.encode() not in anon.content and SECRET.encode() in full.content
        elif path.endswith("WebMercatorQuad"):
            assert any(name in full.text for name in spec.private_fields)


def test_every_route_is_covered(client, keys):
    routes = app_routes(client)
    assert len(routes) > 30
    for method, path in routes:
        check_route(client, keys, method, path)


def test_openapi_and_landing_carry_no_data(client):
    for path in ("/", "/api", "/conformance", "/collections"):
        assert_nothing_private(client.get(path).text)


def test_staff_sees_restricted_fields_and_may_filter_on_them(client, keys):
    staff = {"X-API-Key": keys["staff"]}
    body = client.get("/collections/batiments/items?etat=degrade&limit=100", headers=staff).json()
    assert body["numberMatched"] == 20
    assert all(f["properties"]["etat"] == "degrade" for f in body["features"])
    assert body["features"][0]["properties"]["proprietaire_type"] == SECRET
    bearer = {"Authorization": f"Bearer {keys['staff']}"}
    assert client.get("/collections/batiments/items?etat=bon", headers=bearer).status_code == 200


@pytest.mark.parametrize("key", ["", "nimportequoi", "abcd1234.faux", "abcd.efgh.ijkl"])
def test_a_wrong_key_is_refused_not_downgraded(client, keys, key):
    if not key:
        key = keys["staff"][:-2] + "xx"
    resp = client.get("/collections/batiments/items", headers={"X-API-Key": key})
    assert resp.status_code == 401 and "invalide" in resp.json()["description"]


def test_public_etag_reveals_nothing_about_hidden_fields(client, keys, api_store):
    import geopandas as gpd

    url = "/collections/batiments/items/b001"
    anon_before = client.get(url).headers["etag"]
    staff_before = client.get(url, headers={"X-API-Key": keys["staff"]}).headers["etag"]
    frame = api_store.read("batiments", ids=["b001"])
    frame["nb_logements_vacants"] = 4
    api_store.write("batiments", gpd.GeoDataFrame(frame), author="test")
    assert client.get(url).headers["etag"] == anon_before
    assert client.get(url, headers={"X-API-Key": keys["staff"]}).headers["etag"] != staff_before


def test_every_keyed_operation_declares_the_key_schemes_and_parses_them(client, keys):
    """The key is parsed in one plain dependency (api/deps.py), not by FastAPI's security
    dependencies: the definition must still declare the schemes on exactly the keyed routes,
    and each scheme must still work (a malformed Basic header stays a 401)."""
    doc = client.get("/api").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                       "description": schemes["APIKeyHeader"]["description"]}
    assert {schemes["HTTPBearer"]["scheme"], schemes["HTTPBasic"]["scheme"]} == {"bearer", "basic"}
    every = [{"APIKeyHeader": []}, {"HTTPBearer": []}, {"HTTPBasic": []}]
    assert doc["paths"]["/collections/batiments/items"]["get"]["security"] == every
    assert doc["paths"]["/collections/secteurs_ort/items/{featureId}"]["patch"]["security"] == every
    assert "security" not in doc["paths"]["/conformance"]["get"]
    url = "/collections/batiments/items?etat=degrade"
    basic = base64.b64encode(f"qgis:{keys['staff']}".encode()).decode()
    assert client.get(url, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.get(url, headers={"Authorization": f"Bearer {keys['staff']}"}).status_code == 200
    assert client.get(url).status_code == 401  # etat is staff-only: anonymous asked for a key
    for bad in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        assert client.get(url, headers={"Authorization": bad}).status_code == 401


def test_a_keyed_page_reads_the_store_revision_once(client, keys):
    """Authentication and the page's ETag share one revision read (a PostgreSQL round trip)."""
    store = client.app.state.store
    reads = []
    real = store.revision

    def counted(layer=None):
        reads.append(layer)
        return real(layer)

    store.revision = counted
    try:
        resp = client.get("/collections/secteurs_ort/items", headers={"X-API-Key": keys["staff"]})
    finally:
        del store.revision
    assert resp.status_code == 200
    assert reads == [None]


def test_a_revoked_key_is_refused_at_once_by_every_worker(api_store):
    """Keys are remembered per store revision; revoking one (another process: the CLI) changes
    the revision, so the very next request to any worker of a running server is refused."""
    import httpx
    from conftest import serve_process

    from ort_geo import auth

    key = auth.create_key(api_store, "Révoquée bientôt", "staff")
    url = "/collections/secteurs_ort/items"
    # (Generous timeouts: the second worker may still be importing on a busy machine.)
    with serve_process(api_store.url, "--workers", "2", timeout=120) as (base, _), \
            httpx.Client(base_url=base, timeout=120) as first, \
            httpx.Client(base_url=base, timeout=120) as second:
        # Two connections (the kernel spreads them over the workers), each key check cached.
        for c in (first, second) * 4:
            assert c.get(url, headers={"X-API-Key": key}).status_code == 200
        auth.revoke_key(api_store, "Révoquée bientôt")
        for c in (first, second) * 4:
            assert c.get(url, headers={"X-API-Key": key}).status_code == 401
