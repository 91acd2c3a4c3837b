"""OGC API – Tiles over the store: tile matrix sets, tilesets, MVT tiles (y before x), HTTP
caching and gzip, French errors, and GDAL's OGC API driver reading the buildings as tiles."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import mapbox_vector_tile
import pyogrio
import pytest
from conftest_api import N_BUILDINGS, SECRET, X0, Y0
from pyproj import Transformer

from ort_geo.catalogue import CATALOGUE
from ort_geo.vector_tiles import MEDIA_TYPE, tile_range

TILES = "/collections/batiments/tiles/WebMercatorQuad"
PRIVATE = set(CATALOGUE["batiments"].private_fields)


def tile_of(z: int, x: float = X0 + 100, y: float = Y0 + 100) -> tuple[int, int, int]:
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(x, y)
    col, row, _, _ = tile_range(z, (lon, lat, lon, lat))
    return z, row, col


def test_conformance_links_and_tile_matrix_set(client):
    conforms = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conforms
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets" in conforms
    landing = {link["rel"]: link["href"] for link in client.get("/").json()["links"]}
    listed = client.get(landing["http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"]).json()
    assert [t["id"] for t in listed["tileMatrixSets"]] == ["WebMercatorQuad"]
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["crs"].endswith("/EPSG/0/3857")
    z14 = tms["tileMatrices"][14]
    assert z14["matrixWidth"] == 16384 and abs(z14["cellSize"] - 9.554628535647) < 1e-9
    collection = client.get("/collections/batiments").json()
    tilesets = next(link["href"] for link in collection["links"]
                    if link["rel"].endswith("/tilesets-vector"))
    assert tilesets.endswith("/collections/batiments/tiles")
    assert client.get(tilesets).json()["tilesets"][0]["dataType"] == "vector"


def test_tileset_describes_zooms_limits_and_template(client):
    doc = client.get(TILES).json()
    assert doc["minzoom"] == 13 and doc["maxzoom"] == 16
    limits = {lim["tileMatrix"]: lim for lim in doc["tileMatrixSetLimits"]}
    z, row, col = tile_of(15)
    assert limits["15"]["minTileRow"] <= row <= limits["15"]["maxTileRow"]
    assert limits["15"]["minTileCol"] <= col <= limits["15"]["maxTileCol"]
    item = next(link for link in doc["links"] if link["rel"] == "item")
    assert item["type"] == MEDIA_TYPE and item["href"].endswith(
        f"{TILES}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}") and item["templated"]
    assert doc["tiles"][0].endswith(f"{TILES}/{{z}}/{{y}}/{{x}}")
    assert not PRIVATE & set(doc["vector_layers"][0]["fields"])  # the public's description


def test_tile_caching_gzip_and_empty_tiles(client, keys):
    z, row, col = tile_of(15)
    url = f"{TILES}/{z}/{row}/{col}"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"] == MEDIA_TYPE
    # Revalidated on every use, never fresh: clients that ignore Vary (QGIS) ask again.
    assert plain.headers["cache-control"] == "public, no-cache"
    features = mapbox_vector_tile.decode(plain.content)["batiments"]["features"]
    assert 0 < len(features) <= N_BUILDINGS
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes it; the raw body was gzip
    assert len(gzip.compress(plain.content)) < len(plain.content)
    again = client.get(url, headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    staff = client.get(url, headers={"X-API-Key": keys["staff"]})
    assert staff.headers["cache-control"] == "private, no-cache"
    assert SECRET.encode() in staff.content and SECRET.encode() not in plain.content
    assert staff.headers["etag"] != plain.headers["etag"]
    # A cache that ignores Vary revalidates the other role's tile: the full tile, not a 304.
    keyed = client.get(url, headers={"X-API-Key": keys["staff"],
                                     "If-None-Match": plain.headers["etag"]})
    assert keyed.status_code == 200 and keyed.content == staff.content
    public = client.get(url, headers={"If-None-Match": staff.headers["etag"]})
    assert public.status_code == 200 and public.content == plain.content
    mine = client.get(url, headers={"X-API-Key": keys["staff"],
                                    "If-None-Match": staff.headers["etag"]})
    assert mine.status_code == 304 and mine.content == b""
    assert mine.headers["cache-control"] == "private, no-cache"
    # A tile of the grid without buildings: 204, no body.
    z, row, col = tile_of(15, X0 + 40000, Y0 + 40000)
    empty = client.get(f"{TILES}/{z}/{row}/{col}")
    assert empty.status_code == 204 and empty.content == b""


def test_bad_tiles_are_refused_in_french(client):
    z, row, col = tile_of(15)
    for url, status, words in (
        (f"{TILES}/15/{row}/x{col}", 400, "entier"),
        (f"{TILES}/15/-{row}/{col}", 400, "entier"),
        (f"{TILES}/12/{row // 8}/{col // 8}", 404, "niveaux 13 à 16"),
        (f"{TILES}/25/0/0", 404, "niveaux 13 à 16"),
        (f"{TILES}/15/{1 << 15}/{col}", 404, "hors de la grille"),
        ("/collections/financements/tiles/WebMercatorQuad/15/0/0", 404, "tuilées"),
        ("/collections/batiments/tiles/WorldCRS84Quad/15/0/0", 404, "introuvable"),
    ):
        response = client.get(url)
        assert response.status_code == status, (url, response.text)
        assert words in response.json()["description"], (url, response.text)


def test_gdal_reads_the_buildings_as_tiles(live_server):
    """GDAL's OGC API driver, tiles API: one layer per zoom, every public building once."""
    # GDAL 3.12 takes the collection's extent as the tile CRS's (it is CRS84): give it the
    # buildings' box in EPSG:3857 instead.
    box = Transformer.from_crs(2154, 3857, always_xy=True).transform_bounds(
        X0 - 100, Y0 - 100, X0 + 1600, Y0 + 600)
    options = dict(zip(("MINX", "MINY", "MAXX", "MAXY"), map(str, box), strict=True))
    url = f"OGCAPI:{live_server}/collections/batiments"
    for z in (13, 16):  # one layer per zoom the tileset offers
        assert pyogrio.read_info(url, layer=f"Zoom level {z}", API="TILES", **options)
    frame = pyogrio.read_dataframe(url, layer="Zoom level 15", API="TILES", **options)
    assert frame.crs.to_epsg() == 3857
    assert frame["id"].nunique() == N_BUILDINGS
    assert not PRIVATE & set(frame.columns)


@pytest.mark.qgis
def test_qgis_draws_the_building_tiles(live_server, keys, api_store, tmp_path):
    """QGIS (Debian's, headless) adds the tiles as a vector tile layer, decodes the buildings and
    draws them: anonymously with public fields only; then, in the same QGIS session (same
    network cache, which ignores Vary), with a staff key (a QGIS Basic authentication
    configuration): the restricted fields at once, not the cached public tiles; then anonymously
    again: public fields only, not the cached staff tiles."""
    script = Path(__file__).parents[1] / "qgis_tiles.py"
    box = Transformer.from_crs(2154, 3857, always_xy=True).transform_bounds(
        X0 - 100, Y0 - 100, X0 + 1600, Y0 + 600)
    template = f"{live_server}{TILES}/{{z}}/{{y}}/{{x}}"
    stored = set(api_store.read("batiments", columns=[])["id"])
    order = ["-", keys["staff"], "-"]
    run = subprocess.run(["/usr/bin/python3", str(script), template, *map(str, box),
                          str(tmp_path / "qgis.png"), *order],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert run.returncode == 0, run.stderr[-3000:]
    renders = [json.loads(line) for line in run.stdout.splitlines()[-len(order):]]
    for key, seen in zip(order, renders, strict=True):
        assert seen["valid"] and not seen["errors"], seen
        # 60 buildings of 15 x 12 m in an 800 x 600 image of 1.7 km: about 1 % of the pixels.
        assert seen["drawn"] > 0.004, seen
        # QGIS decoded every building of the extent (all 60), each once.
        assert set(seen["features"]) == stored, sorted(stored - set(seen["features"]))[:5]
        if key == "-":
            assert not PRIVATE & set(seen["fields"]), seen["fields"]
        else:
            assert PRIVATE & set(seen["fields"]), seen["fields"]
