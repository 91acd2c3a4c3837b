"""Domain endpoints on the Val d'Argent demo store: statistics, buildings within a sector or a
posted perimeter (GeoJSON body or uploaded file), output formats, and rule-checked editing."""

from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import hostile
import pandas as pd
import pyogrio
import pytest
import shapely

from ort_geo.query import buildings_within
from ort_geo.stats import sector_stats, stats_records

SECTOR = "smam-centre-ville"
# A perimeter around the centre of Sainte-Marie-aux-Mines, in lon/lat.
LONLAT = [[7.175, 48.240], [7.195, 48.240], [7.195, 48.252], [7.175, 48.252], [7.175, 48.240]]


def test_sector_statistics_are_the_engine_s_masked_for_the_public(demo):
    client, st, keys = demo
    public = client.get("/collections/secteurs_ort/stats").json()
    assert public["secret_statistique"] is True
    assert public["statistiques"] == json.loads(json.dumps(
        stats_records(sector_stats(st, "secteurs_ort", public=True))))
    staff = client.get("/collections/secteurs_ort/stats", headers={"X-API-Key": keys["staff"]})
    assert staff.json()["statistiques"] == json.loads(json.dumps(
        stats_records(sector_stats(st, "secteurs_ort"))))
    csv = client.get("/collections/secteurs_ort/stats?f=csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.BytesIO(csv.content), sep=";", encoding="utf-8-sig")
    assert len(table) == len(public["statistiques"]) and "Identifiant" in table.columns
    assert client.get("/collections/batiments/stats").status_code == 404  # not a zone layer
    assert client.get("/collections/communes/stats?annee=1800").status_code == 400


def test_buildings_of_a_sector_in_three_formats(demo):
    client, st, keys = demo
    staff = {"X-API-Key": keys["staff"]}
    zone = st.read("secteurs_ort", ids=[SECTOR])
    expected = buildings_within(st, zone[["geometry"]], etat="degrades")
    assert len(expected) > 10
    url = f"/collections/secteurs_ort/items/{SECTOR}/batiments?etat=degrades"
    body = client.get(url, headers=staff).json()
    assert body["numberMatched"] == len(expected)
    assert {f["id"] for f in body["features"]} == set(expected["id"])
    assert all(f["properties"]["etat"] in ("degrade", "tres_degrade") for f in body["features"])
    csv = client.get(url + "&f=csv", headers=staff)
    table = pd.read_csv(io.BytesIO(csv.content), sep=";", encoding="utf-8-sig", dtype=str)
    assert set(table["id"]) == set(expected["id"]) and "etat" in table.columns
    gpkg = client.get(url + "&f=gpkg", headers=staff)
    assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
    frame = pyogrio.read_dataframe(io.BytesIO(gpkg.content))
    assert set(frame["id"]) == set(expected["id"]) and frame.crs.to_epsg() == 2154
    assert client.get("/collections/secteurs_ort/items/absent/batiments").status_code == 404


def _perimeter_files(tmp_path):
    """The same perimeter as GeoJSON (lon/lat), GeoPackage (Lambert-93) and zipped Shapefile
    (CC48, EPSG:3948)."""
    frame = gpd.GeoDataFrame({"nom": ["centre"]}, geometry=[shapely.Polygon(LONLAT)],
                             crs="EPSG:4326")
    files = {}
    files["p.geojson"] = tmp_path / "p.geojson"
    frame.to_file(files["p.geojson"], driver="GeoJSON")
    files["p.gpkg"] = tmp_path / "p.gpkg"
    frame.to_crs(2154).to_file(files["p.gpkg"], driver="GPKG")
    shp = tmp_path / "shp"
    shp.mkdir()
    frame.to_crs(3948).to_file(shp / "p.shp")
    files["p.zip"] = tmp_path / "p.zip"
    with zipfile.ZipFile(files["p.zip"], "w") as z:
        for part in shp.iterdir():
            z.write(part, part.name)
    return files


def test_posted_perimeter_as_geojson_or_any_import_format(demo, tmp_path):
    client, st, keys = demo
    staff = {"X-API-Key": keys["staff"]}
    body = {"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [LONLAT]}}
    as_json = client.post("/batiments/within?vacant=true", json=body, headers=staff).json()
    assert as_json["numberMatched"] > 10
    ids = {f["id"] for f in as_json["features"]}
    for name, path in _perimeter_files(tmp_path).items():
        with path.open("rb") as fh:
            resp = client.post("/batiments/within?vacant=true", headers=staff,
                               files={"fichier": (name, fh)})
        assert resp.status_code == 200, (name, resp.text)
        # Reprojection may move an edge by a few centimetres: allow one boundary building.
        assert len(ids ^ {f["id"] for f in resp.json()["features"]}) <= 1, name
    stats = client.post("/stats", json=body, headers=staff).json()["statistiques"]
    assert stats[0]["id"] == "perimetre" and stats[0]["batiments"] > 0


@pytest.mark.parametrize("name, content, words", [
    ("notes.txt", b"bonjour", "format de périmètre"),
    ("faux.gpkg", b"ceci n'est pas un GeoPackage", "GeoPackage"),
    ("vide.geojson", b'{"type": "FeatureCollection", "features": []}', ""),
])
def test_bad_perimeter_files_are_refused_clearly(demo, name, content, words):
    client, _, keys = demo
    resp = client.post("/batiments/within", files={"fichier": (name, content)},
                       headers={"X-API-Key": keys["staff"]})
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["description"]


def test_swapped_or_unparseable_geojson_perimeters_are_refused(demo):
    client, _, _ = demo
    swapped = {"type": "Polygon", "coordinates": [[[y, x] for x, y in LONLAT]]}
    resp = client.post("/batiments/within", json=swapped)
    assert resp.status_code == 400 and "inversées" in resp.json()["description"]
    resp = client.post("/batiments/within", content=b"{pas du json",
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 400  # where, in French; not Python's "Expecting property name"
    assert resp.json()["description"] == ("Périmètre GeoJSON illisible : JSON invalide (ligne 1, "
                                          "colonne 2).")
    resp = client.post("/batiments/within", json={"type": "Point", "coordinates": [7.18, 48.24]})
    assert resp.status_code == 400 and "polygones" in resp.json()["description"]


def test_edits_that_break_the_territory_rules_are_refused_before_commit(demo):
    client, st, keys = demo
    editor = {"X-API-Key": keys["editor"]}
    url = f"/collections/secteurs_ort/items/{SECTOR}"
    etag = client.get(url).headers["etag"]
    journal = len(st.journal())
    # Moved 30 km east, outside the EPCI: L303-2 forbids it.
    moved = shapely.affinity.translate(st.get("secteurs_ort", SECTOR).geometry, xoff=30000)
    resp = client.patch(url, json={"geometry": shapely.geometry.mapping(moved)},
                        headers={**editor, "If-Match": etag,
                                 "Content-Crs": "http://www.opengis.net/def/crs/EPSG/0/2154"})
    assert resp.status_code == 422, resp.text
    assert "L303-2" in resp.json()["description"]
    # Deleting the main town's centre-ville sector breaks L303-2 too.
    resp = client.delete(url, headers={**editor, "If-Match": etag})
    assert resp.status_code == 422 and "L303-2" in resp.json()["description"]
    assert len(st.journal()) == journal and client.get(url).headers["etag"] == etag
    # A harmless edit goes through and is journaled under the key's name.
    resp = client.patch(url, json={"properties": {"deliberation": "DCC 2026-11"}},
                        headers={**editor, "If-Match": etag})
    assert resp.status_code == 200, resp.text
    last = st.history("secteurs_ort", SECTOR)[-1]
    assert last.author == "Chef de projet" and last.after.properties["deliberation"] == "DCC 2026-11"


def test_an_archive_that_expands_beyond_the_upload_limit_is_refused(demo, tmp_path):
    """A few kilobytes of zipped zeros would be a gigabyte in the server's memory once read:
    refused (413) from the archive's table of contents, before any member is read."""
    import io
    import zipfile

    from api.domain import MAX_UNZIPPED

    client, _, keys = demo
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in ("perimetre.shp", "perimetre.shx", "perimetre.dbf"):
            archive.writestr(name, bytes(MAX_UNZIPPED // 2))
    assert len(packed.getvalue()) < 256 * 1024  # small: handled in the server process itself
    resp = client.post("/batiments/within", files={"fichier": ("zone.zip", packed.getvalue())},
                       headers={"X-API-Key": keys["staff"]})
    assert resp.status_code == 413, resp.text
    assert resp.json()["description"].startswith("Archive trop volumineuse une fois décompressée")


def test_an_archive_that_lies_about_its_sizes_is_measured_while_inflated(demo):
    """A GeoJSON padded with spaces past the limit, zipped into a few kilobytes, whose headers
    declare 1 kB (GDAL would inflate all of it; zipfile failed on its checksum: a 500): the
    size is counted while inflating, the archive refused (413) at the limit. Below the limit,
    the lie is a damaged archive (400), as from the CLI."""
    from api.domain import MAX_UNZIPPED

    client, _, keys = demo
    for padding, code, words in ((MAX_UNZIPPED, 413, "Archive trop volumineuse une fois "
                                  f"décompressée ({MAX_UNZIPPED // 2**20} Mo au plus)."),
                                 (5000, 400, "L'archive « perimetre.zip » est endommagée : le "
                                  "contenu de « perimetre.geojson » ne correspond pas à ce "
                                  "qu'elle en déclare.")):
        data = hostile.lying_zip(padding)
        assert len(data) < 256 * 1024
        resp = client.post("/batiments/within", files={"fichier": ("zone.zip", data)},
                           headers={"X-API-Key": keys["staff"]})
        assert resp.status_code == code, resp.text
        assert resp.json()["description"] == words
