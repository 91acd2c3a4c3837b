"""The assignment engine equals brute force exactly: boundaries, vertices, holes, overlaps."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from ort_geo.assign import PolygonGrid


def _brute(polys, x, y):
    pts = shapely.points(x, y)
    ps, gs = [], []
    for j, poly in enumerate(polys):
        if poly is None or poly.is_empty:
            continue
        hit = np.flatnonzero(shapely.covers(poly, pts))
        ps.append(hit)
        gs.append(np.full(len(hit), j))
    p, g = np.concatenate(ps), np.concatenate(gs)
    order = np.lexsort((g, p))
    return p[order], g[order]


def _random_layer(rng, n, spread):
    polys = []
    for i in range(n):
        cx, cy = rng.uniform(7e5, 7e5 + spread), rng.uniform(6.6e6, 6.6e6 + spread)
        k = int(rng.integers(5, 40))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(50, spread / 15, k)
        p = shapely.make_valid(Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]))
        if i % 5 == 0:
            p = p.difference(Point(cx, cy).buffer(30))  # holes
        if i % 9 == 0 and p.geom_type == "Polygon":
            p = MultiPolygon([p, box(cx + 3000, cy, cx + 3100, cy + 80)])
        polys.append(p)
    return polys


@pytest.mark.parametrize(("seed", "hint"), [(0, None), (1, 10**9), (2, 1)])
def test_grid_equals_brute_force_with_boundary_points(seed, hint):
    rng = np.random.default_rng(seed)
    polys = _random_layer(rng, 150, 20_000)  # random stars overlap each other
    # Two squares sharing an edge, a missing and an empty geometry.
    polys += [box(7e5, 6.6e6, 7e5 + 1000, 6.6e6 + 1000),
              box(7e5 + 1000, 6.6e6, 7e5 + 2000, 6.6e6 + 1000), None, Polygon()]
    x = rng.uniform(7e5 - 1000, 7e5 + 21_000, 100_000)
    y = rng.uniform(6.6e6 - 1000, 6.6e6 + 21_000, 100_000)
    coords = shapely.get_coordinates([p for p in polys if p is not None])  # every vertex
    mids = shapely.get_coordinates(shapely.line_interpolate_point(
        shapely.boundary([p for p in polys if p is not None and not p.is_empty]), 0.37,
        normalized=True))
    x = np.r_[x, coords[:, 0], mids[:, 0], 7e5 + 1000, 7e5 + 1000, np.nan, np.inf]
    y = np.r_[y, coords[:, 1], mids[:, 1], 6.6e6 + 500, 6.6e6 + 1000, 0.0, 6.6e6]
    grid = PolygonGrid(polys, points_hint=hint)  # coarse to fine grids
    p, g = grid.pairs(x, y, chunk=30_000)
    bp, bg = _brute(polys, x, y)
    assert len(p) > 10_000
    np.testing.assert_array_equal(p, bp)
    np.testing.assert_array_equal(g, bg)
    # A point on the shared edge belongs to both squares (covers semantics).
    edge = len(x) - 4
    assert {len(polys) - 4, len(polys) - 3} <= set(g[p == edge].tolist())


def test_grid_matches_geopandas_sjoin_intersects():
    rng = np.random.default_rng(3)
    polys = _random_layer(rng, 60, 5_000)
    x, y = rng.uniform(7e5, 7e5 + 5_000, 50_000), rng.uniform(6.6e6, 6.6e6 + 5_000, 50_000)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=2154)
    zones = gpd.GeoDataFrame(geometry=polys, crs=2154)
    joined = gpd.sjoin(pts, zones, predicate="intersects")
    order = np.lexsort((joined["index_right"].to_numpy(), joined.index.to_numpy()))
    p, g = PolygonGrid(polys).pairs(x, y)
    np.testing.assert_array_equal(p, joined.index.to_numpy()[order])
    np.testing.assert_array_equal(g, joined["index_right"].to_numpy()[order])


def test_sums_and_degenerate_layers():
    square = box(0, 0, 10, 10)
    grid = PolygonGrid([square, square])  # identical overlapping polygons
    x = np.array([5.0, 10.0, 11.0, 0.0])
    y = np.array([5.0, 5.0, 5.0, 0.0])
    sums = grid.sums(x, y, {"n": np.ones(4, np.int8), "w": np.array([1.5, 2.0, 4.0, 8.0])})
    assert sums["n"].tolist() == [3, 3]
    assert sums["w"].tolist() == [11.5, 11.5]
    empty = PolygonGrid([None, Polygon()])
    assert empty.sums(x, y, {"n": np.ones(4, np.int8)})["n"].tolist() == [0, 0]
    assert PolygonGrid([]).pairs(x, y)[0].size == 0
    # Polygons far apart: the coarse grid stays small.
    far = PolygonGrid([box(0, 0, 1, 1), box(1e6, 1e6, 1e6 + 1, 1e6 + 1)])
    assert far._coarse.size <= 16_000_000
    p, g = far.pairs(np.array([0.5, 1e6 + 0.5, 5e5]), np.array([0.5, 1e6 + 1.0, 5e5]))
    assert p.tolist() == [0, 1] and g.tolist() == [0, 1]


def test_a_pickled_grid_gives_the_same_pairs():
    """``ort-geo stats`` receives its grid from a child process, pickled."""
    import pickle

    rng = np.random.default_rng(7)
    polys = [box(0, 0, 10, 10).difference(box(3, 3, 6, 6)), box(8, 0, 20, 5), None]
    grid = PolygonGrid(polys, points_hint=1000)
    x, y = rng.uniform(-1, 21, 5000), rng.uniform(-1, 11, 5000)
    x[:4], y[:4] = [3.0, 10.0, 8.0, 20.0], [4.0, 2.0, 5.0, 5.0]  # on boundaries
    copy = pickle.loads(pickle.dumps(grid, protocol=pickle.HIGHEST_PROTOCOL))
    assert shapely.is_prepared(copy.geoms[:2]).all()
    assert np.shares_memory(copy._flat_blocks, copy._blocks)
    for got, expected in zip(copy.pairs(x, y), grid.pairs(x, y), strict=True):
        np.testing.assert_array_equal(got, expected)
    empty = pickle.loads(pickle.dumps(PolygonGrid([None])))
    assert empty.pairs(x, y)[0].size == 0


def test_a_twin_grid_has_its_own_prepared_polygons():
    """Two threads query a grid and its twin at once (GEOS prepared geometries are not
    thread-safe): same pairs, no polygon object shared."""
    rng = np.random.default_rng(8)
    grid = PolygonGrid([box(0, 0, 10, 10).difference(box(3, 3, 6, 6)), None, Polygon()],
                       points_hint=1000)
    twin = grid.twin()
    assert not {id(g) for g in twin.geoms} & {id(g) for g in grid.geoms if g is not None}
    assert shapely.is_prepared(twin.geoms[0]) and twin.geoms[1] is None
    x, y = rng.uniform(-1, 11, 5000), rng.uniform(-1, 11, 5000)
    for got, expected in zip(twin.pairs(x, y), grid.pairs(x, y), strict=True):
        np.testing.assert_array_equal(got, expected)
