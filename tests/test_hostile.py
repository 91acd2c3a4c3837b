"""Every geometry a file can carry (issue 11, point 2): the hostile-input generator
(:mod:`hostile`) against the importer, ``ort-geo query --within`` and ``ort-geo stats
--perimetre``. Each case gets exit code 2, a French message naming the feature, no traceback, and
a byte-identical store. (The API's side is ``tests/web_api/test_api_hostile.py``.)"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from pathlib import Path

import hostile
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ort_geo import geomcheck
from ort_geo.cli import main
from ort_geo.errors import GeometryError, InputError, TooLargeError

SETTINGS = settings(max_examples=10, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(args: list[str], store: Path) -> str:
    """Run the CLI; it must refuse (exit 2) in French, without traceback, store unchanged."""
    before = _digest(store)
    res = CliRunner().invoke(main, [*args, "--store", str(store)])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"{type(res.exception).__name__}: {res.exception}")
    assert res.exit_code == 2, res.output
    assert "Erreur :" in res.output
    assert _digest(store) == before
    return " ".join(res.output.split())


@pytest.mark.parametrize("fmt", hostile.FORMATS)
def test_import_refuses_every_hostile_file(fmt, demo_store_path):
    @SETTINGS
    @given(st.data())
    def run(data):
        folder = Path(tempfile.mkdtemp(prefix="ort-geo-hostile-"))
        try:
            category, path = data.draw(hostile.hostile_files(folder, fmt), label="fichier")
            store = folder / "atlas.gpkg"
            shutil.copyfile(demo_store_path, store)
            text = _refused(["import", str(path), "--couche", "secteurs_ort"], store)
            assert "hostile-1" in text or "objet 2" in text, (category, text)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    run()


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_query_and_stats_refuse_hostile_perimeters(fmt, demo_store_path, tmp_path):
    store = tmp_path / "atlas.gpkg"
    shutil.copyfile(demo_store_path, store)

    @settings(max_examples=6, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        folder = Path(tempfile.mkdtemp(prefix="ort-geo-hostile-"))
        try:
            _category, path = data.draw(hostile.hostile_files(folder, fmt), label="fichier")
            _refused(["query", "--within", str(path), "-o", str(folder / "q.csv")], store)
            assert not (folder / "q.csv").exists()
            _refused(["stats", "--perimetre", str(path)], store)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    run()


@settings(max_examples=150, deadline=None, database=None)
@given(hostile.geojson_geometries(sizes=False))
def test_every_hostile_geojson_geometry_is_refused_by_name(case):
    with pytest.raises(InputError) as info:
        geom = geomcheck.geojson_geometry(case.geometry, "Objet « s1 »")
        # Structurally sound but far away: the caller's France check refuses it.
        geomcheck.check_plausible([geom], ["Objet « s1 »"], where="corps", geographic=True)
    assert "Objet « s1 »" in str(info.value)


def test_categories_and_budget():
    ring = hostile._square()
    cases = {
        "coordonnée non finie": {"type": "Polygon", "coordinates": [[[math.nan, 48.2], *ring[1:]]]},
        "anneau non fermé": {"type": "Polygon", "coordinates": [ring[:-1]]},
        "au moins 4 positions": {"type": "Polygon", "coordinates": [ring[:3]]},
        "partie vide": {"type": "MultiPolygon", "coordinates": [[ring], []]},
        "type de géométrie inconnu": {"type": "Polygone", "coordinates": [ring]},
        "imbriquées": {"type": "GeometryCollection", "geometries": [
            {"type": "GeometryCollection", "geometries": []}]},
        "position [x, y] attendue": {"type": "Polygon", "coordinates": [[[[7.1, 48.2]]] * 4]},
        "coordonnée non numérique": {"type": "Point", "coordinates": ["7", 48]},
    }
    for words, data in cases.items():
        with pytest.raises(GeometryError, match=re.escape(words)):
            geomcheck.geojson_geometry(data, "Objet « s1 »")
    big = [[7.0 + k * 1e-7, 48.0] for k in range(geomcheck.MAX_REQUEST_VERTICES)]
    with pytest.raises(TooLargeError, match="trop de sommets"):
        geomcheck.geojson_geometry({"type": "LineString", "coordinates": big + big[:2]}, "Ligne")


def test_load_json_never_recurses():
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(InputError, match="imbrication JSON trop profonde"):
        geomcheck.load_json(deep)
    with pytest.raises(InputError, match="n'est pas un nombre JSON"):
        geomcheck.load_json(b'{"type": "Point", "coordinates": [NaN, Infinity]}')
    with pytest.raises(InputError, match="UTF-8"):
        geomcheck.load_json(b"\xff\xfe{}")
    assert geomcheck.load_json(b'{"a": "[[[[[[", "b": [1]}') == {"a": "[[[[[[", "b": [1]}


@pytest.mark.parametrize("kind", ["MultiSurface", "CircularString", "CurvePolygon"])
def test_a_json_fg_geometry_type_in_a_geojson_file_is_refused_by_name(kind, demo_store_path,
                                                                      tmp_path):
    """One geometry of a JSON-FG type makes GDAL open the whole file with its JSON-FG driver:
    the file is still GeoJSON, and the refusal names the feature (hypothesis found it)."""
    square = [[7.1, 48.2], [7.2, 48.2], [7.2, 48.3], [7.1, 48.2]]
    path = tmp_path / "hostile.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "ok"},
         "geometry": {"type": "Polygon", "coordinates": [square]}},
        {"type": "Feature", "properties": {"id": "hostile-1"},
         "geometry": {"type": kind, "coordinates": [square]}}]}), encoding="utf-8")
    store = tmp_path / "atlas.gpkg"
    shutil.copyfile(demo_store_path, store)
    text = _refused(["import", str(path), "--couche", "secteurs_ort"], store)
    assert "objet 2 (id=hostile-1)" in text, text
