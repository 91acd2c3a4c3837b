"""The API's GeoJSON writing and bbox parsing against their straightforward forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from api import geojson

STORAGE = 2154
CRSS = [geojson.CRS84, geojson.EPSG4326, geojson.projected(STORAGE)]


def reference_texts(geoms, storage: int, crs: geojson.ApiCRS) -> list[str | None]:
    """One geometry at a time: projected, put in the served axis order, rounded, oriented by
    GEOS (RFC 7946 winding) and written by GEOS."""
    to = Transformer.from_crs(storage, crs.epsg, always_xy=True)
    scale = 10.0 ** crs.decimals

    def move(c: np.ndarray) -> np.ndarray:
        if crs.epsg != storage:
            c = np.column_stack(to.transform(c[:, 0], c[:, 1]))
        if crs.lat_first:
            c = c[:, ::-1]
        return np.round(c * scale) / scale

    return [None if g is None else shapely.to_geojson(
        shapely.orient_polygons(shapely.transform(g, move), exterior_cw=False)) for g in geoms]


def test_a_page_is_written_as_feature_by_feature(demo_store):
    """``batch_features`` (rows made in C loops) against one dict per feature, each geometry
    written on its own: the same FeatureCollection in every CRS, every property type."""
    spec = demo_store.spec("batiments")
    batch, _ = demo_store.read_batch("batiments", columns=spec.field_names, limit=300)
    assert len(batch) == 300
    for crs in CRSS:
        texts = reference_texts(batch.geometry, demo_store.epsg, crs)
        expected = [{"type": "Feature", "id": fid, "geometry": json.loads(text),
                     "properties": {n: batch.columns[n][i] for n in spec.field_names}}
                    for i, (fid, text) in enumerate(zip(batch.ids, texts, strict=True))]
        body = geojson.feature_collection(
            geojson.batch_features(batch, spec.field_names, crs, storage=demo_store.epsg),
            {"numberMatched": 300})
        assert json.loads(body) == {"type": "FeatureCollection", "numberMatched": 300,
                                    "features": expected}
    # No property at all (a read of the geometries only).
    plain = geojson.batch_features(batch, [], geojson.CRS84, storage=demo_store.epsg)
    assert [f["properties"] for f in plain] == [{}] * 300


def reference_area(minx: float, miny: float, maxx: float, maxy: float, storage: int):
    """The box outline densified by GEOS, then projected (as parse_bbox did it)."""
    outline = shapely.segmentize(shapely.box(minx, miny, maxx, maxy),
                                 max(maxx - minx, maxy - miny, 32 * 0.002) / 32)
    to = Transformer.from_crs(4326, storage, always_xy=True)
    return shapely.transform(outline, lambda c: np.column_stack(to.transform(c[:, 0], c[:, 1])))


@settings(max_examples=200, deadline=None)
@given(st.floats(-5.0, 9.0), st.floats(41.0, 51.0), st.floats(0.0, 3.0), st.floats(0.0, 2.0))
def test_a_degree_box_is_projected_as_by_geos(west, south, width, height):
    """The box outline: the same vertices (to a micrometre) as GEOS's densified box, the same
    envelope and winding."""
    east, north = min(west + width, 180.0), min(south + height, 90.0)
    assume(east > west and north > south)  # GEOS empties a flat box (see test_api_ogc)
    query = geojson.parse_bbox(f"{west!r},{south!r},{east!r},{north!r}", geojson.CRS84,
                               storage=STORAGE)
    region = geojson._region(STORAGE)
    clipped = (max(west, region[0]), max(south, region[1]),
               min(east, region[2]), min(north, region[3]))
    expected = reference_area(*clipped, STORAGE)
    got = shapely.get_coordinates(query.area)
    assert got.shape == shapely.get_coordinates(expected).shape
    assert np.abs(got - shapely.get_coordinates(expected)).max() < 1e-6
    assert query.envelope == pytest.approx(expected.bounds, abs=1e-6)
    assert query.area.exterior.is_ccw == expected.exterior.is_ccw


def test_flat_outside_and_lat_first_boxes():
    flat = geojson.parse_bbox("7.18,48.24,7.18,48.25", geojson.CRS84, storage=STORAGE)
    assert flat.area.area == pytest.approx(0.0, abs=1e-3)  # a line (test_api_ogc: its use)
    assert flat.envelope[3] - flat.envelope[1] == pytest.approx(1112, abs=5)
    swapped = geojson.parse_bbox("48.24,7.18,48.25,7.19", geojson.EPSG4326, storage=STORAGE)
    plain = geojson.parse_bbox("7.18,48.24,7.19,48.25", geojson.CRS84, storage=STORAGE)
    assert swapped.envelope == plain.envelope and swapped.area.equals(plain.area)
    outside = geojson.parse_bbox("100,10,101,11", geojson.CRS84, storage=STORAGE)
    assert outside.envelope == (0.0, 0.0, 0.0, 0.0)
