"""ort_geo.version_diff: gained and lost areas, statistics per version, restore as a new version."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from ort_geo.cli import main
from ort_geo.errors import FeatureNotFoundError, InputError
from ort_geo.stats import sector_stats
from ort_geo.version_diff import compare_versions, restore_version

X0, Y0 = 1_010_000.0, 6_800_000.0
OLD = shapely.Polygon([(X0, Y0), (X0 + 600, Y0), (X0 + 300, Y0 + 500)])
NEW = shapely.box(X0 + 200, Y0 - 100, X0 + 700, Y0 + 300)


@pytest.fixture
def zone_store(store):
    store.write("secteurs_ort", gpd.GeoDataFrame(
        [{"id": "z", "nom": "Zone", "type": "quartier"}], geometry=[OLD], crs="EPSG:2154"),
        author="a")
    store.write("batiments", gpd.GeoDataFrame(
        [{"id": f"b{i}", "nb_logements": 1 + i % 3, "nb_logements_vacants": i % 2}
         for i in range(100)],
        geometry=[shapely.box(X0 + (i % 10) * 70, Y0 - 80 + (i // 10) * 60,
                              X0 + (i % 10) * 70 + 8, Y0 - 72 + (i // 10) * 60)
                  for i in range(100)], crs="EPSG:2154"), author="a")
    store.update("secteurs_ort", "z", {"nom": "Zone révisée"}, geometry=NEW, author="b",
                 message="révision")
    store.delete("secteurs_ort", "z", author="c")
    return store


def test_gained_lost_and_stats_equal_direct_computations(zone_store):
    diff = compare_versions(zone_store, "secteurs_ort", "z", 1, 2)
    assert diff.gained_ha == pytest.approx(NEW.difference(OLD).area / 1e4)
    assert diff.lost_ha == pytest.approx(OLD.difference(NEW).area / 1e4)
    assert diff.gained.intersection(OLD).area == pytest.approx(0, abs=1e-6)
    assert diff.area_after_ha - diff.area_before_ha == pytest.approx(diff.gained_ha - diff.lost_ha)
    for when, geom in (("avant", OLD), ("apres", NEW)):
        direct = sector_stats(zone_store, None, perimeter=geom).iloc[0]
        for name in ("batiments", "logements", "logements_vacants"):
            assert diff.stats.loc[when, name] == direct[name]
    assert diff.stats.loc["avant", "batiments"] != diff.stats.loc["apres", "batiments"]
    assert diff.changed_fields == {"nom": ("Zone", "Zone révisée")}
    figures = diff.figures()
    assert figures["surfaces"]["gagnee_ha"] == round(diff.gained_ha, 2)
    # Against the deletion: everything is lost, the statistics after are zeros.
    gone = compare_versions(zone_store, "secteurs_ort", "z", 2, 3)
    assert gone.lost_ha == pytest.approx(NEW.area / 1e4) and gone.gained_ha == 0
    assert gone.stats.loc["apres", "batiments"] == 0


def test_restore_recreates_a_deleted_zone_as_a_new_version(zone_store):
    restored = restore_version(zone_store, "secteurs_ort", "z", 1, author="d")
    assert restored.properties["nom"] == "Zone"
    history = zone_store.history("secteurs_ort", "z")
    assert [e.operation for e in history] == ["insert", "update", "delete", "insert"]
    assert history[-1].message == "restauration de la version 1"
    assert zone_store.get("secteurs_ort", "z").geometry.equals(shapely.MultiPolygon([OLD]))
    with pytest.raises(InputError, match="identique"):
        restore_version(zone_store, "secteurs_ort", "z", 4, author="d")
    with pytest.raises(FeatureNotFoundError):
        restore_version(zone_store, "secteurs_ort", "z", 7, author="d")


def test_cli_diff_and_french_errors(zone_store, backend):
    runner = CliRunner()
    ok = runner.invoke(main, ["diff", "secteurs_ort", "z", "1", "2", "--store", zone_store.url])
    assert ok.exit_code == 0, ok.output
    diff = compare_versions(zone_store, "secteurs_ort", "z", 1, 2)
    gained = f"{diff.figures()['surfaces']['gagnee_ha']:.2f}".replace(".", ",")
    assert f"surface gagnée : {gained}" in ok.output
    assert "révision" in ok.output and "Bâtiments" in ok.output
    bad = runner.invoke(main, ["diff", "secteurs_ort", "z", "1", "9", "--store", zone_store.url])
    assert bad.exit_code == 2 and "pas de version 9" in bad.output
    unknown = runner.invoke(main, ["diff", "nope", "z", "1", "2", "--store", zone_store.url])
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output


def test_changes_of_a_year_compare_the_zones_in_force_at_both_dates(store, monkeypatch):
    from ort_geo.store import base as store_base
    from ort_geo.version_diff import compare_dates, zone_changes

    now = {"t": ""}
    monkeypatch.setattr(store_base, "_now", lambda: now["t"])

    def at(text: str) -> None:
        now["t"] = text + ".000+00:00"

    def zone(fid: str, geom) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame([{"id": fid, "nom": fid, "type": "quartier"}], geometry=[geom],
                                crs="EPSG:2154")

    at("2024-03-01T10:00:00")
    store.write("secteurs_ort", zone("z", OLD), author="a")
    at("2025-05-01T10:00:00")
    store.update("secteurs_ort", "z", {}, geometry=NEW, author="b", message="révision")
    at("2025-09-01T10:00:00")
    store.write("secteurs_ort", zone("y", shapely.box(X0 + 2000, Y0, X0 + 2100, Y0 + 100)),
                author="c")
    at("2025-10-01T10:00:00")
    store.delete("secteurs_ort", "z", author="d")

    half = zone_changes(store, "secteurs_ort", "2024-12-31", "2025-06-30", stats=False)
    assert [d.feature_id for d in half] == ["z"]
    versions_diff = compare_versions(store, "secteurs_ort", "z", 1, 2)
    assert half[0].figures()["surfaces"] == versions_diff.figures()["surfaces"]
    year = {d.feature_id: d for d in zone_changes(store, "secteurs_ort", "2024-12-31",
                                                  "2025-12-31")}
    assert set(year) == {"y", "z"}
    assert year["y"].old is None and year["y"].gained_ha == pytest.approx(1.0)
    assert year["z"].new.deleted and year["z"].lost_ha == pytest.approx(OLD.area / 1e4)
    assert year["z"].stats.loc["apres", "batiments"] == 0
    assert year["y"].figures()["de"] is None
    with pytest.raises(FeatureNotFoundError, match="aucune de ces deux dates"):
        compare_dates(store, "secteurs_ort", "y", "2023-01-01", "2024-01-01")
