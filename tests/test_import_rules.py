"""The rules apply to imports too (issue 11, point 4): an import into a zone layer runs the rules
of ``ort-geo validate`` (those of an API edit); refused with the French report and the store
unchanged, or stored with ``--forcer`` and the violations written in the journal entry."""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import shapely
from click.testing import CliRunner

from ort_geo import open_store
from ort_geo.cli import main


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import(path, store, *extra):
    return CliRunner().invoke(main, ["import", str(path), "--couche", "secteurs_ort",
                                     "--store", str(store), "--auteur", "test", *extra])


def _file(tmp_path, name, geom, crs=2154, fid="nouveau"):
    frame = gpd.GeoDataFrame([{"id": fid, "nom": "Nouveau secteur", "type": "quartier"}],
                             geometry=[geom], crs=crs)
    path = tmp_path / name
    frame.to_file(path, driver="GPKG")
    return path


def test_sector_outside_the_epci_is_refused_then_forced(demo_store_copy, tmp_path):
    store = demo_store_copy.path
    demo_store_copy.close()
    colmar = shapely.box(1023000, 6785000, 1024000, 6786000)  # Colmar: not a member commune
    path = _file(tmp_path, "hors.gpkg", colmar)
    before = _digest(store)
    res = _import(path, store)
    assert res.exit_code == 2, res.output
    assert "Import refusé" in res.output and "hors des communes" in res.output
    assert _digest(store) == before
    forced = _import(path, store, "--forcer")
    assert forced.exit_code == 0, forced.output
    assert "--forcer" in forced.output
    with open_store(store) as st:
        entry = st.history("secteurs_ort", "nouveau")[-1]
    assert "forcer" in entry.message and "[L303-2] secteurs_ort/nouveau" in entry.message


def test_overlap_forbidden_by_the_catalogue_is_refused(demo_store_copy, tmp_path):
    store = demo_store_copy.path
    sector = demo_store_copy.read("secteurs_ort").iloc[0]
    demo_store_copy.close()
    shifted = shapely.affinity.translate(sector.geometry, 40, 40)
    path = _file(tmp_path, "chevauche.gpkg", shifted)
    before = _digest(store)
    res = _import(path, store)
    assert res.exit_code == 2, res.output
    assert "chevauche" in res.output and _digest(store) == before


def test_lambert93_numbers_declared_wgs84_are_refused(demo_store_copy, tmp_path):
    store = demo_store_copy.path
    sector = demo_store_copy.read("secteurs_ort").iloc[0]
    demo_store_copy.close()
    path = tmp_path / "faux-wgs84.geojson"
    feature = {"type": "Feature", "properties": {"id": "faux", "nom": "Faux", "type": "quartier"},
               "geometry": json.loads(shapely.to_geojson(sector.geometry))}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": [feature]}), encoding="utf-8")
    before = _digest(store)
    res = _import(path, store)
    assert res.exit_code == 2, res.output
    assert "Lambert-93" in res.output and _digest(store) == before
