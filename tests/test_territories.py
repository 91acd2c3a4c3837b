"""Any Petites villes de demain territory in one command, overseas included (issue 15).

Real towns of different kinds, chosen from the national PVD list (../shared): each is created by
``ort-geo init --pvd``, gets a drawn centre-ville sector imported from GeoJSON in lon/lat (as a
planner draws it on a web map), then validate (L303-2), stats, the public map and the atlas run
through the CLI. Areas are checked against a reference computation: pyproj reprojecting the same
drawing to the CRS each territory must use.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner
from pyproj import CRS

from ort_geo.build import new_territory, town_halls_of
from ort_geo.cli import main
from ort_geo.communes import read_communes, reference
from ort_geo.crs import crs_label
from ort_geo.errors import CRSError
from ort_geo.io import import_file
from ort_geo.stats import sector_stats
from ort_geo.store import open_store
from ort_geo.territory import load_territory, manifest_of, orientations_of

ROOT = Path(__file__).resolve().parents[1]

#: (INSEE code of the PVD town, the CRS its store must use, what kind of territory it is)
TOWNS = [
    pytest.param("74056", 2154, id="montagne-chamonix"),
    pytest.param("56152", 2154, id="littoral-belle-ile-le-palais"),
    pytest.param("40001", 2154, id="epci-sur-deux-departements-aire-sur-l-adour"),
    pytest.param("97424", 2975, id="la-reunion-cilaos"),
    pytest.param("97131", 5490, id="guadeloupe-terre-de-haut"),
]


def _cli(*args: str) -> str:
    """Run a command; its output with whitespace normalised (the console wraps lines)."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def pvd_list(shared_data: Path) -> dict[str, dict[str, str]]:
    path = shared_data / "programmes" / "pvd_communes_anct_2021-01-22.csv"
    with path.open(encoding="utf-8") as handle:
        return {row["insee_com"]: row for row in csv.DictReader(handle)}


def _drawn_sector(store, code: str, folder: Path) -> tuple[Path, shapely.Polygon]:
    """A ~300 m square around the main town's town hall, drawn in lon/lat and kept inside the
    commune (a coast, an island), as GeoJSON without a "crs" member (the importer must infer
    WGS84 among the territory's candidates)."""
    hall = gpd.GeoSeries([town_halls_of(store)[code]], crs=store.crs).to_crs(4326).iloc[0]
    commune = store.read("communes", where={"code_insee": code}).to_crs(4326).geometry.iloc[0]
    d = 0.0015
    square = shapely.box(hall.x - d, hall.y - d, hall.x + d, hall.y + d)
    square = shapely.set_precision(square.intersection(commune.buffer(-2e-5)), 1e-7)
    assert square.contains(hall)
    feature = {"type": "Feature", "geometry": shapely.geometry.mapping(square),
               "properties": {"id": "centre", "nom": "Centre-ville", "code_insee": code,
                              "type": "centre_ville_principal"}}
    path = folder / "secteur.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path, square


@pytest.mark.shared
@pytest.mark.parametrize(("code", "epsg"), TOWNS)
def test_a_pvd_town_end_to_end_in_its_own_crs(code, epsg, pvd_list, tmp_path):
    row = pvd_list[code]  # a real PVD town of the national list
    store_path = tmp_path / "territoire.gpkg"
    out = _cli("init", str(store_path), "--pvd", code)
    assert crs_label(epsg) in out

    store = open_store(store_path)
    assert store.epsg == epsg and store.read("communes").crs.to_epsg() == epsg
    # The EPCI's real member communes (the list's SIREN), with population and town halls.
    ref = reference()
    manifest = load_territory(tmp_path / "territoire")
    assert manifest.siren_epci == row["siren_epci"] and manifest.main_town == code
    communes = store.read("communes").set_index("code_insee")
    assert sorted(communes.index) == sorted(ref.members(row["siren_epci"]))
    assert (communes["population"] > 0).all() and code in town_halls_of(store)
    # Convention fields to fill in; zone layers empty and ready; no strata without DEM or axis.
    assert manifest.convention.reference == "" and manifest.convention.signataires
    assert all(s.representant == "" for s in manifest.convention.signataires)
    for layer in ("secteurs_ort", "permis_de_louer", "actions", "strates", "batiments"):
        assert store.count(layer) == 0, layer

    # A drawn sector, imported: lon/lat inferred, reprojected to the territory's CRS.
    geojson, square = _drawn_sector(store, code, tmp_path)
    out = _cli("import", str(geojson), "--couche", "secteurs_ort", "--store", str(store_path))
    assert "WGS84 (EPSG:4326) déduit" in out and crs_label(epsg) in out
    out = _cli("validate", "--store", str(store_path))
    assert "Validation réussie" in out  # L303-2: centre-ville of the main town, within the EPCI

    # Areas equal the reference computation in the right CRS.
    stats = sector_stats(store, "secteurs_ort").set_index("id")
    reference_ha = gpd.GeoSeries([square], crs=4326).to_crs(epsg).area.iloc[0] / 1e4
    assert stats.loc["centre", "surface_ha"] == pytest.approx(reference_ha, rel=1e-9)
    outlines = read_communes(list(communes.index), epsg=4326).to_crs(epsg)
    assert stats.loc["territoire", "surface_ha"] == pytest.approx(
        outlines.area.sum() / 1e4, rel=1e-9)

    # The public web map and the atlas, in French, say which CRS they were made in.
    html = tmp_path / "carte.html"
    _cli("map", "--public", "-o", str(html), "--store", str(store_path))
    text = html.read_text(encoding="utf-8")
    assert "Centre-ville" in text and manifest.title.split()[0] in text
    pdf = tmp_path / "atlas.pdf"
    _cli("atlas", "-o", str(pdf), "--store", str(store_path))
    from pypdf import PdfReader

    pages = PdfReader(pdf).pages
    first = re.sub(r"\s+", " ", pages[0].extract_text())
    assert "Centre-ville" in " ".join(p.extract_text() for p in pages)
    assert crs_label(epsg) in re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages[:3]))
    assert first  # the cover exists
    store.close()


@pytest.mark.shared
def test_the_pvd_list_plants_a_town_that_does_not_exist(pvd_list, tmp_path):
    """The national list as shipped to tests holds one made-up row; init refuses it in French,
    creating nothing."""
    fake = [code for code in pvd_list if code not in reference().communes]
    assert fake == ["999999"]
    result = CliRunner().invoke(main, ["init", str(tmp_path / "x.gpkg"), "--pvd", "999999"])
    assert result.exit_code == 2 and "Commune introuvable" in result.output
    assert list(tmp_path.iterdir()) == []


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.mark.shared
def test_a_failed_init_leaves_the_disk_as_it_was(shared_data, tmp_path):
    """A DEM that is not a raster, or a GeoTIFF cut short (its header opens, its data do not
    read): exit 2 with a French line, and no folder left of those init created for the store
    and the manifest (nested, missing parents), nothing written in a folder that was there."""
    tif = (shared_data / "dem" / "srtm3_val-d-argent_clip.tif").read_bytes()
    bad = tmp_path / "mauvais"
    bad.mkdir()
    (bad / "texte.tif").write_text("pas un raster")
    (bad / "coupe.tif").write_bytes(tif[:len(tif) // 2])
    (tmp_path / "existant").mkdir()
    before = _tree(tmp_path)
    for dem in sorted(bad.iterdir()):
        for store, folder in (("neuf/a/atlas.gpkg", None), ("neuf/a/atlas.gpkg", "autre/b/c"),
                              ("existant/atlas.gpkg", "existant")):
            args = ["init", str(tmp_path / store), "--pvd", "68298", "--mnt", str(dem)]
            result = CliRunner().invoke(main, args + (["--dossier", str(tmp_path / folder)]
                                                      if folder else []))
            assert result.exit_code == 2, (dem.name, store, folder, result.output)
            assert "Modèle numérique de terrain illisible" in result.output, result.output
            assert _tree(tmp_path) == before, (dem.name, store, folder)


def test_an_epci_spanning_two_departements(tmp_path):
    territory = new_territory(epci="200030435")  # CC d'Aire-sur-l'Adour: Landes and Gers
    deps = {reference().commune(c).departement for c in territory.communes}
    assert deps == {"32", "40"}
    assert territory.main_town == "40001"  # its most populous commune, Aire-sur-l'Adour
    assert territory.epsg == 2154


def test_overseas_imports_check_the_crs_against_the_territory(tmp_path):
    store_path = tmp_path / "reunion.gpkg"
    _cli("init", str(store_path), "--pvd", "97424")
    store = open_store(store_path)
    hall = town_halls_of(store)["97424"]
    # UTM 40S coordinates without any CRS: inferred as RGR92 / UTM 40S, nothing reprojected.
    csv_path = tmp_path / "zone.csv"
    square = shapely.box(hall.x - 100, hall.y - 100, hall.x + 100, hall.y + 100)
    csv_path.write_text(f'id;nom;wkt\nz1;Zone;"{square.wkt}"\n', encoding="utf-8")
    report = import_file(store, "zones_activite", csv_path, author="test")
    assert "RGR92 / UTM 40S (EPSG:2975) déduit" in " ".join(report.messages)
    assert store.read("zones_activite").area.iloc[0] == pytest.approx(40_000, rel=1e-9)
    # Lambert-93 declared on La Réunion is a contradiction: refused, store unchanged.
    l93 = gpd.GeoDataFrame({"id": ["z2"]}, geometry=[shapely.box(1e6, 6.8e6, 1.001e6, 6.801e6)],
                           crs=2154)
    l93.to_file(tmp_path / "l93.gpkg")
    with pytest.raises(CRSError, match="hors du territoire"):
        import_file(store, "zones_activite", tmp_path / "l93.gpkg", author="test")
    assert store.count("zones_activite") == 1
    # The API's Part 2 CRS list follows the store.
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(str(store_path))) as client:
        doc = client.get("/collections/zones_activite").json()
        assert doc["storageCrs"].endswith("/EPSG/0/2975")
        assert doc["crs"][-1].endswith("/EPSG/0/2975")
        items = client.get("/collections/zones_activite/items",
                           params={"crs": "http://www.opengis.net/def/crs/EPSG/0/2975"})
        assert items.headers["content-crs"].endswith("/EPSG/0/2975>")
        x = items.json()["features"][0]["geometry"]["coordinates"][0][0][0][0]  # MultiPolygon
        assert abs(x - hall.x) < 200
    store.close()


@pytest.mark.shared
def test_strata_from_any_dem_or_an_axis_or_none(shared_data, tmp_path):
    # An SRTM .hgt tile (WGS84 geographic) for a Lambert-93 territory: reprojected by rasterio.
    hgt = shared_data / "dem" / "N48E007.hgt"
    store_path = tmp_path / "mnt.gpkg"
    _cli("init", str(store_path), "--epci", "246800395", "--mnt", str(hgt))
    store = open_store(store_path)
    strata = store.read("strates")
    assert set(strata["methode"]) == {"altitude"} and len(strata) == 3
    assert store.get_meta("territory")["strates_methode"] == "altitude"
    # Names come from the manifest (defaults for a new territory).
    assert set(strata["libelle"]) == {"Strate basse", "Strate intermédiaire", "Strate haute"}
    store.close()
    # An axis line drawn in lon/lat: distance bands in the territory's CRS.
    axis = tmp_path / "axe.geojson"
    hall = (-3.1525, 47.3480)  # Le Palais, Belle-Île
    axis.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "LineString", "coordinates": [[hall[0] - 0.02, hall[1]],
                                                           [hall[0] + 0.02, hall[1] - 0.01]]}}]}))
    store_path = tmp_path / "axe.gpkg"
    _cli("init", str(store_path), "--pvd", "56152", "--axe", str(axis), "--dossier",
         str(tmp_path / "belle-ile"))
    store = open_store(store_path)
    strata = store.read("strates")
    assert set(strata["methode"]) == {"distance"}
    assert (tmp_path / "belle-ile" / "axe.geojson").exists()
    assert load_territory(tmp_path / "belle-ile").strates.axe == "axe.geojson"
    store.close()


def test_the_shipped_territory_is_a_manifest_like_any_other(demo_store):
    """Orientations, colours, strata names and demo streets of the first territory come from
    its manifest, and init --epci finds the same communes and main town."""
    manifest = manifest_of(demo_store)
    assert manifest is not None and len(manifest.orientations) == 4
    styles = orientations_of(demo_store)
    assert styles == manifest.orientation_styles()
    assert set(demo_store.read("strates")["libelle"]) == set(manifest.strates.libelles.values())
    fresh = new_territory(epci=manifest.siren_epci)
    assert sorted(fresh.communes) == sorted(manifest.communes)
    assert fresh.main_town == manifest.main_town


def test_any_number_of_orientations_reach_stats_and_maps(demo_store, tmp_path):
    """A fifth orientation (not in the manifest) gets its own statistics columns and a generic
    label and colour."""
    import shutil

    path = tmp_path / "copie.gpkg"
    shutil.copyfile(demo_store.url, path)
    store = open_store(path)
    action = store.read("actions").iloc[[0]].copy()
    action["id"], action["orientation"] = "a-o5", 5
    store.write("actions", action, author="test")
    stats = sector_stats(store, "secteurs_ort")
    assert {"actions_o5", "cout_o5"} <= set(stats.columns)
    assert stats["actions_o5"].iloc[-1] == 1
    assert orientations_of(store)[5][0] == "Orientation 5"
    store.close()


def test_no_territory_in_the_code():
    """Names, codes, orientation titles and the orientation palette of a territory live in
    manifests, not in ort_geo/ (a red or a green for errors and success may stay: a file holding
    most of the four orientation colours is the palette)."""
    names = re.compile(r"argent|sainte-marie|sainte-croix|li[eè]pvr|rombach|68298|68294|68185"
                       r"|68283|246800395|pvd-44-68|haut-rhin|burrus|mouilles"
                       r"|redynamiser les centres|valoriser le territoire|transition écologique"
                       r"|cadre de vie", re.IGNORECASE)
    palette = ("#c0392b", "#1e8449", "#2471a3", "#b7950b")
    manifests = {p.parent for p in (ROOT / "ort_geo").rglob("territory.toml")}
    found = []
    for path in (ROOT / "ort_geo").rglob("*"):
        if path.suffix not in {".py", ".toml", ".json", ".js", ".css", ".html"} \
                or "vendor" in path.parts or manifests & set(path.parents):
            continue  # a territory's own folder (manifest and layers) is data
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if names.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
        if path.suffix == ".py" and sum(c in text.lower() for c in palette) >= 3:
            found.append(f"{path.relative_to(ROOT)}: the orientation palette")
    assert not found, "\n".join(found)


def test_overseas_crs_are_the_official_ones():
    from ort_geo.crs import territory_epsg

    assert {code: territory_epsg(code) for code in
            ("68298", "2A004", "97105", "97209", "97302", "97411", "97611")} == {
        "68298": 2154, "2A004": 2154, "97105": 5490, "97209": 5490, "97302": 2972,
        "97411": 2975, "97611": 4471}
    assert CRS.from_epsg(2975).name == "RGR92 / UTM zone 40S"


@pytest.mark.postgis
def test_a_postgis_store_keeps_its_territory_crs(postgis_url, tmp_path):
    """An overseas store copied to PostGIS: the geometry column's SRID is the territory's, read
    back as ``store.epsg`` when reopened."""
    import uuid

    import psycopg

    from ort_geo.copy import copy_store

    source_path = tmp_path / "mayotte.gpkg"
    _cli("init", str(source_path), "--pvd", "97602")  # Bandraboua, Mayotte
    url = f"{postgis_url}?schema=test_{uuid.uuid4().hex[:12]}"
    try:
        source = open_store(source_path)
        assert source.epsg == 4471
        dest = open_store(url, create=True, epsg=source.epsg)
        report = copy_store(source, dest)
        assert report.ok
        dest.close()
        again = open_store(url)
        assert again.epsg == 4471 and again.read("communes").crs.to_epsg() == 4471
        assert again.read("communes").area.sum() == pytest.approx(
            source.read("communes").area.sum(), rel=1e-12)
        again.close()
        source.close()
    finally:
        with psycopg.connect(postgis_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("=", 1)[1]}" CASCADE')


def test_pvd_list_is_read_as_french_excel_writes_it(tmp_path):
    """The ANCT list of PVD towns saved from Excel: ``;``, Windows-1252; a bare list of codes;
    a missing or empty file is a French error."""
    from ort_geo.batch import read_codes
    from ort_geo.errors import InputError

    excel = tmp_path / "pvd.csv"
    excel.write_bytes("libellé;insee_com;département\nSainte-Marie-aux-Mines;68298;Haut-Rhin\n"
                      "Lièpvre;68185;Haut-Rhin\n".encode("cp1252"))
    assert read_codes(excel) == ["68298", "68185"]
    bare = tmp_path / "codes.csv"
    bare.write_text("2A004\n97101\n", encoding="utf-8")  # Corsica first: still a code
    assert read_codes(bare) == ["2A004", "97101"]
    (tmp_path / "vide.csv").write_bytes(b"")
    with pytest.raises(InputError, match="Liste de villes vide"):
        read_codes(tmp_path / "vide.csv")
    with pytest.raises(InputError, match="Liste de villes introuvable"):
        read_codes(tmp_path / "absente.csv")
