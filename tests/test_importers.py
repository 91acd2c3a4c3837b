"""Building importers on small files in the real national formats (BD TOPO, RNB, LOVAC)."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from ort_geo.cli import main
from ort_geo.errors import EncodingError, FieldError, FormatError
from ort_geo.importers import (
    aggregate_dwellings,
    import_buildings,
    read_bdtopo,
    read_dwellings,
    read_rnb,
)

# Near Sainte-Marie-aux-Mines' town hall, Lambert-93.
X0, Y0 = 1010793.0, 6802574.0


@pytest.fixture
def real_store(store, demo_store):
    """An empty store holding only the real communes: where real buildings are imported."""
    store.write("communes", demo_store.read("communes"), author="test")
    return store


def _box(dx: float, dy: float, w: float = 12, h: float = 9):
    return shapely.box(X0 + dx, Y0 + dy, X0 + dx + w, Y0 + dy + h)


def _bdtopo_frame():
    rows = [
        {"cleabs": "BATIMENT0000000241234561", "nature": "Indifférenciée",
         "usage_1": "Résidentiel", "usage_2": None, "construction_legere": False,
         "etat_de_l_objet": "En service", "date_d_apparition": "1890-01-01",
         "nombre_de_logements": 4, "nombre_d_etages": 3, "hauteur": 11.5,
         "identifiants_rnb": "7RX2P3M4QK1A"},
        {"cleabs": "BATIMENT0000000241234562", "nature": "Indifférenciée",
         "usage_1": "Commercial et services", "usage_2": "Résidentiel",
         "construction_legere": False, "etat_de_l_objet": "En service",
         "date_d_apparition": "1962-01-01", "nombre_de_logements": 2, "nombre_d_etages": 2,
         "hauteur": 8.0, "identifiants_rnb": None},
        {"cleabs": "BATIMENT0000000241234563", "nature": "Indifférenciée", "usage_1": "Annexe",
         "usage_2": None, "construction_legere": True, "etat_de_l_objet": "En service",
         "date_d_apparition": None, "nombre_de_logements": 0, "nombre_d_etages": 1,
         "hauteur": 2.5, "identifiants_rnb": None},
        {"cleabs": "BATIMENT0000000241234564", "nature": "Indifférenciée",
         "usage_1": "Résidentiel", "usage_2": None, "construction_legere": False,
         "etat_de_l_objet": "En projet", "date_d_apparition": None, "nombre_de_logements": 6,
         "nombre_d_etages": 4, "hauteur": None, "identifiants_rnb": None},
        {"cleabs": "BATIMENT0000000241234565", "nature": "Indifférenciée",
         "usage_1": "Résidentiel", "usage_2": None, "construction_legere": False,
         "etat_de_l_objet": "Ruine", "date_d_apparition": "1780-01-01",
         "nombre_de_logements": 0, "nombre_d_etages": 1, "hauteur": 4.0,
         "identifiants_rnb": None},
    ]
    geoms = [
        shapely.MultiPolygon([_box(0, 0)]), shapely.MultiPolygon([_box(40, 0), _box(60, 0, 3, 3)]),
        shapely.MultiPolygon([_box(80, 0, 3, 3)]), shapely.MultiPolygon([_box(100, 0)]),
        shapely.MultiPolygon([_box(120, 0)]),
    ]
    geoms = [shapely.force_3d(g, 350.0) for g in geoms]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154")


@pytest.fixture
def bdtopo_gpkg(tmp_path):
    path = tmp_path / "BDTOPO_3-4_TOUSTHEMES_GPKG_LAMB93_D068.gpkg"
    _bdtopo_frame().to_file(path, layer="batiment", driver="GPKG")
    # BD TOPO packages hold many layers: the importer must pick « batiment ».
    gpd.GeoDataFrame({"cleabs": ["TRONROUT1"]}, geometry=[shapely.LineString(
        [(X0, Y0), (X0 + 10, Y0)])], crs="EPSG:2154").to_file(path, layer="troncon_de_route",
                                                              driver="GPKG")
    return path


@pytest.fixture
def bdtopo_shp(tmp_path):
    frame = _bdtopo_frame().rename(columns={
        "cleabs": "ID", "usage_1": "USAGE1", "usage_2": "USAGE2", "construction_legere": "LEGER",
        "etat_de_l_objet": "ETAT", "date_d_apparition": "DATE_APP",
        "nombre_de_logements": "NB_LOGTS", "nombre_d_etages": "NB_ETAGES", "hauteur": "HAUTEUR",
        "identifiants_rnb": "ID_RNB", "nature": "NATURE"})
    folder = tmp_path / "BATI"
    folder.mkdir()
    frame.to_file(folder / "BATIMENT.shp", encoding="cp1252")
    return folder / "BATIMENT.shp"


def test_bdtopo_geopackage(bdtopo_gpkg):
    frame, report = read_bdtopo(bdtopo_gpkg)
    assert list(frame["id"]) == ["BATIMENT0000000241234561", "BATIMENT0000000241234562",
                                 "BATIMENT0000000241234565"]
    first = frame.iloc[0]
    assert first["usage"] == "Résidentiel" and first["nb_logements"] == 4
    assert first["annee_construction"] == 1890 and first["rnb_id"] == "7RX2P3M4QK1A"
    assert frame.iloc[2]["etat"] == "tres_degrade"
    assert not frame.geometry.has_z.any()
    assert frame.geometry.iloc[1].area == pytest.approx(12 * 9)  # largest part kept
    text = str(report)
    assert "en projet" in text and "légère" in text and "plusieurs parties" in text


def test_bdtopo_shapefile_names_and_accents(bdtopo_shp):
    frame, _ = read_bdtopo(bdtopo_shp)
    assert len(frame) == 3
    assert frame.iloc[1]["usage"] == "Commercial et services"


def test_bdtopo_import(real_store, bdtopo_gpkg):
    report = import_buildings(real_store, bdtopo_gpkg, "bdtopo", author="test")
    assert report.summary.inserted == 3
    assert real_store.count("batiments") == 3
    stored = real_store.get("batiments", "BATIMENT0000000241234561")
    assert stored.properties["code_insee"] == "68298"
    assert stored.properties["demo"] is not None and not stored.properties["demo"]
    assert "BD TOPO" in stored.properties["source"]


def test_not_a_bdtopo_layer_is_refused(tmp_path):
    path = tmp_path / "autre.gpkg"
    gpd.GeoDataFrame({"nom": ["x"]}, geometry=[_box(0, 0)], crs="EPSG:2154").to_file(path)
    with pytest.raises(FieldError, match="cleabs"):
        read_bdtopo(path)


# -- RNB ----------------------------------------------------------------------------------

def _rnb_csv(tmp_path, *, zipped=False, rows=None):
    header = "rnb_id;point;shape;status;ext_ids;addresses;plots"
    lon, lat = 7.18893, 48.24930
    poly = (f"POLYGON(({lon} {lat},{lon + 0.0002} {lat},{lon + 0.0002} {lat + 0.0001},"
            f"{lon} {lat + 0.0001},{lon} {lat}))")
    ext = json.dumps([{"id": "BATIMENT0000000241234561", "source": "bdtopo",
                       "created_on": "2023-12-01", "source_version": "bdtopo_2023_09"}])
    addr = json.dumps([{"cle_interop_ban": "68298_0420_00114", "street_number": "114",
                        "street_rep": None, "street": "rue du Maréchal-de-Lattre-de-Tassigny",
                        "city_zipcode": "68160", "city_name": "Sainte-Marie-aux-Mines"}],
                      ensure_ascii=False)
    plots = json.dumps([{"id": "68298000AB0012", "bdg_cover_ratio": 0.2},
                        {"id": "68298000AB0013", "bdg_cover_ratio": 0.8}])
    lines = rows or [
        f'7RX2P3M4QK1A;"SRID=4326;POINT({lon} {lat})";"SRID=4326;{poly}";constructed;'
        f'"{ext.replace(chr(34), chr(34) * 2)}";"{addr.replace(chr(34), chr(34) * 2)}";'
        f'"{plots.replace(chr(34), chr(34) * 2)}"',
        f'9ABCDEFGHJKM;"SRID=4326;POINT({lon + 0.001} {lat})";'
        f'"SRID=4326;POINT({lon + 0.001} {lat})";constructed;[];[];[]',
        f'8ZZZZZZZZZZZ;"SRID=4326;POINT({lon} {lat})";"SRID=4326;POINT({lon} {lat})";demolished;'
        "[];[];[]",
    ]
    text = "\n".join([header, *lines]) + "\n"
    path = tmp_path / "RNB_68.csv"
    path.write_text(text, encoding="utf-8")
    if zipped:
        archive = tmp_path / "RNB_68.csv.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.write(path, "RNB_68.csv")
        return archive
    return path


def test_rnb_export(tmp_path):
    frame, report = read_rnb(_rnb_csv(tmp_path, zipped=True))
    assert list(frame["id"]) == ["7RX2P3M4QK1A", "9ABCDEFGHJKM"]
    first = frame.iloc[0]
    assert first["adresse"] == ("114 rue du Maréchal-de-Lattre-de-Tassigny 68160 "
                                "Sainte-Marie-aux-Mines")
    assert first["idpar"] == "68298000AB0013" and first["code_insee"] == "68298"
    assert first["bdtopo_id"] == "BATIMENT0000000241234561"
    assert frame.crs.to_epsg() == 2154
    assert frame.geometry.iloc[0].centroid.distance(shapely.Point(X0, Y0)) < 30
    assert "démoli" in str(report)


def test_rnb_enriches_bdtopo_footprints(real_store, bdtopo_gpkg, tmp_path):
    import_buildings(real_store, bdtopo_gpkg, "bdtopo", author="test")
    footprint = real_store.get("batiments", "BATIMENT0000000241234561").geometry
    report = import_buildings(real_store, _rnb_csv(tmp_path), "rnb", author="test")
    assert report.summary.updated == 1 and report.summary.inserted == 1
    enriched = real_store.get("batiments", "BATIMENT0000000241234561")
    assert enriched.properties["idpar"] == "68298000AB0013"
    assert enriched.properties["nb_logements"] == 4  # BD TOPO value kept
    assert "BD TOPO" in enriched.properties["source"] and "RNB" in enriched.properties["source"]
    assert enriched.geometry.equals(footprint)
    assert real_store.get("batiments", "9ABCDEFGHJKM").geometry.geom_type == "Point"


def test_rnb_bad_inputs(tmp_path):
    bad_id = _rnb_csv(tmp_path, rows=["XX;;POINT(7 48);constructed;[];[];[]"])
    with pytest.raises(FieldError, match="Identifiant RNB invalide"):
        read_rnb(bad_id)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("rnb_id;point;shape;status\n7RX2P3M4QK1A;;POINT(7 48);démoli\n"
                      .encode("cp1252"))
    with pytest.raises(EncodingError):
        read_rnb(latin)
    other = tmp_path / "autre.csv"
    other.write_text("id;x;y\n1;2;3\n", encoding="utf-8")
    with pytest.raises(FieldError, match="rnb_id"):
        read_rnb(other)


# -- LOVAC-like ------------------------------------------------------------------------------

LOVAC = """ff_idlocal;ff_idbat;ff_idpar;ccodep;commune;ff_x;ff_y;ff_jannath;ff_ccthp;debutvacance;libvoie
682980000001;B001;68298000AB0013;68;298;{x0};{y0};1890;V;2015;RUE DU MARÉCHAL
682980000002;B001;68298000AB0013;68;298;{x0};{y0};1890;P;;RUE DU MARÉCHAL
682980000003;B001;68298000AB0013;68;298;{x0};{y0};1890;V;2021;RUE DU MARÉCHAL
682980000004;;68298000AB0099;68;298;{x1};{y1};1962;L;;RUE DU MARÉCHAL
682980000005;;68298000AB0099;68;298;{x1};{y1};1962;V;2024;RUE DU MARÉCHAL
682980000006;;68298000ZZ0001;68;298;{x2};{y2};0;V;2010;RUE DU MARÉCHAL
"""


def _lovac_csv(tmp_path, encoding="utf-8"):
    text = LOVAC.format(x0=f"{X0 + 6:.1f}", y0=f"{Y0 + 4:.1f}", x1=f"{X0 + 45:.1f}",
                        y1=f"{Y0 + 20:.1f}", x2=f"{X0 + 2000:.1f}", y2=f"{Y0 + 500:.1f}")
    path = tmp_path / "lovac_68298.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_lovac_aggregates_dwellings_to_buildings(tmp_path):
    dwellings, report = read_dwellings(_lovac_csv(tmp_path, encoding="cp1252"))
    assert len(dwellings) == 6 and int(dwellings["vacant"].sum()) == 4
    buildings = aggregate_dwellings(dwellings).set_index("id")
    b1 = buildings.loc["lovac-B001"]
    assert (b1["nb_logements"], b1["nb_logements_vacants"], b1["annee_debut_vacance"]) == (3, 2,
                                                                                           2015)
    assert b1["code_insee"] == "68298" and b1["annee_construction"] == 1890
    assert len(buildings) == 3
    assert report.encoding == "Windows-1252"


def test_csv_readers_share_one_decoding(tmp_path):
    """LOVAC and the follow-up tables decode alike: UTF-8, else Windows-1252, else one French
    error (0x81 is undefined in Windows-1252)."""
    from ort_geo.io.table import read_table

    utf8 = _lovac_csv(tmp_path)
    assert read_dwellings(utf8)[1].encoding == read_table(utf8)[1].encoding == "UTF-8"
    broken = tmp_path / "illisible.csv"
    broken.write_bytes(utf8.read_bytes().replace("É".encode(), b"\x81"))
    for reader in (read_dwellings, read_table):
        with pytest.raises(EncodingError, match="Encodage illisible : illisible.csv"):
            reader(broken)
    ragged = tmp_path / "coupé.csv"
    ragged.write_text('ff_idlocal;ff_x;ff_y\n"1;2;3\n', encoding="utf-8")
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    wide = tmp_path / "large.csv"
    wide.write_text("ff_idlocal;ff_x;ff_y\n1;2;3\n4;5;6;7\n", encoding="utf-8")
    for path, problem in ((ragged, "guillemet ouvert ligne 2 jamais refermé"),
                          (empty, "fichier vide"), (wide, "ligne 3 : 4 colonnes au lieu de 3")):
        for reader in (read_dwellings, read_table):
            with pytest.raises(FormatError, match=f"CSV illisible : {path.name} \\({problem}\\)"):
                reader(path)


def test_lovac_attaches_counts_to_footprints(real_store, bdtopo_gpkg, tmp_path):
    import_buildings(real_store, bdtopo_gpkg, "bdtopo", author="test")
    public_before = real_store.read("batiments").set_index("id")["nb_logements"]
    report = import_buildings(real_store, _lovac_csv(tmp_path), "lovac", author="lovac")
    first = real_store.get("batiments", "BATIMENT0000000241234561").properties
    # nb_logements is public: it keeps the BD TOPO value, LOVAC fills restricted fields only
    assert first["nb_logements"] == public_before["BATIMENT0000000241234561"] == 4
    assert first["nb_logements_vacants"] == 2
    assert first["annee_debut_vacance"] == 2015
    # Fields LOVAC does not carry keep their stored values.
    assert first["code_insee"] == "68298" and first["usage"] == "Résidentiel"
    points = real_store.read("batiments")
    points = points[points["id"].str.startswith("lovac-")]
    assert len(points) == 1 and points["code_insee"].iloc[0] == "68298"
    second = real_store.get("batiments", "BATIMENT0000000241234562").properties
    assert second["nb_logements"] == public_before["BATIMENT0000000241234562"]
    assert second["nb_logements_vacants"] == 1
    # The third dwelling group is 2 km away from any footprint: stored as a point.
    assert "1 bâtiment(s) sans emprise" in str(report)
    history = real_store.history("batiments", "BATIMENT0000000241234561")
    assert history[-1].author == "lovac"


def test_failed_lovac_import_leaves_the_store_unchanged(real_store, tmp_path, store_state):
    path = tmp_path / "doublons.csv"
    path.write_text("ff_idlocal;ff_x;ff_y\n1;1010800;6802580\n1;1010800;6802580\n",
                    encoding="utf-8")
    before = store_state(real_store)
    with pytest.raises(FieldError, match="plusieurs fois"):
        import_buildings(real_store, path, "lovac", author="test")
    assert store_state(real_store) == before


def test_cli_import_batiments(real_store, bdtopo_gpkg):
    result = CliRunner().invoke(main, ["import-batiments", str(bdtopo_gpkg), "--format",
                                       "bdtopo", "--store", real_store.url])
    assert result.exit_code == 0, result.output
    assert "3 ajout(s)" in result.output


def test_buildings_outside_the_territory_are_skipped_unless_asked(real_store, tmp_path):
    frame = _bdtopo_frame().iloc[:2].copy()
    # The second building moves to Colmar, outside the Val d'Argent.
    frame["geometry"] = [frame.geometry.iloc[0],
                         shapely.force_3d(shapely.box(1024000, 6785000, 1024012, 6785009), 190.)]
    path = tmp_path / "bdtopo.gpkg"
    frame.to_file(path, layer="batiment")
    report = import_buildings(real_store, path, "bdtopo", author="test")
    assert report.summary.inserted == 1 and "hors des communes" in str(report)
    report = import_buildings(real_store, path, "bdtopo", author="test", keep_outside=True)
    assert report.summary.inserted == 1
    assert real_store.get("batiments", "BATIMENT0000000241234562").properties["code_insee"] is None


def test_a_new_lovac_vintage_clears_vacancy_that_ended(real_store, bdtopo_gpkg, tmp_path):
    import_buildings(real_store, bdtopo_gpkg, "bdtopo", author="test")
    import_buildings(real_store, _lovac_csv(tmp_path), "lovac", author="lovac-2024")
    assert real_store.get("batiments", "BATIMENT0000000241234561").properties[
        "nb_logements_vacants"] == 2
    # Next year's file: the dwellings of the first building are no longer listed.
    newer = tmp_path / "lovac_2025.csv"
    lines = _lovac_csv(tmp_path).read_text(encoding="utf-8").splitlines()
    newer.write_text("\n".join(line for line in lines if ";B001;" not in line) + "\n",
                     encoding="utf-8")
    report = import_buildings(real_store, newer, "lovac", author="lovac-2025")
    first = real_store.get("batiments", "BATIMENT0000000241234561").properties
    assert first["nb_logements_vacants"] == 0 and first["annee_debut_vacance"] is None
    assert first["nb_logements"] == 4  # the public BD TOPO count stays
    assert "remise à zéro" in str(report)
