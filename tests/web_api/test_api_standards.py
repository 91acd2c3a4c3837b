"""OGC API – Features as the standards say: OpenAPI 3.0 matching the declared conformance class,
Part 1 parameters (bbox, limit, datetime), HEAD, paging links, RFC 7946 orientation, Part 5
schemas, typed views of mixed-geometry layers, French errors — and an independent OGC test suite
(``ogctests``, from PyPI) run against a live server."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import geopandas as gpd
import pytest
import shapely
from conftest import serve
from conftest_api import X0, Y0, build_store

from ort_geo.geometry_views import all_views

#: QGIS' bindings live in Debian's python3 (python3-qgis), not in the project's venv.
QGIS_PYTHON = "/usr/bin/python3"


def _extend(st) -> None:
    """Dated sectors and permis zones, and actions of every geometry kind (mixed layer)."""
    sectors = st.read("secteurs_ort")
    sectors["date_debut"] = [dt.date(2020, 1, 1), dt.date(2023, 6, 1)]
    sectors["date_fin"] = [dt.date(2022, 12, 31), None]
    st.write("secteurs_ort", sectors, author="fixture")
    zone = shapely.box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300)
    hole = shapely.box(X0 + 150, Y0 + 150, X0 + 200, Y0 + 200)
    st.write("permis_de_louer", gpd.GeoDataFrame(
        [{"id": "pdl", "nom": "Centre", "regime": "declaration", "code_insee": "68298",
          "date_effet": dt.date(2024, 1, 1)}],
        geometry=[shapely.Polygon(zone.exterior.coords, [hole.exterior.coords[::-1]])],
        crs="EPSG:2154"), author="fixture")
    geoms = {
        "a2": shapely.LineString([(X0, Y0), (X0 + 400, Y0 + 300)]),
        "a3": shapely.box(X0 + 50, Y0 + 50, X0 + 120, Y0 + 90),
        "a4": shapely.MultiPoint([(X0 + 10, Y0 + 10), (X0 + 20, Y0 + 20)]),
        "a5": shapely.MultiLineString([[(X0, Y0 + 5), (X0 + 50, Y0 + 5)]]),
    }
    rows = [{"id": k, "titre": f"Action {k}", "orientation": 2, "secteur_id": "centre"}
            for k in geoms]
    st.write("actions", gpd.GeoDataFrame(rows, geometry=list(geoms.values()), crs="EPSG:2154"),
             author="fixture")
    box = shapely.box(X0 - 500, Y0 - 500, X0 + 2000, Y0 + 1000)
    others = {
        "communes": {"code_insee": "68298", "nom": "Sainte-Marie-aux-Mines"},
        "strates": {"id": "s1", "strate": "ligne_de_vie"},
        "ilot_demonstrateur": {"id": "i1", "nom": "Îlot"},
        "zones_activite": {"id": "z1", "nom": "Halles"},
    }
    for layer, row in others.items():
        geom = box if layer == "communes" else shapely.box(X0 + 600, Y0, X0 + 700, Y0 + 100)
        st.write(layer, gpd.GeoDataFrame([row], geometry=[geom], crs="EPSG:2154"),
                 author="fixture")
    st.write("commerces", gpd.GeoDataFrame([{"id": "c1", "nom": "Boulangerie"}],
             geometry=[shapely.Point(X0 + 30, Y0 + 30)], crs="EPSG:2154"), author="fixture")
    st.write("mobilites_actives", gpd.GeoDataFrame(
        [{"id": "m1", "nom": "Voie verte", "type": "voie_verte", "statut": "existant"}],
        geometry=[shapely.LineString([(X0, Y0), (X0 + 900, Y0 + 50)])], crs="EPSG:2154"),
        author="fixture")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    st = build_store(tmp_path_factory.mktemp("standards") / "atlas.gpkg")
    _extend(st)
    return st


@pytest.fixture(scope="module")
def client(store):
    from fastapi.testclient import TestClient

    from api import create_app

    with TestClient(create_app(store.url)) as c:
        yield c


def test_openapi_is_a_valid_3_0_document_as_the_conformance_class_says(client):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator

    doc = client.get("/api").json()
    conformance = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in conformance
    assert doc["openapi"] == "3.0.3"
    validate(doc, cls=OpenAPIV30SpecValidator)
    # Errors are documented as they are answered: 400 with an OGC exception document.
    items = doc["paths"]["/collections/batiments/items"]["get"]
    assert "422" not in items["responses"] and "400" in items["responses"]


def test_part1_parameters_are_declared_as_specified(client):
    doc = client.get("/api").json()
    params = {p["name"]: p for p in doc["paths"]["/collections/secteurs_ort/items"]["get"]
              ["parameters"]}
    bbox, limit, when = params["bbox"], params["limit"], params["datetime"]
    assert bbox["schema"] == {"type": "array", "minItems": 4, "maxItems": 6,
                              "items": {"type": "number"}}
    assert limit["schema"]["type"] == "integer" and limit["schema"]["minimum"] == 1
    assert when["schema"] == {"type": "string"}
    for p in (bbox, limit, when):
        assert p["in"] == "query" and not p["required"] and p["style"] == "form"
        assert p["explode"] is False


def test_limit_above_the_maximum_is_capped_not_refused(client):
    resp = client.get("/collections/batiments/items?limit=1000000")
    assert resp.status_code == 200
    assert resp.json()["numberReturned"] == 60
    assert client.get("/collections/batiments/items?limit=0").status_code == 400


def test_head_answers_like_get_without_a_body(client):
    for path in ("/", "/collections", "/collections/secteurs_ort/items",
                 "/collections/secteurs_ort/items/centre", "/api"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]


def test_next_links_keep_every_repeated_parameter(client):
    url = "/collections/batiments/items?limit=5&nb_logements=3&nb_logements=4"
    ids = []
    while url:
        body = client.get(url).json()
        assert body["numberMatched"] == 24
        ids += [f["id"] for f in body["features"]]
        link = next((x["href"] for x in body["links"] if x["rel"] == "next"), None)
        if link:
            query = parse_qsl(urlsplit(link).query)
            assert ("nb_logements", "3") in query and ("nb_logements", "4") in query
        url = link
    assert len(ids) == len(set(ids)) == 24


def _signed_area(ring) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False)) / 2


def test_polygons_follow_rfc7946_ring_orientation(client):
    zone = client.get("/collections/permis_de_louer/items/pdl").json()["geometry"]
    polygons = zone["coordinates"] if zone["type"] == "MultiPolygon" else [zone["coordinates"]]
    for rings in polygons:
        assert _signed_area(rings[0]) > 0  # exterior counterclockwise
        assert all(_signed_area(r) < 0 for r in rings[1:])  # holes clockwise
        assert len(rings) == 2
    for f in client.get("/collections/batiments/items?limit=100").json()["features"]:
        assert _signed_area(f["geometry"]["coordinates"][0]) > 0


def test_datetime_selects_the_features_in_force(client):
    def ids(collection, value):
        resp = client.get(f"/collections/{collection}/items?limit=100&datetime={value}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["numberMatched"] == len(body["features"])
        return {f["id"] for f in body["features"]}

    assert ids("secteurs_ort", "2021-05-01") == {"centre"}
    assert ids("secteurs_ort", "2024-05-01T12:00:00Z") == {"halles"}
    assert ids("secteurs_ort", "2022-01-01/2023-12-31") == {"centre", "halles"}
    assert ids("secteurs_ort", "../2019-12-31") == set()
    assert ids("secteurs_ort", "2030-01-01/..") == {"halles"}
    assert ids("permis_de_louer", "2023-01-01") == set()
    assert ids("permis_de_louer", "2025-01-01") == {"pdl"}
    # A layer without validity dates: every feature matches (Part 1).
    assert len(ids("batiments", "2021-01-01")) == 60
    doc = client.get("/collections/secteurs_ort").json()
    assert doc["extent"]["temporal"]["interval"] == [["2020-01-01T00:00:00Z", None]]
    for bad in ("hier", "2024-13-01", "2024-01-01/2023-01-01", "a/b/c"):
        resp = client.get(f"/collections/secteurs_ort/items?datetime={bad}")
        assert resp.status_code == 400 and "datetime" in resp.json()["description"]


def test_schema_publishes_field_types(client):
    doc = client.get("/collections/actions").json()
    link = next(x for x in doc["links"] if x["rel"] == "describedby")
    assert link["type"] == "application/schema+json"
    assert link["href"].endswith("/collections/actions/feature-schema")
    feature = client.get("/collections/actions/feature-schema").json()
    assert feature["properties"]["properties"]["properties"]["cout_ht"]["type"] == "number"
    resp = client.get("/collections/actions/schema")
    assert resp.headers["content-type"].startswith("application/schema+json")
    props = resp.json()["properties"]
    assert props["id"]["x-ogc-role"] == "id"
    assert props["cout_ht"]["type"] == "number" and props["orientation"]["type"] == "integer"
    assert props["date_debut"] == {"title": "Début", "type": "string", "format": "date",
                                   "x-ogc-role": "primary-interval-start"}
    assert props["geometry"]["format"] == "geometry-any"
    points = client.get("/collections/actions_points/schema").json()["properties"]
    assert points["geometry"]["format"] == "geometry-multipoint"
    # The public never learns that hidden fields exist.
    public = client.get("/collections/batiments/schema").json()["properties"]
    assert "etat" not in public and "nb_logements" in public


def test_typed_views_split_the_mixed_layer_without_losing_a_feature(client):
    collections = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert {v.name for v in all_views()} <= collections
    every = {f["id"] for f in client.get("/collections/actions/items?limit=100").json()["features"]}
    seen = set()
    for view, kind in (("points", "MultiPoint"), ("lignes", "MultiLineString"),
                       ("surfaces", "MultiPolygon")):
        body = client.get(f"/collections/actions_{view}/items?limit=100").json()
        assert {f["geometry"]["type"] for f in body["features"]} == {kind}
        assert body["numberMatched"] == len(body["features"])
        seen |= {f["id"] for f in body["features"]}
    assert seen == every == {"a1", "a2", "a3", "a4", "a5"}
    one = client.get("/collections/actions_points/items/a1").json()
    assert one["geometry"]["type"] == "MultiPoint"
    assert client.get("/collections/actions_points/items/a2").status_code == 404
    # Views are read-only: editing goes through the layer itself.
    assert client.post("/collections/actions_points/items", json={}).status_code == 405


@pytest.mark.parametrize("path, header", [
    ("/collections/secteurs_ort/items?offset=abc", None),
    ("/collections/batiments/items/b001/batiments", None),
    ("/collections/secteurs_ort/stats?annee=deux", None),
    ("/collections/secteurs_ort/stats?annee=1500", None),
    ("/collections/secteurs_ort/items/centre/batiments?vacant=peut-etre", None),
    ("/collections/secteurs_ort/items/centre/batiments?construit_apres=12.5", None),
])
def test_validation_errors_are_french(client, path, header):
    resp = client.get(path)
    assert 400 <= resp.status_code < 500
    text = resp.json()["description"]
    english = ("Input should", "Field required", "valid integer", "Not Found", "value is not")
    assert not any(word in text for word in english), text


def test_validation_error_wording_covers_every_common_type():
    from api.app import validation_message

    for kind, ctx in [("bool_parsing", {}), ("float_parsing", {}), ("string_too_long",
                      {"max_length": 3}), ("literal_error", {"expected": "'a'"}),
                      ("unheard_of_type", {}), ("greater_than", {"gt": 0})]:
        text = validation_message({"type": kind, "loc": ("query", "x"), "msg": "Input should",
                                   "ctx": ctx})
        assert text.startswith("x : ") and "Input" not in text


def test_gdal_reads_every_demo_action_with_field_types(demo_store_path):
    """GDAL's OGC API driver (as QGIS users get it through GDAL) reads the 15 demo actions: the
    mixed collection as an untyped layer, and every one of them through the typed views, with
    the catalogue's field types (from the describedby schema, even for empty columns)."""
    import pyogrio

    from ort_geo import open_store

    stored = open_store(demo_store_path).read("actions")
    assert len(stored) == 15
    with serve(demo_store_path) as url:
        source = f"OAPIF:{url}"
        mixed = pyogrio.read_dataframe(source, layer="actions")
        assert sorted(mixed["id"]) == sorted(stored["id"])
        seen = []
        for view, kind in (("points", "MultiPoint"), ("lignes", "MultiLineString"),
                           ("surfaces", "MultiPolygon")):
            info = pyogrio.read_info(source, layer=f"actions_{view}")
            assert info["geometry_type"] == kind
            types = dict(zip(info["fields"], info["dtypes"], strict=True))
            assert types["orientation"] == "int32" and types["cout_ht"] == "float64"
            assert types["date_debut"] == types["date_fin"] == "datetime64[D]"
            frame = pyogrio.read_dataframe(source, layer=f"actions_{view}")
            assert set(frame.geom_type) == {kind}
            seen += frame["id"].tolist()
    assert sorted(seen) == sorted(stored["id"])


#: The field types QGIS shows for each catalogue type (GeoPackage through GDAL, or the API's
#: schemas through GDAL's OGC API driver).
QGIS_TYPES = {"str": {"String"}, "enum": {"String"}, "int": {"Integer", "Integer64"},
              "float": {"Real"}, "date": {"Date"}, "bool": {"Boolean"}}


@pytest.mark.qgis
def test_qgis_reads_every_demo_action_and_every_store_layer(demo_store_path):
    """QGIS (Debian's 3.22, headless, in its own python) reads the 15 demo actions over the API
    through the typed collections — with its own OGC API provider and with the GDAL one, which
    also gets every field's type from the schemas — and every layer of the store's GeoPackage
    with the catalogue's field types (the mixed ``actions`` as one sublayer per geometry kind)."""
    from ort_geo import open_store

    store = open_store(demo_store_path)
    names = store.layer_names()
    script = Path(__file__).parents[1] / "qgis_reads.py"
    with serve(demo_store_path) as url:
        run = subprocess.run([QGIS_PYTHON, str(script), url, str(demo_store_path), *names],
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.splitlines()[-1])

    actions = store.spec("actions")
    expected = sorted(store.read("actions")["id"])
    assert len(expected) == 15
    for provider in ("OAPIF", "ogr"):
        views = [seen["api"][f"{provider}:{view.name}"] for view in all_views()
                 if view.layer == "actions"]
        assert all(v["valid"] and v["geometry"].startswith("Multi") for v in views), views
        assert sorted(i for v in views for i in v["ids"]) == expected, provider
        if provider == "ogr":  # QGIS' own provider (3.22) reads no schema: types by GDAL's
            for v in views:
                assert all(v["types"][f.name] in QGIS_TYPES[f.type] for f in actions.fields)

    for name in names:
        spec, layer = store.spec(name), seen["store"][name]
        assert layer["valid"] and layer["features"] == store.count(name), name
        assert all(layer["types"][f.name] in QGIS_TYPES[f.type] for f in spec.fields), (
            name, layer["types"])
        if spec.spatial:
            assert layer["crs"] == "EPSG:2154" and layer["drawn"] == layer["features"], name
    parts = seen["store"]["actions"]["sublayers"]
    assert {kind: len(part["ids"]) for kind, part in parts.items()} == {
        "Point": 11, "LineString": 1, "Polygon": 3}
    assert sorted(i for part in parts.values() for i in part["ids"]) == expected


def _ogctests_dir() -> Path:
    import ogctests

    return Path(ogctests.__file__).parent


#: Failures of ogctests 0.1.15 that are the suite's own bugs (see each reason); every other
#: failure fails this test.
SUITE_BUGS: dict[str, str] = {}


def test_ogctests_core_suite_passes(tmp_path, store):
    """The OGC API – Features Part 1 Core abstract tests of ``ogctests`` (PyPI), run as their
    own pytest session against ``ort-geo serve`` on 127.0.0.1."""
    suite = _ogctests_dir() / "features" / "core"
    report = tmp_path / "ogctests.xml"
    # Every collection has features: the suite's ast22 stops at the first empty one.
    with serve(store.url) as url:
        env = {**os.environ, "INSTANCE_URL": url}
        env.pop("CLIENT_OVERRIDDEN", None)
        subprocess.run([sys.executable, "-m", "pytest", str(suite), "-q", "-p",
                        "no:cacheprovider", f"--rootdir={suite}", "-o", "addopts=",
                        f"--junitxml={report}", "--tb=line"], env=env, capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    cases = ET.parse(report).getroot().iter("testcase")
    results = {}
    for case in cases:
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        results[case.get("name")] = None if failure is None else failure.get("message", "")
    assert len(results) >= 25
    failed = {name: msg for name, msg in results.items()
              if msg is not None and name not in SUITE_BUGS}
    assert not failed, failed
