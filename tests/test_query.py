"""Perimeter queries: the same buildings as a brute-force filter, exported in three formats."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from ort_geo.cli import main
from ort_geo.errors import AccessDeniedError, FeatureNotFoundError, InputError
from ort_geo.query import buildings_within, export_buildings


def _brute(store, zone, pred):
    b = store.read("batiments")
    pts = b.geometry.representative_point()
    pdl = store.read("permis_de_louer").geometry
    ids = []
    for row, p in zip(b.itertuples(), pts, strict=True):
        in_pdl = any(z.covers(p) for z in pdl)
        if (zone is None or zone.covers(p)) and pred(row, in_pdl):
            ids.append(row.id)
    return ids


def _lt(row, year=2026):
    return (row.nb_logements_vacants or 0) > 0 and pd.notna(row.annee_debut_vacance) \
        and row.annee_debut_vacance <= year - 2


CASES = {
    "all": ({}, lambda r, pdl: True),
    "vacant": ({"vacant": True}, lambda r, pdl: (r.nb_logements_vacants or 0) > 0),
    "occupied": ({"vacant": False}, lambda r, pdl: not (r.nb_logements_vacants or 0) > 0),
    "long_term": ({"long_term_vacant": True, "reference_year": 2026}, lambda r, pdl: _lt(r)),
    "degraded_pdl": ({"etat": "degrades", "permis_de_louer": True},
                     lambda r, pdl: r.etat in ("degrade", "tres_degrade") and pdl),
    "outside_pdl_old": ({"permis_de_louer": False, "built_to": 1948, "etat": ["bon", "moyen"]},
                        lambda r, pdl: not pdl and pd.notna(r.annee_construction)
                        and r.annee_construction <= 1948 and r.etat in ("bon", "moyen")),
    "period": ({"built_from": 1900, "built_to": 1975},
               lambda r, pdl: pd.notna(r.annee_construction)
               and 1900 <= r.annee_construction <= 1975),
}


@pytest.mark.parametrize("case", list(CASES))
def test_query_equals_brute_force(zones_store, case):
    kwargs, pred = CASES[case]
    s1 = zones_store.get("secteurs_ort", "S1").geometry
    got = buildings_within(zones_store, "secteurs_ort:S1", **kwargs)
    want = _brute(zones_store, s1, pred)
    assert sorted(got["id"]) == sorted(want)
    assert len(want) > 0
    everywhere = buildings_within(zones_store, None, **kwargs)
    assert sorted(everywhere["id"]) == sorted(_brute(zones_store, None, pred))


def test_query_by_layer_geometry_and_file(zones_store, tmp_path):
    zone = box(1_001_500, 6_790_300, 1_002_500, 6_791_100)
    by_geom = buildings_within(zones_store, zone, vacant=True)
    path = tmp_path / "perimetre.gpkg"
    gpd.GeoDataFrame({"nom": ["Rue"]}, geometry=[zone], crs=2154).to_file(path, driver="GPKG")
    by_file = buildings_within(zones_store, str(path), vacant=True)
    assert by_geom["id"].tolist() == by_file["id"].tolist() and len(by_geom) > 0
    whole_layer = buildings_within(zones_store, "secteurs_ort")
    parts = set()
    for sid in ("S1", "S2", "S3", "S4"):
        parts |= set(buildings_within(zones_store, f"secteurs_ort:{sid}")["id"])
    assert set(whole_layer["id"]) == parts


def test_bad_perimeter_files_are_refused_clearly(zones_store, tmp_path):
    import json

    from ort_geo.errors import OrtGeoError

    zone = gpd.GeoDataFrame(geometry=[box(1_001_500, 6_790_300, 1_002_500, 6_791_100)],
                            crs=2154).to_crs(4326)
    ring = [[y, x] for x, y in zone.geometry.iloc[0].exterior.coords]  # lat/lon swapped
    swapped = tmp_path / "inverse.geojson"
    swapped.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                          "coordinates": [ring]}}]}))
    with pytest.raises(OrtGeoError, match="(?i)invers|lat"):
        buildings_within(zones_store, str(swapped))
    with pytest.raises(InputError, match="introuvable"):
        buildings_within(zones_store, str(tmp_path / "absent.gpkg"))
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy([7.1], [48.2]), crs=4326).to_file(points)
    with pytest.raises(InputError, match="polygones"):
        buildings_within(zones_store, str(points))


def test_query_errors_and_public(zones_store):
    with pytest.raises(FeatureNotFoundError):
        buildings_within(zones_store, "secteurs_ort:NOPE")
    with pytest.raises(InputError, match="couche de zones"):
        buildings_within(zones_store, "commerces:C1")
    with pytest.raises(InputError, match="État inconnu"):
        buildings_within(zones_store, None, etat="ruine")
    with pytest.raises(AccessDeniedError):
        buildings_within(zones_store, "secteurs_ort:S1", vacant=True, public=True)
    public = buildings_within(zones_store, "secteurs_ort:S1", public=True, built_to=1950)
    for name in ("nb_logements_vacants", "etat", "habitat_indigne", "rdc_vacant",
                 "annee_debut_vacance", "proprietaire_type"):
        assert name not in public.columns


def test_exports_and_cli(zones_store, tmp_path):
    frame = buildings_within(zones_store, "secteurs_ort:S2", vacant=True)
    for suffix in ("gpkg", "geojson", "zip"):
        out = export_buildings(frame, tmp_path / f"b.{suffix}")
        # A zipped Shapefile holds one layer per geometry family (polygons, points).
        layers = [name for name, _ in pyogrio.list_layers(out)]
        back = pd.concat([gpd.read_file(out, layer=name) for name in layers])
        assert sorted(back["id"]) == sorted(frame["id"])
        assert back.crs.to_epsg() == (4326 if suffix == "geojson" else 2154)
    csv = export_buildings(frame, tmp_path / "b.csv")
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(csv, sep=";", decimal=",", encoding="utf-8-sig")
    assert sorted(table["id"]) == sorted(frame["id"])
    with pytest.raises(InputError):
        export_buildings(frame, tmp_path / "b.xls")
    runner = CliRunner()
    out = tmp_path / "cli.geojson"
    res = runner.invoke(main, ["query", "--within", "secteurs_ort:S2", "--vacant", "-o", str(out),
                               "--store", zones_store.url])
    assert res.exit_code == 0, res.output
    assert sorted(gpd.read_file(out)["id"]) == sorted(frame["id"])
    assert "bâtiment(s) exporté(s)" in res.output
    res = runner.invoke(main, ["query", "--within", "secteurs_ort:NOPE", "-o", str(out),
                               "--store", zones_store.url])
    assert res.exit_code == 2 and "introuvable" in res.output
