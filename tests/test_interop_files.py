"""Files as French users and other clients expect them: GeoPackage 1.4 with the current R-tree
triggers (GDAL's validator silent, a GDAL client UPSERTs into the store), and a decimal comma in
every number of a CSV — rates next to masked cells included."""

from __future__ import annotations

import csv
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from ort_geo import open_store
from ort_geo.io import export_layer
from ort_geo.io.write import csv_fr
from ort_geo.stats import labelled, sector_stats

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-gdal: a GDAL client outside our venv


def _store(path: Path):
    st = open_store(path, create=True)
    st.write("secteurs_ort", gpd.GeoDataFrame(
        [{"id": "centre", "nom": "Centre", "type": "centre_ville_principal",
          "code_insee": "68298"}],
        geometry=[shapely.box(1010000, 6802000, 1010500, 6802500)], crs="EPSG:2154"),
        author="test")
    return st


def _validate(path: Path) -> str:
    """GDAL's GeoPackage validator (gdal-utils, pure Python): its report, empty when valid."""
    pytest.importorskip("osgeo_utils.samples.validate_gpkg")
    run = subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg", str(path)],
                         capture_output=True, text=True, timeout=120)
    return (run.stdout + run.stderr).strip() + ("" if run.returncode == 0 else f" rc={run.returncode}")


def _triggers(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree_%'")}


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def test_store_and_exports_are_one_geopackage_version_that_validates(tmp_path):
    store = tmp_path / "atlas.gpkg"
    _store(store)
    exported = export_layer(open_store(store), "secteurs_ort", tmp_path / "secteurs.gpkg")
    for path in (store, exported):
        assert _version(path) == 10400, path
        suffixes = {name.rsplit("_", 1)[1] for name in _triggers(path)}
        assert suffixes == {"insert", "update2", "update4", "update5", "update6", "update7",
                            "delete"}, path
        assert _validate(path) == "", path


def _downgrade(path: Path) -> None:
    """Make a store as ort-geo made them before: GeoPackage 1.3 with the pre-1.4 triggers."""
    with sqlite3.connect(path) as conn:
        for t in ("secteurs_ort",):
            for s in ("update5", "update6", "update7"):
                conn.execute(f'DROP TRIGGER "rtree_{t}_geom_{s}"')
            conn.execute(f'''CREATE TRIGGER "rtree_{t}_geom_update1" AFTER UPDATE OF geom ON "{t}"
                WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) BEGIN
                INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid, ST_MinX(NEW.geom),
                ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END''')
            conn.execute(f'''CREATE TRIGGER "rtree_{t}_geom_update3" AFTER UPDATE ON "{t}"
                WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) BEGIN
                DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid;
                INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid, ST_MinX(NEW.geom),
                ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END''')
        conn.execute("PRAGMA user_version = 10300")


_UPSERT = r"""
import sys
from osgeo import gdal, ogr
gdal.UseExceptions()
ds = ogr.Open(sys.argv[1], 1)
layer = ds.GetLayerByName("secteurs_ort")
fid = layer.GetNextFeature().GetFID()
moved = ogr.CreateGeometryFromWkt(
    "MULTIPOLYGON (((1010000 6802000, 1010800 6802000, 1010800 6802600, 1010000 6802600, "
    "1010000 6802000)))")
feature = layer.GetFeature(fid)
feature.SetGeometry(moved)
layer.SetFeature(feature)  # GDAL writes the moved geometry, then the UPSERT rewrites it
# The UPSERT of the GeoPackage 1.4 rationale (an existing fid, a geometry), as a client sends it.
ds.ExecuteSQL(
    "INSERT INTO secteurs_ort (fid, id, nom, geom) SELECT fid, id, 'Centre élargi', geom "
    "FROM secteurs_ort WHERE fid = %d "
    "ON CONFLICT (fid) DO UPDATE SET nom = excluded.nom, geom = excluded.geom" % fid)
ds = None
print("ok")
"""


def _sqlite_upsert(path: Path) -> None:
    from ort_geo.store.gpkg import _st, _st_is_empty

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for name, fn in (("ST_MinX", _st(0)), ("ST_MaxX", _st(1)), ("ST_MinY", _st(2)),
                         ("ST_MaxY", _st(3)), ("ST_IsEmpty", _st_is_empty)):
            conn.create_function(name, 1, fn, deterministic=True)
        conn.execute(
            "INSERT INTO secteurs_ort (fid, id, nom, geom) SELECT fid, id, nom, geom "
            "FROM secteurs_ort WHERE id = 'centre' "
            "ON CONFLICT (fid) DO UPDATE SET nom = excluded.nom, geom = excluded.geom")
    finally:
        conn.close()


def _gdal_upsert(path: Path) -> subprocess.CompletedProcess:
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run(
            [SYSTEM_PYTHON, "-c", "from osgeo import ogr"], capture_output=True).returncode:
        pytest.skip("python3-gdal (Debian) absent : pas de client GDAL hors de l'environnement")
    return subprocess.run([SYSTEM_PYTHON, "-c", _UPSERT, str(path)], capture_output=True,
                          text=True, timeout=120)


def test_a_gdal_client_upserts_into_the_store(tmp_path):
    path = tmp_path / "atlas.gpkg"
    _store(path)
    # Proof the triggers matter: a plain SQLite client (sqlite3, QGIS' SQL window) sending the
    # UPSERT of the GeoPackage 1.4 rationale is refused by the pre-1.4 triggers (on a raw copy, not
    # opened by ort-geo, which would upgrade it) and accepted by ours. (GDAL works around them.)
    old = tmp_path / "ancien.gpkg"
    shutil.copy(path, old)
    _downgrade(old)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        _sqlite_upsert(old)
    _sqlite_upsert(path)
    done = _gdal_upsert(path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    st = open_store(path)
    sector = st.read("secteurs_ort", ids=["centre"])
    assert sector["nom"].tolist() == ["Centre élargi"]
    assert st.extent("secteurs_ort") == pytest.approx((1010000, 6802000, 1010800, 6802600),
                                                      abs=1)
    with sqlite3.connect(path) as conn:  # the R-tree follows the new geometry exactly
        assert conn.execute("SELECT rtreecheck('rtree_secteurs_ort_geom')").fetchone()[0] == "ok"
        box = conn.execute("SELECT maxx, maxy FROM rtree_secteurs_ort_geom").fetchone()
    assert box == pytest.approx((1010800, 6802600), abs=1)
    # An older store is brought to 1.4 when ort-geo opens it, and then takes the UPSERT too.
    open_store(old)
    assert _version(old) == 10400 and not {"update1", "update3"} & {
        n.rsplit("_", 1)[1] for n in _triggers(old)}
    assert _gdal_upsert(old).returncode == 0
    assert _validate(old) == ""


_POINT_NUMBER = re.compile(r"^-?\d+\.\d+$")


def test_every_csv_number_has_a_decimal_comma(demo_store, tmp_path):
    for public in (True, False):
        text = csv_fr(labelled(sector_stats(demo_store, "secteurs_ort", public=public)))
        cells = [c for line in text.splitlines()[1:] for c in line.split(";")]
        assert not [c for c in cells if _POINT_NUMBER.match(c)], public
        assert any(re.match(r"^\d+,\d+$", c) for c in cells)
    rates = [c for c in csv_fr(labelled(sector_stats(demo_store, "secteurs_ort", public=True)))
             .splitlines()[1].split(";") if "," in c]
    assert rates  # the public rates (mixed with masked cells) too
    stored = demo_store.read("actions")
    stored.loc[stored.index[0], "cout_ht"] = 125000.5
    path = tmp_path / "actions.csv"
    from ort_geo.io import write_frame

    write_frame(stored, path)
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    costs = [r["cout_ht"] for r in rows if r["cout_ht"]]
    assert "125000,5" in costs and not [c for c in costs if _POINT_NUMBER.match(c)]
