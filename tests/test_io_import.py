"""Import: every format read by real GDAL, CRS inference, bad input refused with the store intact."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

from ort_geo.errors import (
    AmbiguousCRSError,
    CRSError,
    FieldError,
    FormatError,
    GeometryError,
    InputError,
    SwappedAxesError,
)
from ort_geo.io import import_file, read_vector

# Two sectors of Sainte-Marie-aux-Mines, in WGS84 lon/lat.
SECTOR_BOXES = [(7.175, 48.243, 7.185, 48.250), (7.190, 48.243, 7.200, 48.250)]


def sectors(crs: str | int = 4326, **columns) -> gpd.GeoDataFrame:
    data = {"id": ["centre", "halles"], "nom": ["Centre-ville", "Les Halles"],
            "type": ["centre_ville_principal", "quartier"], "code_insee": ["68298", "68298"]}
    data.update(columns)
    frame = gpd.GeoDataFrame(data, geometry=[shapely.box(*b) for b in SECTOR_BOXES], crs=4326)
    return frame.to_crs(crs)


def digest(target) -> str:
    """sha256 of a file, or of a store: its whole content and, for a GeoPackage, its bytes."""
    if isinstance(target, (str, Path)):
        return hashlib.sha256(Path(target).read_bytes()).hexdigest()
    from ort_geo.copy import store_digest

    file_digest = digest(target.path) if hasattr(target, "path") else ""
    return store_digest(target).fingerprint + file_digest


@pytest.fixture
def seeded(store, tmp_path):
    """A store already holding the two sectors, and its sha256."""
    import_file(store, "secteurs_ort", _write(sectors(), tmp_path / "seed.gpkg"), author="seed")
    return store, digest(store)


def _write(frame: gpd.GeoDataFrame, path: Path, **kw) -> Path:
    pyogrio.write_dataframe(frame, path, **kw)
    return path


def _same_place(frame: gpd.GeoDataFrame) -> None:
    expected = sectors(2154).geometry.values
    assert frame.crs.to_epsg() == 2154
    for got, want in zip(frame.geometry.values, expected, strict=True):
        assert got.symmetric_difference(want).area < 1e-3 * want.area


# -- formats ---------------------------------------------------------------------------------

def _shapefile_zip(tmp_path: Path) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    _write(sectors(2154), folder / "secteurs.shp")
    archive = tmp_path / "secteurs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, f"export/{part.name}")
    return archive


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: _write(sectors(), d / "s.geojson"), id="geojson"),
        pytest.param(lambda d: _write(sectors(2154), d / "s.gpkg", layer="secteurs"), id="gpkg"),
        pytest.param(lambda d: _write(sectors(3948), d / "s.shp"), id="shp"),
        pytest.param(lambda d: _write(sectors(2154), d / "dir" / "s.shp").parent, id="shp-folder"),
        pytest.param(_shapefile_zip, id="shp-zip"),
        pytest.param(lambda d: _write(sectors().rename(columns={"nom": "Name"}), d / "s.kml",
                                      driver="KML"), id="kml"),
        pytest.param(lambda d: _write(sectors(3948), d / "s.fgb"), id="flatgeobuf"),
        pytest.param(lambda d: _csv_wkt(d / "s.csv"), id="csv-wkt"),
    ],
)
def test_each_format_imports_to_the_same_place(tmp_path, store, make):
    (tmp_path / "dir").mkdir()
    path = make(tmp_path)
    report = import_file(store, "secteurs_ort", path, author="test")
    assert report.summary.inserted == 2
    stored = store.read("secteurs_ort")
    assert sorted(stored["id"]) == ["centre", "halles"]
    _same_place(stored.sort_values("id"))
    assert dict(zip(stored["id"], stored["nom"], strict=True))["centre"] == "Centre-ville"


def _csv_wkt(path: Path) -> Path:
    """Comma-separated, WKT in Lambert-93, no CRS anywhere."""
    frame = sectors(2154)
    lines = ["id,Nom,TYPE,insee,WKT"] + [
        f'{r.id},{r.nom},{r.type},{r.code_insee},"{r.geometry.wkt}"' for r in frame.itertuples()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _csv_lonlat(path: Path) -> Path:
    """A French spreadsheet export: semicolons, decimal commas, BOM; points as lon/lat."""
    rows = ["identifiant;Longitude;Latitude;nom"]
    rows += [f"p{i};{x:.5f};{y:.5f};Commerce {i}".replace(".", ",")
             for i, (x, y) in enumerate([(7.18, 48.246), (7.195, 48.247)])]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    return path


def test_csv_lonlat_points(tmp_path, store):
    report = import_file(store, "commerces", _csv_lonlat(tmp_path / "c.csv"), author="t")
    assert report.crs_inferred and "WGS84" in report.crs
    shops = store.read("commerces").sort_values("id")
    assert list(shops["nom"]) == ["Commerce 0", "Commerce 1"]
    expected = gpd.GeoSeries([shapely.Point(7.18, 48.246)], crs=4326).to_crs(2154).iloc[0]
    assert shops.geometry.iloc[0].distance(expected) < 0.01


# -- the real communes (Done when) -----------------------------------------------------------

def test_real_communes(store, communes_geojson):
    report = import_file(store, "communes", communes_geojson, author="test")
    assert report.summary.inserted == 4
    communes = store.read("communes")
    assert communes.crs.to_epsg() == 2154
    assert sorted(communes["code_insee"]) == ["68185", "68283", "68294", "68298"]
    smam = communes.set_index("code_insee").loc["68298"]
    assert smam["nom"] == "Sainte-Marie-aux-Mines"
    assert smam.geometry.area / 1e6 == pytest.approx(45.12, rel=0.005)
    assert report.renamed == {"code": "code_insee"}
    assert "lib_epci" in report.unknown_fields
    assert "population" in report.missing_fields


def test_real_communes_without_crs_and_in_cc48_land_in_the_same_place(tmp_path, communes_geojson):
    reference, _ = read_vector(communes_geojson)
    data = json.loads(communes_geojson.read_text())
    data.pop("crs")
    no_crs = tmp_path / "sans_scr.geojson"
    no_crs.write_text(json.dumps(data))
    cc48 = tmp_path / "cc48.geojson"
    pyogrio.write_dataframe(gpd.read_file(communes_geojson).to_crs(3948), cc48)
    data = json.loads(cc48.read_text())
    assert "3948" in data.pop("crs")["properties"]["name"]
    cc48.write_text(json.dumps(data))
    for path, name in ((no_crs, "WGS84 (EPSG:4326)"), (cc48, "CC48 (EPSG:3948)")):
        frame, report = read_vector(path)
        assert report.crs_inferred
        assert any(f"{name} déduit" in m for m in report.messages), report.messages
        assert frame.crs.to_epsg() == 2154
        for got, want in zip(frame.geometry, reference.geometry, strict=True):
            assert got.symmetric_difference(want).area < 1.0  # m², i.e. the same outline


@pytest.mark.parametrize("keep_crs", [True, False], ids=["declared-wgs84", "no-crs"])
def test_real_communes_swapped_is_refused(tmp_path, store, communes_geojson, keep_crs):
    data = json.loads(communes_geojson.read_text())
    for feature in data["features"]:
        feature["geometry"]["coordinates"] = [
            [[[y, x] for x, y in ring] for ring in poly] if feature["geometry"]["type"]
            == "MultiPolygon" else [[y, x] for x, y in poly]
            for poly in feature["geometry"]["coordinates"]
        ]
    if not keep_crs:
        data.pop("crs")
    path = tmp_path / "inverse.geojson"
    path.write_text(json.dumps(data))
    before = digest(store)
    with pytest.raises(SwappedAxesError, match="Latitude et longitude inversées") as err:
        import_file(store, "communes", path, author="t")
    assert "longitude puis latitude" in str(err.value)
    assert digest(store) == before


def test_history_after_two_imports(tmp_path, store):
    path = _write(sectors(), tmp_path / "v1.geojson")
    import_file(store, "secteurs_ort", path, author="alice")
    changed = sectors(nom=["Centre-ville élargi", "Les Halles"])
    changed.loc[0, "geometry"] = shapely.box(7.174, 48.242, 7.186, 48.251)
    path2 = _write(changed, tmp_path / "v2.geojson")
    report = import_file(store, "secteurs_ort", path2, author="bob")
    assert (report.summary.updated, report.summary.unchanged) == (1, 1)
    history = store.history("secteurs_ort", "centre")
    assert [e.operation for e in history] == ["insert", "update"]
    assert [e.author for e in history] == ["alice", "bob"]
    assert history[1].before.properties["nom"] == "Centre-ville"
    assert history[1].after.properties["nom"] == "Centre-ville élargi"
    assert history[1].after.geometry.area > history[1].before.geometry.area
    assert store.history("secteurs_ort", "halles")[-1].operation == "insert"


# -- CRS -------------------------------------------------------------------------------------

def test_declared_crs_overridden_by_caller(tmp_path):
    # Lambert-93 coordinates in a file wrongly labelled WGS84: refused, then accepted with --scr.
    path = _write(sectors(2154).set_crs(4326, allow_override=True), tmp_path / "faux.gpkg")
    with pytest.raises(CRSError, match=r"Lambert-93 \(EPSG:2154\) : indiquez --scr EPSG:2154"):
        read_vector(path)
    frame, report = read_vector(path, crs="EPSG:2154")
    _same_place(frame)
    assert "au lieu de WGS84" in report.messages[1]


def test_json_fg_file_read_with_its_place_and_crs(tmp_path):
    # OGC JSON-FG: GeoJSON plus "place" in the CRS named by "coordRefSys" (GDAL's JSONFG driver).
    wgs84, lambert = sectors(4326), sectors(2154)
    features = [{"type": "Feature", "id": fid, "featureType": "secteur", "time": None,
                 "place": shapely.geometry.mapping(place),
                 "geometry": shapely.geometry.mapping(geom),
                 "properties": {"id": fid, "nom": name}}
                for fid, name, place, geom in zip(lambert["id"], lambert["nom"],
                                                  lambert.geometry, wgs84.geometry, strict=True)]
    path = tmp_path / "secteurs.json"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "conformsTo": ["http://www.opengis.net/spec/json-fg-1/0.2/conf/core"],
        "coordRefSys": "http://www.opengis.net/def/crs/EPSG/0/2154", "features": features}))
    frame, report = read_vector(path)
    assert report.format == "JSON-FG"
    _same_place(frame)


def test_ambiguous_and_unplaceable_coordinates(tmp_path):
    # This box fits both Lambert-93's and CC48's areas of use.
    box = shapely.box(1150000, 7120000, 1151000, 7121000)
    path = tmp_path / "a.csv"
    path.write_text(f"id;wkt\na;{box.wkt}\n")
    with pytest.raises(AmbiguousCRSError, match="ambigu.*--scr"):
        read_vector(path)
    far = tmp_path / "b.csv"
    far.write_text("id;x;y\na;50000000;50000000\n")
    with pytest.raises(AmbiguousCRSError, match="impossible à déduire"):
        read_vector(far)
    with pytest.raises(CRSError, match="SCR inconnu"):
        read_vector(path, crs="EPSG:lambert")


# -- bad input: clear error, store byte-for-byte unchanged ------------------------------------

def _garbage_geojson(d: Path) -> Path:
    (d / "x.geojson").write_text("{ ceci n'est pas du json", encoding="utf-8")
    return d / "x.geojson"


def _text_gpkg(d: Path) -> Path:
    (d / "x.gpkg").write_text("id;nom\n1;texte\n", encoding="utf-8")
    return d / "x.gpkg"


def _zip_without_shapefile(d: Path) -> Path:
    with zipfile.ZipFile(d / "x.zip", "w") as zf:
        zf.writestr("lisez-moi.txt", "rien")
    return d / "x.zip"


def _not_a_zip(d: Path) -> Path:
    (d / "x.zip").write_bytes(b"PK? pas une archive")
    return d / "x.zip"


def _shapefile_without_dbf(d: Path) -> Path:
    shp = _write(sectors(2154), d / "x.shp")
    shp.with_suffix(".dbf").unlink()
    return shp


def _csv_without_geometry(d: Path) -> Path:
    (d / "x.csv").write_text("id;nom\ncentre;Centre\n", encoding="utf-8")
    return d / "x.csv"


def _geojson_named_kml(d: Path) -> Path:
    return _write(sectors(), d / "x.geojson").rename(d / "x.json.kml")


def _empty_geometry(d: Path) -> Path:
    frame = sectors()
    frame.loc[1, "geometry"] = shapely.Polygon()
    return _write(frame, d / "x.geojson")


def _null_geometry(d: Path) -> Path:
    frame = sectors()
    frame.loc[1, "geometry"] = None
    return _write(frame, d / "x.gpkg")


def _missing_key(d: Path) -> Path:
    return _write(sectors().drop(columns=["id"]), d / "x.geojson")


def _bad_value(d: Path) -> Path:
    return _write(sectors(type=["centre_ville_principal", "zone rouge"]), d / "x.geojson")


def _points_into_polygons(d: Path) -> Path:
    frame = sectors(2154)
    frame.geometry = frame.geometry.centroid
    return _write(frame, d / "x.geojson")


def _no_features(d: Path) -> Path:
    return _write(sectors().iloc[:0], d / "x.gpkg")


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (_garbage_geojson, FormatError, "n'est pas un fichier GeoJSON"),
        (_text_gpkg, FormatError, "n'est pas un fichier GeoPackage"),
        (_zip_without_shapefile, FormatError, "ne contient pas de shapefile"),
        (_not_a_zip, FormatError, "pas une archive ZIP"),
        (_shapefile_without_dbf, FormatError, "Shapefile incomplet.*dbf"),
        (_csv_without_geometry, FormatError, "aucune géométrie.*WKT"),
        (_geojson_named_kml, FormatError, "n'est pas un fichier KML lisible"),
        (_empty_geometry, GeometryError, r"vides, absentes ou illisibles.*objet 2 \(id=halles\)"),
        (_null_geometry, GeometryError, r"vides, absentes ou illisibles.*objet 2"),
        (_missing_key, FieldError, "obligatoires.*absents du fichier : id"),
        (_bad_value, FieldError, "zone rouge"),
        (_points_into_polygons, GeometryError, "Point non admise"),
        (_no_features, InputError, "aucun objet"),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_bad_input_is_refused_and_store_unchanged(tmp_path, seeded, make, error, words):
    store, before = seeded
    path = make(tmp_path)
    with pytest.raises(error, match=f"(?s){words}"):
        import_file(store, "secteurs_ort", path, author="t")
    assert digest(store) == before
    assert store.count("secteurs_ort") == 2


def _bowtie(d: Path, **kw) -> Path:
    frame = sectors(2154)
    x0, y0, x1, y1 = frame.geometry.iloc[1].bounds
    frame.loc[1, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    return _write(frame, d / "noeud.gpkg")


def test_invalid_geometry_refused_on_request(tmp_path, seeded):
    store, before = seeded
    with pytest.raises(GeometryError, match=r"(?s)invalides \(1\).*objet 2 \(id=halles\) : "
                                            r"auto-intersection"):
        import_file(store, "secteurs_ort", _bowtie(tmp_path), author="t", repair=False)
    assert digest(store) == before


def test_invalid_geometry_repaired_with_report(tmp_path, store):
    report = import_file(store, "secteurs_ort", _bowtie(tmp_path), author="t")
    assert len(report.repaired) == 1
    assert report.repaired[0].startswith("objet 2 (id=halles) : auto-intersection")
    assert "Polygon → MultiPolygon" in report.repaired[0]
    halles = store.get("secteurs_ort", "halles")
    assert halles.geometry.is_valid and halles.geometry.geom_type == "MultiPolygon"
    assert len(halles.geometry.geoms) == 2


# -- encodings and fields --------------------------------------------------------------------

def test_dbf_cp1252_without_cpg_keeps_accents(tmp_path, store):
    names = ["Cœur de ville – Sainte-Marie", "Quartier de l’Église"]
    shp = _write(sectors(2154, nom=names), tmp_path / "s.shp", encoding="cp1252")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    assert names[0].encode("cp1252") in shp.with_suffix(".dbf").read_bytes()
    report = import_file(store, "secteurs_ort", shp, author="t")
    assert report.encoding == "cp1252"
    assert any("CP1252" in m for m in report.messages)
    assert sorted(store.read("secteurs_ort")["nom"]) == sorted(names)


def test_dbf_utf8_without_cpg_is_not_mangled(tmp_path, store):
    shp = _write(sectors(2154, nom=["Lièpvre", "Sainte-Croix"]), tmp_path / "s.shp",
                 encoding="UTF-8")
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    import_file(store, "secteurs_ort", shp, author="t")
    assert "Lièpvre" in list(store.read("secteurs_ort")["nom"])


def test_csv_cp1252_keeps_accents(tmp_path, store):
    path = tmp_path / "c.csv"
    path.write_bytes("id;nom;lon;lat\nb1;Boulangerie Lœwenbrück;7,18;48,246\n".encode("cp1252"))
    report = import_file(store, "commerces", path, author="t")
    assert report.encoding == "cp1252"
    assert store.get("commerces", "b1").properties["nom"] == "Boulangerie Lœwenbrück"


def test_fields_mapped_by_case_and_alias_unknown_reported(tmp_path, store):
    frame = sectors().rename(columns={"nom": "NOM", "code_insee": "INSEE_COM", "type": "Type"})
    frame["couleur"] = ["rouge", "bleu"]
    frame["Libelle"] = ["Centre (libellé long)", "Halles"]  # an alias of nom, which NOM took
    report = import_file(store, "secteurs_ort", _write(frame, tmp_path / "s.geojson"), author="t")
    assert report.renamed == {"NOM": "nom", "INSEE_COM": "code_insee", "Type": "type"}
    assert report.unknown_fields == ["couleur", "Libelle"]
    assert any("Libelle (→ nom, pris dans NOM)" in m for m in report.messages)
    assert "version" in report.missing_fields
    assert any("couleur" in m and "ignorés" in m for m in report.messages)
    assert store.get("secteurs_ort", "centre").properties["code_insee"] == "68298"


def test_cli_import_prints_the_report(tmp_path, communes_geojson):
    from click.testing import CliRunner

    from ort_geo.cli import main

    store = tmp_path / "atlas.gpkg"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(store)]).exit_code == 0
    result = runner.invoke(main, ["import", str(communes_geojson), "--couche", "communes",
                                  "--store", str(store), "--auteur", "test"])
    assert result.exit_code == 0, result.output
    assert "4 ajout(s)" in result.output
    assert "code → code_insee" in result.output
    bad = tmp_path / "x.gpkg"
    bad.write_text("pas un geopackage")
    before = digest(store)
    result = runner.invoke(main, ["import", str(bad), "--couche", "communes", "--store", str(store)])
    assert result.exit_code == 2
    assert "n'est pas un fichier GeoPackage" in result.output
    assert digest(store) == before


def test_projected_axes_swapped(tmp_path):
    frame = sectors(2154)
    frame.geometry = shapely.transform(frame.geometry.values, lambda c: c[:, ::-1])
    path = tmp_path / "s.csv"
    path.write_text("id;wkt\n" + "".join(f"{i};{g.wkt}\n" for i, g in
                                          zip(frame["id"], frame.geometry, strict=True)))
    with pytest.raises(SwappedAxesError, match=r"Axes x et y inversés.*Lambert-93"):
        read_vector(path)


def test_multi_layer_sources(tmp_path, store):
    path = tmp_path / "atlas.gpkg"
    _write(sectors(2154), path, layer="secteurs_ort")
    _write(sectors(2154).iloc[:1], path, layer="brouillon")
    with pytest.raises(FormatError, match="plusieurs couches.*brouillon"):
        read_vector(path)
    frame, report = read_vector(path, layer="brouillon")
    assert len(frame) == 1 and report.source_layer == "brouillon"
    with pytest.raises(FormatError, match="« inconnue » absente"):
        read_vector(path, layer="inconnue")
    # import_file picks the layer named like the catalogue layer
    assert import_file(store, "secteurs_ort", path, author="t").summary.inserted == 2


def test_kml_folders_are_read_together(tmp_path):
    path = tmp_path / "carte.kml"
    frame = sectors().rename(columns={"nom": "Name"})
    _write(frame.iloc[:1], path, driver="KML", layer="Centre")
    _write(frame.iloc[1:], path, driver="KML", layer="Quartiers", append=True)
    assert len(pyogrio.list_layers(path)) == 2
    got, report = read_vector(path)
    assert sorted(got["id"]) == ["centre", "halles"]
    assert "timestamp" not in got.columns
    assert any("2 couches réunies" in m for m in report.messages)


def test_cli_history_after_two_imports(tmp_path):
    from click.testing import CliRunner

    from ort_geo.cli import main

    store = tmp_path / "atlas.gpkg"
    runner = CliRunner()
    runner.invoke(main, ["init", str(store)])
    first = _write(sectors(), tmp_path / "v1.geojson")
    second = _write(sectors(nom=["Centre élargi", "Les Halles"]), tmp_path / "v2.geojson")
    for path, who in ((first, "alice"), (second, "bob")):
        result = runner.invoke(main, ["import", str(path), "--couche", "secteurs_ort",
                                      "--store", str(store), "--auteur", who])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["history", "secteurs_ort", "centre", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "Version 1" in result.output and "par alice" in result.output
    assert "Version 2" in result.output and "par bob" in result.output
    assert "'Centre-ville' → 'Centre élargi'" in result.output
