"""Edits made outside the tool are journaled by database triggers: real writes by GDAL (pyogrio,
ogrinfo, ogr2ogr -upsert) on the GeoPackage and by psql on PostGIS; the tool's own writes are
journaled once; ``ort-geo history`` and ``ort-geo validate`` show them."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys

import geopandas as gpd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from ort_geo.cli import main
from ort_geo.store.journal_triggers import EXTERNAL_AUTHOR
from ort_geo.timeline import layer_at, store_at, versions

X0, Y0 = 1_010_000.0, 6_800_000.0
EXTERNAL = EXTERNAL_AUTHOR


def _sectors(rows) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{"id": fid, "nom": nom, "type": "quartier"} for fid, nom, _ in rows],
        geometry=[shapely.MultiPolygon([shapely.box(X0 + x, Y0, X0 + x + 400, Y0 + 400)])
                  for _, _, x in rows], crs="EPSG:2154")


@pytest.fixture
def gdal(system_tool):
    """Run a GDAL command-line program (ogrinfo, ogr2ogr: Debian's gdal-bin), checking it
    succeeded without error."""
    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([system_tool(args[0], "gdal-bin"), *args[1:]], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "ERROR" not in done.stderr, done.stderr
        return done
    return run


def _authors(store, layer, fid) -> list[tuple[str, str]]:
    return [(e.author, e.operation) for e in store.history(layer, fid)]


def test_gdal_writes_on_the_geopackage_are_journaled(new_store, tmp_path, gdal):
    store = new_store("gpkg")
    store.write("secteurs_ort", _sectors([("s1", "Centre", 0), ("s2", "Gare", 1000)]),
                author="outil")
    assert len(store.journal()) == 2

    # pyogrio (GDAL) appends a feature, as QGIS would.
    pyogrio.write_dataframe(_sectors([("s3", "Ajout QGIS", 2000)]), store.path,
                            layer="secteurs_ort", append=True)
    entry = store.history("secteurs_ort", "s3")[-1]
    assert (entry.author, entry.operation) == (EXTERNAL, "insert")
    assert entry.after.properties["nom"] == "Ajout QGIS"
    assert entry.after.etag == store.get("secteurs_ort", "s3").etag  # typed like the tool's

    # ogrinfo -sql: an UPDATE and a DELETE through GDAL's GeoPackage driver.
    gdal("ogrinfo", "-q", str(store.path), "-sql",
          "UPDATE secteurs_ort SET nom = 'Centre (QGIS)', version = 2 WHERE id = 's1'")
    gdal("ogrinfo", "-q", str(store.path), "-sql", "UPDATE secteurs_ort SET nom = nom")  # no-op
    gdal("ogrinfo", "-q", str(store.path), "-sql", "DELETE FROM secteurs_ort WHERE id = 's3'")
    assert _authors(store, "secteurs_ort", "s1") == [("outil", "insert"), (EXTERNAL, "update")]
    update = store.history("secteurs_ort", "s1")[-1]
    assert update.before.properties["nom"] == "Centre"
    assert (update.after.properties["nom"], update.after.properties["version"]) == (
        "Centre (QGIS)", 2)
    assert update.after.geometry.equals(update.before.geometry)
    assert _authors(store, "secteurs_ort", "s3")[-1] == (EXTERNAL, "delete")

    # ogr2ogr -upsert: s2 updated, s4 inserted, in one GDAL transaction.
    source = tmp_path / "upsert.geojson"
    pyogrio.write_dataframe(_sectors([("s2", "Gare (ogr2ogr)", 1000), ("s4", "Neuf", 3000)]),
                            source, driver="GeoJSON")
    gdal("ogr2ogr", "-update", "-append", "-upsert", "-nln", "secteurs_ort",
          str(store.path), str(source))
    assert _authors(store, "secteurs_ort", "s2")[-1] == (EXTERNAL, "update")
    assert _authors(store, "secteurs_ort", "s4") == [(EXTERNAL, "insert")]
    assert store.get("secteurs_ort", "s2").properties["nom"] == "Gare (ogr2ogr)"

    # The tool's next write is journaled once, under its own author.
    count = len(store.journal())
    store.update("secteurs_ort", "s1", {"nom": "Centre-ville"}, author="alice",
                 message="délibération")
    store.write("secteurs_ort", _sectors([("s5", "Halles", 4000)]), author="import")
    assert [(e.author, e.feature_id) for e in store.journal()[count:]] == [
        ("alice", "s1"), ("import", "s5")]
    # Versions and dates read external entries like any other.
    assert [v.author for v in versions(store, "secteurs_ort", "s1")] == [
        "outil", EXTERNAL, "alice"]
    first_external = store.history("secteurs_ort", "s3")[0].timestamp
    assert "s3" in layer_at(store, "secteurs_ort", first_external)["id"].tolist()
    assert store_at(store, None).read("secteurs_ort")["id"].tolist() == \
        store.read("secteurs_ort")["id"].tolist()

    # GDAL still reads the store; the R-tree follows GDAL's writes.
    frame = pyogrio.read_dataframe(store.path, layer="secteurs_ort",
                                   bbox=(X0 + 3100, Y0 + 100, X0 + 3200, Y0 + 200))
    assert frame["id"].tolist() == ["s4"]
    info = gdal("ogrinfo", "-so", str(store.path), "secteurs_ort")
    # GDAL before 3.7 (Debian 12's 3.6) notes once that GeoPackage 1.4 (the store's version, for
    # its UPSERT-safe R-tree triggers) is "partially supported"; nothing else may be warned.
    warnings = [line for line in info.stderr.splitlines() if "Warning" in line
                and "user_version=0x000028A0 (10400, v1.4.0)" not in line]
    assert "Feature Count: 4" in info.stdout and not warnings, info.stderr
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM ort_tool_write").fetchone()[0] == 0
    # GDAL's GeoPackage validator accepts the file with its journal triggers (as interop's
    # tests do for a fresh store).
    if importlib.util.find_spec("osgeo_utils") is not None:
        check = subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg",
                                str(store.path)], capture_output=True, text=True, timeout=120,
                               check=False)
        assert check.returncode == 0, check.stdout + check.stderr

    out = CliRunner().invoke(main, ["history", "secteurs_ort", "s1", "--store", str(store.path)])
    assert out.exit_code == 0 and "par édition externe" in " ".join(out.output.split())


def test_a_store_created_without_triggers_gets_them_at_its_next_write(new_store):
    store = new_store("gpkg")
    with sqlite3.connect(store.path) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'ort_journal_%' AND type='trigger'")]
        assert len(names) == 3 * len(store.catalogue.names)
        for name in names:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("DROP TABLE ort_tool_write")
    from ort_geo import open_store

    old = open_store(store.path)
    old.write("secteurs_ort", _sectors([("s1", "Centre", 0)]), author="outil")
    pyogrio.write_dataframe(_sectors([("s2", "QGIS", 1000)]), store.path,
                            layer="secteurs_ort", append=True)
    assert [(e.author, e.feature_id) for e in old.journal()] == [
        ("outil", "s1"), (EXTERNAL, "s2")]


def test_validate_names_the_rule_breaks_of_external_edits(demo_store_copy, gdal):
    store = demo_store_copy
    runner = CliRunner()
    clean = runner.invoke(main, ["validate", "--store", str(store.path)])
    centre = store.get("secteurs_ort", "smam-centre-ville").geometry
    # A planner draws in QGIS a sector overlapping the centre-ville.
    rogue = gpd.GeoDataFrame([{"id": "qgis-secteur", "nom": "Dessin QGIS", "type": "quartier",
                               "code_insee": "68298"}],
                             geometry=[shapely.affinity.translate(centre, 50, 50)],
                             crs="EPSG:2154")
    pyogrio.write_dataframe(rogue, store.path, layer="secteurs_ort", append=True)
    broken = runner.invoke(main, ["validate", "--store", str(store.path)])
    assert broken.exit_code == 1, broken.output
    assert "hors de l'outil" not in clean.output
    assert "secteurs_ort/qgis-secteur : création le" in broken.output
    introduced = broken.output.split("introduit(s) par ces modifications :")[1]
    assert "[chevauchement] secteurs_ort/smam-centre-ville : chevauche « qgis-secteur »" in \
        introduced
    # Once the planner removes it in QGIS, there is nothing left to report.
    gdal("ogrinfo", "-q", str(store.path), "-sql",
          "DELETE FROM secteurs_ort WHERE id = 'qgis-secteur'")
    fixed = runner.invoke(main, ["validate", "--store", str(store.path)])
    assert fixed.exit_code == clean.exit_code, fixed.output
    assert "hors de l'outil" not in fixed.output


@pytest.mark.postgis
def test_psql_and_gdal_writes_on_postgis_are_journaled(new_store, postgis_url, system_tool,
                                                       gdal, tmp_path):
    import psycopg

    psql = system_tool("psql", "postgresql-client")
    store = new_store("postgis")
    store.write("secteurs_ort", _sectors([("s1", "Centre", 0), ("s2", "Gare", 1000)]),
                author="outil")
    t = f'"{store.schema}".secteurs_ort'
    script = f"""
UPDATE {t} SET nom = 'Centre (psql)', version = 3 WHERE id = 's1';
UPDATE {t} SET nom = nom;
INSERT INTO {t} (id, nom, type, geom) VALUES ('s3', 'Ajout psql', 'quartier',
  ST_Multi(ST_MakeEnvelope({X0 + 2000}, {Y0}, {X0 + 2400}, {Y0 + 400}, 2154)));
DELETE FROM {t} WHERE id = 's2';
"""
    done = subprocess.run([psql, postgis_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", script],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert _authors(store, "secteurs_ort", "s1") == [("outil", "insert"), (EXTERNAL, "update")]
    update = store.history("secteurs_ort", "s1")[-1]
    assert update.message.startswith("client ") and "psql" in update.message
    assert (update.after.properties["nom"], update.after.properties["version"]) == (
        "Centre (psql)", 3)
    assert update.after.etag == store.get("secteurs_ort", "s1").etag
    assert _authors(store, "secteurs_ort", "s2")[-1] == (EXTERNAL, "delete")
    inserted = store.history("secteurs_ort", "s3")[-1]
    assert inserted.after.geometry.area == pytest.approx(160_000)

    count = len(store.journal())
    store.update("secteurs_ort", "s3", {"nom": "Gare"}, author="alice")
    assert [e.author for e in store.journal()[count:]] == ["alice"]

    truncate = subprocess.run([psql, postgis_url, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                               f"TRUNCATE {t}"], capture_output=True, text=True, check=False)
    assert truncate.returncode == 0, truncate.stderr
    gone = [e for e in store.journal()[count + 1:]]
    assert sorted((e.feature_id, e.operation, e.author) for e in gone) == [
        ("s1", "delete", EXTERNAL), ("s3", "delete", EXTERNAL)]
    assert json.dumps(gone[0].before.to_record())  # a complete record

    out = CliRunner().invoke(main, ["history", "secteurs_ort", "s1", "--store", store.url])
    assert out.exit_code == 0 and "par édition externe" in " ".join(out.output.split())

    # GDAL's PostgreSQL driver (what QGIS and ogr2ogr use) appends through COPY.
    source = tmp_path / "ajout.geojson"
    pyogrio.write_dataframe(_sectors([("s4", "Ajout ogr2ogr", 3000)]), source, driver="GeoJSON")
    conn = psycopg.conninfo.conninfo_to_dict(postgis_url)
    pg = " ".join(f"{k}={conn[k]}" for k in ("dbname", "host", "port", "user", "password")
                  if k in conn) + f" active_schema={store.schema}"
    gdal("ogr2ogr", "-update", "-append", "-f", "PostgreSQL", f"PG:{pg}", str(source),
         "-nln", "secteurs_ort")
    added = store.history("secteurs_ort", "s4")
    assert [(e.author, e.operation) for e in added] == [(EXTERNAL, "insert")]
    assert "GDAL" in added[0].message
    assert added[0].after.etag == store.get("secteurs_ort", "s4").etag
