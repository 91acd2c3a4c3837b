"""Statistics equal an independent brute-force computation (shapely per zone), exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from stats_data import YEAR, assert_stats_equal_brute_force

from ort_geo.cli import main
from ort_geo.errors import InputError, LayerNotFoundError
from ort_geo.privacy import MASK
from ort_geo.secrecy import restricted_columns
from ort_geo.stats import COLUMNS, sector_stats

ZONE_LAYERS = ["secteurs_ort", "permis_de_louer", "strates", "communes"]


@pytest.fixture(params=["synthetic", "demo"])
def any_store(request, backend, on_backend):
    """The synthetic zones store and the demo store, on each backend."""
    name = "zones_store_gpkg" if request.param == "synthetic" else "demo_store"
    return on_backend(request.getfixturevalue(name), backend)


@pytest.mark.parametrize("layer", ZONE_LAYERS + ["ilot_demonstrateur", "zones_activite"])
def test_stats_equal_brute_force(any_store, layer):
    got = assert_stats_equal_brute_force(any_store, layer)
    if len(got) == 1:
        return  # no zone: only the territory row
    assert got["id"].iloc[-1] == "territoire"
    zones = got.iloc[:-1].reset_index(drop=True)
    # Rates follow from the counts.
    num, den = (zones[c].astype(float) for c in ("logements_vacants", "logements_vacance_connue"))
    np.testing.assert_allclose(zones["taux_vacance"], (100 * num / den).where(den > 0))
    if layer in ("communes", "strates"):
        assert zones["batiments"].sum() > 0


def test_territory_row_and_partitions(zones_store):
    strata = sector_stats(zones_store, "strates", reference_year=YEAR)
    total = strata.iloc[-1]
    buildings = zones_store.read("batiments")
    assert total["batiments"] == len(buildings)
    assert total["logements"] == buildings["nb_logements"].sum()
    assert total["surface_ha"] == pytest.approx(800.0)
    # Strata tile the communes; only buildings exactly on a shared edge count twice.
    y = buildings.geometry.representative_point().y - 6_790_000
    on_edges = int(y.isin([700.0, 1400.0]).sum())
    assert on_edges == 4
    assert strata["batiments"].iloc[:-1].sum() - total["batiments"] == on_edges


def test_boundary_building_counts_in_both_adjacent_sectors(zones_store):
    s = sector_stats(zones_store, "secteurs_ort", reference_year=YEAR).set_index("id")
    # The building centred on the S1|S2 edge (x = 1200) and the edge shop count in both.
    from shapely.geometry import Point

    edge_point = Point(1_001_200.0, 6_790_500.0)
    shops = zones_store.read("commerces", ids=["Cedge"])
    assert shops.geometry.iloc[0].equals(edge_point)
    s1 = zones_store.get("secteurs_ort", "S1").geometry
    s2 = zones_store.get("secteurs_ort", "S2").geometry
    assert s1.covers(edge_point) and s2.covers(edge_point)
    assert s.loc["S1", "commerces"] >= 1 and s.loc["S2", "commerces"] >= 1


def test_perimeter_frame_and_file(zones_store, tmp_path):
    from shapely.geometry import box

    zone = box(1_000_000, 6_790_000, 1_001_000, 6_791_000)
    by_geom = sector_stats(zones_store, None, perimeter=zone, reference_year=YEAR)
    assert by_geom["id"].tolist() == ["perimetre", "territoire"]
    pts = zones_store.read("batiments").geometry.representative_point()
    assert by_geom["batiments"].iloc[0] == int(zone.covers(pts).sum())
    import geopandas as gpd

    frame = gpd.GeoDataFrame({"nom": ["Carré"]}, geometry=[zone], crs=2154)
    path = tmp_path / "perimetre.gpkg"
    frame.to_file(path, driver="GPKG")
    by_file = sector_stats(zones_store, None, perimeter=str(path), reference_year=YEAR)
    assert by_file["nom"].iloc[0] == "Carré"
    assert by_file["batiments"].iloc[0] == by_geom["batiments"].iloc[0]


def test_public_mode_masks_small_restricted_counts(any_store, zones_store):
    restricted = restricted_columns()
    for layer in ZONE_LAYERS:
        staff = sector_stats(any_store, layer, reference_year=YEAR)
        public = sector_stats(any_store, layer, public=True, reference_year=YEAR)
        assert public.attrs["public"] is True
        for col in COLUMNS:
            for s, p in zip(staff[col.name], public[col.name], strict=True):
                if col.kind == "count" and pd.isna(s):
                    assert pd.isna(p)  # unknown stays unknown
                elif col.name in restricted:  # small ones masked, others shown or complements
                    assert p == MASK if 1 <= s <= 10 else p in (MASK, s)
                elif col.kind == "count":  # public facts are shown as they are
                    assert p == s
        secret = public["logements_vacants"] == MASK
        assert (public["taux_vacance"][secret] == MASK).all()
        assert (public["taux_vacance_commerciale"].astype(object) != MASK).all()
    assert (sector_stats(zones_store, "secteurs_ort", public=True)["habitat_indigne"]
            == MASK).any()


def test_errors(zones_store):
    with pytest.raises(LayerNotFoundError):
        sector_stats(zones_store, "inconnue")
    with pytest.raises(InputError, match="couche de zones"):
        sector_stats(zones_store, "batiments")
    with pytest.raises(InputError):
        sector_stats(zones_store, None)


def test_cli_stats_formats(zones_store):
    runner = CliRunner()
    url = str(zones_store.url) if hasattr(zones_store, "url") else None
    res = runner.invoke(main, ["stats", "secteurs_ort", "--store", url, "--format", "json",
                               "--public"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert rows[-1]["id"] == "territoire"
    for row in rows:
        for name in restricted_columns():
            assert not (isinstance(row[name], int) and 1 <= row[name] <= 10)
    # Another year than the public one is for staff (differences between years would reveal).
    res = runner.invoke(main, ["stats", "secteurs_ort", "--store", url, "--public", "--annee",
                               "2015"])
    assert res.exit_code == 2 and "réservées aux agents habilités" in res.output
    res = runner.invoke(main, ["stats", "--perimetre", "p.geojson", "--store", url, "--public"])
    assert res.exit_code == 2 and "périmètre libre" in res.output
    res = runner.invoke(main, ["stats", "strates", "--store", url, "--format", "csv"])
    assert res.exit_code == 0
    assert res.output.splitlines()[0].startswith("Identifiant;Nom;Surface (ha)")
    res = runner.invoke(main, ["stats", "secteurs_ort", "--store", url])
    assert res.exit_code == 0 and "Centre-ville" in res.output and "Bâtiments" in res.output
    res = runner.invoke(main, ["stats", "batiments", "--store", url])
    assert res.exit_code == 2 and "couche de zones" in res.output
