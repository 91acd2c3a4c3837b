"""Real data has gaps: every output works on buildings, shops and actions whose optional fields
are unknown, and tells unknown from zero (issue 11, point 3).

Two stores: footprints only (ids, commune, geometry — a BD TOPO import without LOVAC) and a mix
of complete and empty records (every other building, shop and action empty).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from stats_data import build_small_store

from ort_geo.cli import main
from ort_geo.query import buildings_within, unknown_note
from ort_geo.stats import sector_stats

KINDS = ["footprints", "mixed"]


@pytest.fixture(scope="module", params=KINDS)
def gappy(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / "atlas.gpkg"
    build_small_store(path, request.param).close()
    return request.param, path


def _cli(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_stats_coverage_and_unknown(gappy):
    from ort_geo import open_store

    kind, path = gappy
    with open_store(path) as st:
        frame = sector_stats(st, "secteurs_ort", reference_year=2026)
        buildings = st.read("batiments")
    total = frame.iloc[-1]
    known = int(buildings["nb_logements_vacants"].notna().sum())
    assert total["batiments"] == len(buildings)
    assert total["batiments_vacance_connue"] == known
    if kind == "footprints":
        assert known == 0
        for name in ("logements", "logements_vacants", "vacants_longue_duree",
                     "batiments_degrades", "habitat_indigne", "rdc_vacants"):
            assert frame[name].isna().all(), name  # unknown, never 0
        assert frame["taux_vacance"].isna().all()
    else:
        assert 0 < known < len(buildings)
        part = buildings[buildings["nb_logements_vacants"].notna()]
        assert total["logements_vacants"] == part["nb_logements_vacants"].sum()
        assert total["taux_vacance"] == pytest.approx(
            100 * part["nb_logements_vacants"].sum() / part["nb_logements"].sum())
    # Shops and actions: the rates are on the known part.
    assert total["commerces_vacance_connue"] < total["commerces"]


def test_cli_stats_says_unknown(gappy):
    kind, path = gappy
    table = _cli("stats", "secteurs_ort", "--store", str(path))
    assert "vacance connue" in table
    if kind == "footprints":
        assert "inconnu" in table
    rows = json.loads(_cli("stats", "secteurs_ort", "--store", str(path), "--format", "json"))
    assert all(isinstance(r["batiments_vacance_connue"], int) for r in rows)
    if kind == "footprints":
        assert all(r["logements_vacants"] is None and r["taux_vacance"] is None for r in rows)
    csv = _cli("stats", "strates", "--store", str(path), "--format", "csv", "--public")
    assert "Bâtiments à la vacance connue" in csv.splitlines()[0]


def test_query_unknown_matches_neither_side(gappy):
    from ort_geo import open_store

    kind, path = gappy
    with open_store(path) as st:
        everything = buildings_within(st, "secteurs_ort:S1")
        vacant = buildings_within(st, "secteurs_ort:S1", vacant=True)
        occupied = buildings_within(st, "secteurs_ort:S1", vacant=False)
    unknown = int(everything["nb_logements_vacants"].isna().sum())
    assert unknown > 0
    assert len(vacant) + len(occupied) == len(everything) - unknown
    assert occupied["nb_logements_vacants"].notna().all()
    assert occupied.attrs["inconnus"]["vacance"] == unknown
    assert "vacance inconnue pour" in unknown_note(occupied)
    out = _cli("query", "--within", "secteurs_ort:S1", "--occupe", "--store", str(path),
               "-o", str(path.with_name(f"q-{kind}.csv")))
    assert f"vacance inconnue pour {unknown} bâtiment(s)" in " ".join(out.split())


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".gpkg"])
def test_exports(gappy, suffix):
    import geopandas as gpd

    kind, path = gappy
    target = path.with_name(f"batiments-{kind}{suffix}")
    _cli("export", "batiments", "-o", str(target), "--store", str(path))
    if suffix == ".csv":
        frame = pd.read_csv(target, sep=";", encoding="utf-8-sig")
    else:
        frame = gpd.read_file(target)
    assert len(frame) == 1520
    # Unknown stays empty in the file, not 0.
    if "nb_logements_vacants" in frame.columns:
        assert frame["nb_logements_vacants"].isna().sum() >= 760


def test_staff_map_says_unknown(gappy):
    kind, path = gappy
    html = path.with_name(f"carte-{kind}.html")
    _cli("map", "--staff", "-o", str(html), "--store", str(path))
    text = html.read_text(encoding="utf-8")
    assert "vacance connue" in text
    if kind == "footprints":
        assert "inconnu" in text


def test_atlas_staff(gappy):
    pytest.importorskip("matplotlib")
    from pypdf import PdfReader

    kind, path = gappy
    pdf = path.with_name(f"atlas-{kind}.pdf")
    _cli("atlas", "--edition", "staff", "-o", str(pdf), "--store", str(path))
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages[:6])
    assert "vacance connue" in text
    if kind == "footprints":
        assert "inconnu" in text


def test_api_stats_and_items(gappy):
    from fastapi.testclient import TestClient

    from api import create_app
    from ort_geo import auth, open_store

    kind, path = gappy
    with open_store(path) as st:
        key = auth.create_key(st, f"Anah {kind}", "staff")
    with TestClient(create_app(str(path))) as client:
        res = client.get("/collections/secteurs_ort/stats", headers={"X-API-Key": key})
        assert res.status_code == 200, res.text
        rows = res.json()["statistiques"]
        assert all("batiments_vacance_connue" in r for r in rows)
        if kind == "footprints":
            assert all(r["logements_vacants"] is None for r in rows)
        public = client.get("/collections/secteurs_ort/stats")
        assert public.status_code == 200, public.text
        csv = client.get("/collections/secteurs_ort/stats?f=csv", headers={"X-API-Key": key})
        assert csv.status_code == 200 and "vacance connue" in csv.text
        items = client.get("/collections/batiments/items?limit=50", headers={"X-API-Key": key})
        assert items.status_code == 200
        body = {"type": "Polygon", "coordinates": [[[7.0, 48.0], [7.2, 48.0], [7.2, 48.2],
                                                    [7.0, 48.2], [7.0, 48.0]]]}
        within = client.post("/batiments/within?vacant=false", json=body,
                             headers={"X-API-Key": key})
        assert within.status_code == 200, within.text
