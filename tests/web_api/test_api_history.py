"""History routes: versions, one version, diff of two (same hectares as ``ort-geo diff``),
restore as a new version, and 412 responses that carry the version that won."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from conftest_api import X0, Y0

BASE = "/collections/secteurs_ort/items/halles"


@pytest.fixture(scope="module")
def revised(api_store):
    """Les Halles reduced to its western 300 m, with a deliberation as message (version 2)."""
    api_store.update("secteurs_ort", "halles", {"nom": "Halles (réduit)"},
                     geometry=shapely.box(X0 + 1000, Y0, X0 + 1300, Y0 + 500),
                     author="Urbaniste", message="délibération du 12 mars 2026")
    return api_store


def test_versions_list_needs_staff(client, keys, revised):
    assert client.get(f"{BASE}/versions").status_code == 401
    resp = client.get(f"{BASE}/versions", headers={"X-API-Key": keys["staff"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["couche"] == "secteurs_ort" and body["id"] == "halles"
    assert [(v["version"], v["operation"], v["auteur"]) for v in body["versions"][:2]] == [
        (1, "insert", "fixture"), (2, "update", "Urbaniste")]
    assert body["versions"][1]["message"] == "délibération du 12 mars 2026"
    current = client.get(BASE, headers={"X-API-Key": keys["staff"]}).headers["etag"]
    assert f'"{body["etag_actuel"]}"' == current == f'"{body["versions"][-1]["etag"]}"'
    missing = client.get("/collections/secteurs_ort/items/nulle-part/versions",
                         headers={"X-API-Key": keys["staff"]})
    assert missing.status_code == 404 and "introuvable" in missing.json()["description"]


def test_one_version_as_geojson(client, keys, revised):
    staff = {"X-API-Key": keys["staff"]}
    first = client.get(f"{BASE}/versions/1", headers=staff)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/geo+json")
    feature = first.json()
    assert feature["properties"]["nom"] == "Les Halles"
    assert feature["version"]["version"] == 1
    lon_min = min(c[0] for c in feature["geometry"]["coordinates"][0][0])
    assert 7.0 < lon_min < 7.4  # CRS84, lon first
    l93 = client.get(f"{BASE}/versions/1", params={"crs": "EPSG:2154"}, headers=staff).json()
    assert shapely.geometry.shape(l93["geometry"]).area == pytest.approx(250_000)
    assert first.headers["etag"] == f'"{feature["version"]["etag"]}"'
    assert client.get(f"{BASE}/versions/9", headers=staff).status_code == 404


def test_diff_gives_the_hectares_of_ort_geo_diff(client, keys, revised, backend):
    resp = client.get(f"{BASE}/diff", params={"de": 1, "a": 2},
                      headers={"X-API-Key": keys["staff"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["type"] == "FeatureCollection"
    assert {f["properties"]["role"] for f in body["features"]} == {"avant", "apres", "perdue"}
    assert body["surfaces"] == {"avant_ha": 25.0, "apres_ha": 15.0, "gagnee_ha": 0.0,
                                "perdue_ha": 10.0, "solde_ha": -10.0}
    # 20 buildings in 2 rows of 10 columns (every 45 m from +20 m): 7 columns left in 300 m.
    stats = body["statistiques"]
    assert stats["avant"]["batiments"] == 20
    assert stats["apres"]["batiments"] == 14
    assert stats["apres"]["logements"] < stats["avant"]["logements"]
    assert body["champs_modifies"] == [{"champ": "nom", "avant": "Les Halles",
                                        "apres": "Halles (réduit)"}]
    # The command line shows the same hectares (from its own process on the GeoPackage).
    args = ["diff", "secteurs_ort", "halles", "1", "2", "--store", revised.url]
    if backend == "gpkg":
        cli = subprocess.run([str(Path(sys.executable).with_name("ort-geo")), *args],
                             capture_output=True, text=True, env={"COLUMNS": "200"}, check=False)
        code, text = cli.returncode, cli.stdout + cli.stderr
    else:
        from click.testing import CliRunner

        from ort_geo.cli import main

        done = CliRunner().invoke(main, args, terminal_width=200)
        code, text = done.exit_code, done.output
    assert code == 0, text
    assert "Surface : 25,00\u202fha → 15,00\u202fha" in text
    assert "surface perdue : 10,00\u202fha" in text
    bad = client.get(f"{BASE}/diff", params={"de": 1}, headers={"X-API-Key": keys["staff"]})
    assert bad.status_code == 400 and "obligatoire" in bad.json()["description"]


def test_restore_an_old_version_as_a_new_one(client, keys, revised):
    editor = {"X-API-Key": keys["editor"]}
    url = f"{BASE}/versions/1/restore"
    assert client.post(url, headers={"X-API-Key": keys["staff"]}).status_code == 403
    assert client.post(url, headers=editor).status_code == 428
    stale = client.post(url, headers={**editor, "If-Match": '"0123456789abcdef0123"'})
    assert stale.status_code == 412
    current = client.get(BASE, headers=editor)
    assert stale.json()["actuel"]["properties"]["nom"] == "Halles (réduit)"
    assert stale.headers["etag"] == current.headers["etag"]
    before = len(revised.history("secteurs_ort", "halles"))
    done = client.post(url, json={"message": "retour au périmètre de 2024"},
                       headers={**editor, "If-Match": current.headers["etag"]})
    assert done.status_code == 200, done.text
    assert done.json()["properties"]["nom"] == "Les Halles"
    history = revised.history("secteurs_ort", "halles")
    assert len(history) == before + 1
    assert (history[-1].author, history[-1].message) == ("Chef de projet PVD",
                                                         "retour au périmètre de 2024")
    assert history[-1].after.geometry.area == pytest.approx(250_000)
    assert done.headers["etag"] == f'"{history[-1].after.etag}"'
    again = client.post(url, headers={**editor, "If-Match": done.headers["etag"]})
    assert again.status_code == 400 and "identique" in again.json()["description"]


def test_412_of_an_edit_carries_the_current_version(client, keys, api_store):
    editor = {"X-API-Key": keys["editor"]}
    url = "/collections/secteurs_ort/items/centre"
    stale = client.patch(url, json={"properties": {"nom": "Autre"}},
                         headers={**editor, "If-Match": '"0123456789abcdef0123"'})
    assert stale.status_code == 412
    current = client.get(url, headers=editor)
    assert stale.headers["etag"] == current.headers["etag"]
    assert stale.json()["actuel"]["geometry"] == current.json()["geometry"]
    assert "modifié entre-temps" in stale.json()["description"]
