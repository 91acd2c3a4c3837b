"""The API's GeoJSON writing and bbox parsing against their straightforward forms: every
geometry written by GEOS on its own, the box outline densified by GEOS — the same GeoJSON once
parsed, the same vertices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
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


def assert_same(geoms, storage: int = STORAGE) -> None:
    arr = np.array(list(geoms) + [None], dtype=object)[:-1]  # an object array, even of one
    for crs in CRSS:
        expected = [None if t is None else json.loads(t)
                    for t in reference_texts(arr, storage, crs)]
        written = [None if t is None else json.loads(t)
                   for t in geojson.geometry_texts(arr, storage, crs)]
        assert written == expected, crs.uri


# -- generated geometries (Lambert-93, over metropolitan France) ---------------------------------

centres = st.tuples(st.floats(300_000, 1_050_000), st.floats(6_200_000, 7_050_000))
sizes = st.floats(0.001, 800.0)  # a millimetre (flattened by the rounding) to a town block


@st.composite
def rings(draw, centre, size) -> list[tuple[float, float]]:
    """A simple ring: star-shaped around ``centre`` (angles sorted), either winding."""
    n = draw(st.integers(3, 9))
    angles = sorted(draw(st.lists(st.floats(0, 2 * np.pi, exclude_max=True), min_size=n,
                                  max_size=n, unique=True)))
    radii = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
    cx, cy = centre
    coords = [(cx + size * r * np.cos(a), cy + size * r * np.sin(a))
              for a, r in zip(angles, radii, strict=True)]
    return coords[::-1] if draw(st.booleans()) else coords


@st.composite
def polygons(draw) -> shapely.Polygon:
    centre, size = draw(centres), draw(sizes)
    shell = draw(rings(centre, size))
    holes = []
    if draw(st.booleans()):  # a hole well inside (the shell's radii are at least 0.3)
        hole = draw(rings(centre, size * 0.25))
        holes.append(hole)
    polygon = shapely.Polygon(shell, holes)
    return polygon if polygon.is_valid else shapely.Polygon(shell)


@st.composite
def lines(draw) -> shapely.LineString:
    (cx, cy), size = draw(centres), draw(sizes)
    offsets = draw(st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=2,
                            max_size=6))
    return shapely.LineString([(cx + size * dx, cy + size * dy) for dx, dy in offsets])


points = centres.map(shapely.Point)


def spread(parts: list) -> list:
    """Parts moved apart, so that a multi-polygon stays valid."""
    return [shapely.affinity.translate(p, 2000.0 * i, 0.0) for i, p in enumerate(parts)]


geometries = st.one_of(
    st.none(), points, lines(), polygons(),
    st.lists(points, min_size=1, max_size=4).map(shapely.MultiPoint),
    st.lists(lines(), min_size=1, max_size=3).map(shapely.MultiLineString),
    st.lists(polygons(), min_size=1, max_size=3).map(lambda ps: shapely.MultiPolygon(spread(ps))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(geometries, min_size=1, max_size=60))
def test_generated_geometries_are_written_as_by_geos(geoms):
    assert_same(geoms)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(polygons(), min_size=1, max_size=60))
def test_generated_polygons_are_written_as_by_geos(geoms):
    assert_same(geoms)


def test_what_the_bulk_writer_leaves_to_geos():
    """Collections, empty geometries and parts, 3D, rings flattened by the rounding: GEOS
    writes them, amid geometries the bulk writer writes."""
    x, y = 1_000_000.0, 6_800_000.0
    square = shapely.box(x, y, x + 20, y + 20)
    odd = [
        shapely.GeometryCollection([shapely.Point(x, y), square]),
        shapely.Point(), shapely.Polygon(), shapely.MultiPolygon(),
        shapely.from_wkt(f"MULTIPOLYGON (EMPTY, (({x} {y}, {x + 5} {y}, {x} {y + 5}, {x} {y})))"),
        shapely.Point(x, y, 12.5),
        shapely.Polygon([(x, y), (x + 0.001, y), (x, y + 0.001)]),  # one millimetre: flattened
        shapely.Polygon([(x, y), (x + 5, y + 0.001), (x + 10, y)]),  # a sliver
    ]
    for i in range(len(odd)):
        assert_same([square] * geojson._BULK + [odd[i], square])
    assert_same(odd * 3)


def test_every_layer_of_the_demo_is_written_as_by_geos(demo_store):
    seen = 0
    for name in demo_store.layer_names():
        spec = demo_store.spec(name)
        if not spec.spatial:
            continue
        batch, _ = demo_store.read_batch(name, columns=[], limit=2000)
        assert_same(batch.geometry, demo_store.epsg)
        seen += len(batch)
    assert seen > 1000


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


@pytest.mark.parametrize("count", [1, geojson._BULK - 1, geojson._BULK, 200])
def test_pages_of_any_size_have_the_same_features(demo_store, count):
    """Either side of the bulk threshold: the same features as the per-geometry writer."""
    batch, _ = demo_store.read_batch("batiments", columns=[], limit=count)
    assert_same(batch.geometry, demo_store.epsg)
