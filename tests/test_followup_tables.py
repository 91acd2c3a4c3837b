"""Non-spatial layers (financing lines, indicator values): catalogue, both backends, journal,
imports from French-Excel CSV and XLSX, and stores created before these tables existed."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from ort_geo import open_store
from ort_geo.catalogue import CATALOGUE
from ort_geo.errors import FieldError, GeometryError, InputError
from ort_geo.io import import_file

LINES = pd.DataFrame({
    "id": ["a1|Région|2024", "a1|Banque des Territoires|2025"],
    "action_id": ["a1", "a1"], "financeur": ["Région", "Banque des Territoires"],
    "annee": [2024, 2025], "montant_prevu": [100000.0, 25000.5],
    "montant_engage": [80000.0, None], "montant_verse": [40000.0, None],
})


def test_catalogue_declares_the_follow_up_tables():
    assert not CATALOGUE["financements"].spatial and not CATALOGUE["indicateurs_valeurs"].spatial
    assert CATALOGUE["actions"].spatial
    assert {"taux_realisation", "date_debut_prevue", "date_fin_prevue"} <= set(
        CATALOGUE["actions"].field_names)


def test_table_written_read_edited_and_journaled(store, store_state):
    summary = store.write("financements", LINES, author="chef de projet")
    assert summary.inserted == 2
    frame = store.read("financements")
    assert frame["montant_prevu"].tolist() == [100000.0, 25000.5]
    assert frame.geometry.isna().all() and store.extent("financements") is None
    store.update("financements", "a1|Région|2024", {"montant_verse": 80000}, author="CeA")
    entries = store.journal(layer="financements")
    assert [e.operation for e in entries] == ["insert", "insert", "update"]
    assert entries[-1].before.properties["montant_verse"] == 40000.0
    assert entries[-1].after.properties["montant_verse"] == 80000.0
    assert entries[-1].after.geometry is None
    # A geometry, a bad amount: refused in French, nothing written.
    before = store_state(store)
    import geopandas as gpd
    import shapely
    located = gpd.GeoDataFrame(LINES.iloc[:1], geometry=[shapely.Point(1e6, 6.8e6)],
                               crs="EPSG:2154")
    with pytest.raises(GeometryError, match="sans géométrie"):
        store.write("financements", located, author="x")
    with pytest.raises(FieldError, match="montant_prevu"):
        store.write("financements", LINES.assign(montant_prevu=[-1.0, 2.0]), author="x")
    assert store_state(store) == before


FRENCH_CSV = (
    "Fiche action;Financeur;Exercice;Prévu;Engagé;Versé;Observations\r\n"
    "a1;Région Grand Est;2024;12 500,50 €;10\u00a0000,00 €;;première tranche\r\n"
    "a1;Collectivité européenne d'Alsace;2025;1.250,00;;;\r\n"
)


def test_french_excel_csv_and_xlsx_import(store, tmp_path):
    csv_path = tmp_path / "financements.csv"
    csv_path.write_bytes(FRENCH_CSV.encode("cp1252"))
    report = import_file(store, "financements", csv_path, author="chef de projet")
    assert report.summary.inserted == 2, str(report)
    rows = store.read("financements").set_index("id")
    first = rows.loc["a1|region_grand_est|2024"]
    assert first["montant_prevu"] == 12500.5 and first["montant_engage"] == 10000.0
    assert pd.isna(first["montant_verse"]) and first["commentaire"] == "première tranche"
    assert rows.loc["a1|collectivite_europeenne_d_alsace|2025", "montant_prevu"] == 1250.0
    assert {e.message for e in store.journal(layer="financements")} == {
        "import de financements.csv"}

    xlsx = tmp_path / "suivi.xlsx"
    with pd.ExcelWriter(xlsx, engine="openpyxl") as writer:
        pd.DataFrame({"Fiche action": ["a1"], "Financeur": ["Région Grand Est"],
                      "Exercice": [2024], "Prévu": [12500.5], "Engagé": [12000],
                      "Versé": [6000]}).to_excel(writer, index=False)
    report = import_file(store, "financements", xlsx, author="Région")
    assert report.summary.updated == 1 and report.summary.inserted == 0, str(report)
    assert store.get("financements", "a1|region_grand_est|2024").properties[
        "montant_verse"] == 6000.0


def test_bad_spreadsheet_is_refused_in_french(store, tmp_path, store_state):
    path = tmp_path / "faux.csv"
    path.write_text("Financeur;Exercice\nRégion;2024\n", encoding="utf-8")
    before = store_state(store)
    with pytest.raises(FieldError, match="obligatoires"):
        import_file(store, "financements", path, author="x")
    path.write_text("action;financeur;annee;prevu\na1;Région;deux mille;10\n", encoding="utf-8")
    with pytest.raises(FieldError, match="annee"):
        import_file(store, "financements", path, author="x")
    with pytest.raises(InputError, match="introuvable"):
        import_file(store, "financements", tmp_path / "absent.xlsx", author="x")
    assert store_state(store) == before


def test_store_created_before_the_tables_gains_them(tmp_path):
    path = tmp_path / "ancien.gpkg"
    open_store(path, create=True).close()
    conn = sqlite3.connect(path)  # as ort-geo created stores before these tables existed
    for table in ("financements", "indicateurs_valeurs"):
        conn.execute(f'DROP TABLE "{table}"')
        conn.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (table,))
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                "AND name LIKE 'ort_journal_actions_%'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')  # older triggers did not know the column
    conn.execute('ALTER TABLE actions DROP COLUMN "taux_realisation"')
    conn.commit()
    conn.close()
    store = open_store(path)
    assert store.count("financements") == 0
    assert "taux_realisation" in store.read("actions").columns
    kinds = dict(sqlite3.connect(path).execute(
        "SELECT table_name, data_type FROM gpkg_contents").fetchall())
    assert kinds["financements"] == "attributes" and kinds["actions"] == "features"
    import pyogrio

    assert pyogrio.read_dataframe(path, layer="financements").empty  # GDAL reads it
    store.write("financements", LINES, author="x")  # triggers back, with every column
    assert store.count("financements") == 2


def test_postgis_store_created_before_the_tables_gains_them(postgis_schema_url):
    import psycopg

    url = postgis_schema_url()
    store = open_store(url, create=True)
    with psycopg.connect(store.conninfo) as conn:  # as ort-geo created stores before
        conn.execute(f'DROP TABLE "{store.schema}".financements')
        conn.execute(f'ALTER TABLE "{store.schema}".actions DROP COLUMN taux_realisation')
    store.close()
    store = open_store(url)
    assert store.count("financements") == 0
    assert "taux_realisation" in store.read("actions").columns
    store.write("financements", LINES, author="x")
    assert store.count("financements") == 2
    store.close()
    with psycopg.connect(store.conninfo) as conn:  # labelled for QGIS and psql like the others
        label = conn.execute("SELECT col_description(%s::regclass, attnum) FROM pg_attribute "
                             "WHERE attrelid = %s::regclass AND attname = 'taux_realisation'",
                             (f'"{store.schema}".actions',) * 2).fetchone()[0]
    assert label == CATALOGUE["actions"].field("taux_realisation").label


def test_edits_by_other_clients_reach_the_journal(store):
    """QGIS or psql editing a table without geometry: journaled like any layer."""
    store.write("financements", LINES, author="chef de projet")
    if hasattr(store, "path"):
        conn = sqlite3.connect(store.path)
        conn.execute("UPDATE financements SET montant_verse = 55000 WHERE id = 'a1|Région|2024'")
        conn.execute("DELETE FROM financements WHERE annee = 2025")
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(store.conninfo) as conn:
            conn.execute(f'UPDATE "{store.schema}".financements SET montant_verse = 55000 '
                         "WHERE id = 'a1|Région|2024'")
            conn.execute(f'DELETE FROM "{store.schema}".financements WHERE annee = 2025')
    external = [e for e in store.journal(layer="financements") if e.operation != "insert"]
    assert [(e.operation, e.feature_id) for e in external] == [
        ("update", "a1|Région|2024"), ("delete", "a1|Banque des Territoires|2025")]
    assert external[0].after.properties["montant_verse"] == 55000.0
    assert external[0].after.geometry is None
    assert len({e.author for e in external}) == 1 and external[0].author != "chef de projet"
