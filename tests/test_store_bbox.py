"""The GeoPackage's box reads (the API's ``bbox`` pages): the R-tree walked node by node and
candidates decided by half-planes of the area give exactly the features a brute-force shapely
test finds — edges, curved CRS84 areas, filters, paging past the end, empty and missing
geometries, and layers edited by other clients (GDAL, raw sqlite3: the R-tree triggers)."""

from __future__ import annotations

import sqlite3
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.ops import polylabel
from stats_data import buildings_frame

from api import geojson
from ort_geo.store.gpkg import _st, _st_is_empty, encode_geometries
from ort_geo.store.rtree import area_half_planes, candidates, classify

X0, Y0 = 1_010_000.0, 6_800_000.0  # Alsace: the meridian convergence turns a CRS84 box ~3°
TO_LONLAT = Transformer.from_crs(2154, 4326, always_xy=True)


def _query(x: float, y: float, w: float, h: float) -> geojson.BBoxQuery:
    """The API's query for a CRS84 box whose corners are these Lambert-93 points."""
    lon0, lat0 = TO_LONLAT.transform(x, y)
    lon1, lat1 = TO_LONLAT.transform(x + w, y + h)
    return geojson.parse_bbox(f"{lon0},{lat0},{lon1},{lat1}", geojson.CRS84)


EDGE = _query(X0 + 700, Y0 + 700, 600, 600)  # areas whose edges the special shapes follow
BIG = _query(X0 - 9000, Y0 - 9000, 20000, 20000)  # its sides bend by metres


def _edge_shapes(area) -> list:
    """Shapes on the area's edge: straddling it, touching it from outside and from inside,
    1 mm off it outside and inside (their boxes may still cross it)."""
    ring = area.exterior
    centre = np.array(area.centroid.coords[0])
    shapes = []
    for t in np.linspace(0, 1, 24, endpoint=False):
        p = np.array(ring.interpolate(t, normalized=True).coords[0])
        out = (p - centre) / np.hypot(*(p - centre))
        square = shapely.box(*(p - 1.5), *(p + 1.5))
        outside, inside = square.difference(area), square.intersection(area)
        shapes += [square, outside, inside,
                   shapely.affinity.translate(outside, *(out * 1e-3)),
                   shapely.affinity.translate(inside, *(-out * 1e-3))]
    # In the slivers between the area and its oriented envelope (a CRS84 box's sides bend by
    # centimetres): outside the area, inside every side of its envelope.
    slivers = shapely.oriented_envelope(area).difference(area)
    for piece in getattr(slivers, "geoms", [slivers]):
        centre = polylabel(piece, tolerance=1e-4)
        half = min(1.0, centre.distance(piece.exterior) / 2)
        p = np.array(centre.coords[0])
        shapes.append(shapely.box(*(p - half), *(p + half)))
    return [s for s in shapes if not s.is_empty and s.geom_type == "Polygon"]


def _buildings(n: int = 2600) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(16)
    xy = rng.uniform([X0, Y0], [X0 + 2000, Y0 + 2000], (n, 2))
    size = rng.uniform(3, 25, (n, 2))
    geoms = list(shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + size[:, 0], xy[:, 1] + size[:, 1]))
    # Long thin shapes whose boxes are large: an L and diagonal strips.
    geoms += [shapely.union(shapely.box(X0 + 690, Y0 + 600, X0 + 700, Y0 + 1400),
                            shapely.box(X0 + 600, Y0 + 690, X0 + 1400, Y0 + 700))]
    geoms += [shapely.LineString([(X0 + 600 + 40 * k, Y0 + 1450), (X0 + 1450, Y0 + 600 + 40 * k)
                                  ]).buffer(1) for k in range(10)]
    geoms += _edge_shapes(EDGE.area) + _edge_shapes(BIG.area)
    return buildings_frame(geoms, rng, 5)


def _expected(full: gpd.GeoDataFrame, area, where=None) -> list[str]:
    keep = full.geometry.intersects(area).to_numpy().copy()
    for name, values in (where or {}).items():
        keep &= full[name].isin(values if isinstance(values, list) else [values]).to_numpy()
    return full["id"][keep].tolist()


def _queries() -> list[tuple[str, dict, object]]:
    rng = np.random.default_rng(7)
    out = [(name, {"bbox": q.envelope, "area": q.area}, q.area)
           for name, q in (("edge", EDGE), ("big", BIG))]
    for i, (x, y, w) in enumerate(zip(rng.uniform(-300, 1900, 14), rng.uniform(-300, 1900, 14),
                                      rng.choice([20.0, 150.0, 600.0, 1500.0], 14),
                                      strict=True)):
        q = _query(X0 + x, Y0 + y, w, w * rng.uniform(0.5, 1.5))
        out.append((f"crs84-{i}", {"bbox": q.envelope, "area": q.area}, q.area))
        box = (X0 + y, Y0 + x, X0 + y + w, Y0 + x + w)
        out.append((f"box-{i}", {"bbox": box}, shapely.box(*box)))
    whole = _query(X0 - 500, Y0 - 500, 3000, 3000)
    out.append(("all", {"bbox": whole.envelope, "area": whole.area}, whole.area))
    return out


def _check(store, full: gpd.GeoDataFrame, queries=None) -> int:
    """Every query, with and without filters, counted and paged, against brute force."""
    checked = 0
    for name, bounds, area in queries or _queries():
        for where in (None, {"etat": ["degrade", "moyen"]}, {"id": full["id"][::3].tolist()}):
            ids = _expected(full, area, where)
            batch, matched = store.read_batch("batiments", columns=["etat"], where=where,
                                              count=True, limit=7, offset=3, **bounds)
            assert matched == len(ids), (name, where)
            assert batch.ids.tolist() == ids[3:10], (name, where)
            batch, _ = store.read_batch("batiments", where=where, **bounds)
            assert batch.ids.tolist() == ids, (name, where)
            past, matched = store.read_batch("batiments", where=where, count=True, limit=5,
                                             offset=len(ids) + 2, **bounds)
            assert (len(past), matched) == (0, len(ids)), (name, where)
            checked += bool(ids)
    return checked


@pytest.fixture
def layer(new_store):
    store = new_store("gpkg")
    store.write("batiments", _buildings(), author="test")  # packed R-tree (bulk write)
    return store


def test_box_reads_match_brute_force(layer):
    full = layer.read("batiments")
    assert _check(layer, full) > 60
    for q in (EDGE, BIG):
        edge = set(_expected(full, q.area))
        shapes = _edge_shapes(q.area)
        on_edge = set(full["id"][full.geometry.isin(shapes)])
        assert len(on_edge & edge) > 40 and len(on_edge - edge) > 20  # both sides decided
        slivers = set(full["id"][full.geometry.isin(shapes[-3:])])
        assert len(slivers) == 3 and not slivers & edge


def test_box_reads_after_other_clients_edit_the_layer(layer, system_tool):
    """GDAL moves, empties and deletes features (its own SQL functions feed the R-tree
    triggers); a raw sqlite3 client writes an empty geometry and inserts one; the tool's own
    small writes go through the same triggers. Every read still matches brute force — the
    reads before the edits leave the R-tree's nodes decoded in the reading connection: every
    other client's commit must make it read them again."""
    full = layer.read("batiments")
    assert _check(layer, full) > 60
    inside = _expected(full, EDGE.area)
    far = full["id"][~full.geometry.intersects(shapely.box(*EDGE.envelope))]
    ogrinfo = system_tool("ogrinfo", "gdal-bin")

    def gdal(sql: str) -> None:
        done = subprocess.run([ogrinfo, "-q", str(layer.path), "-sql", sql],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr

    # Moved into the area and out of it; emptied (NULL); deleted.
    gdal(f"UPDATE batiments SET geom = (SELECT geom FROM batiments WHERE id = '{inside[0]}') "
         f"WHERE id = '{far.iloc[0]}'")
    gdal(f"UPDATE batiments SET geom = (SELECT geom FROM batiments WHERE id = '{far.iloc[1]}') "
         f"WHERE id = '{inside[1]}'")
    gdal(f"UPDATE batiments SET geom = NULL WHERE id = '{inside[2]}'")
    gdal(f"DELETE FROM batiments WHERE id = '{inside[3]}'")
    # A raw sqlite3 client: it registers the GeoPackage functions the triggers call, as any
    # GeoPackage writer must (GDAL, SpatiaLite).
    conn = sqlite3.connect(layer.path)
    for i, fn in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(fn, 1, _st(i), deterministic=True)
    conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
    empty, centre = encode_geometries([shapely.Polygon(), shapely.box(
        *(np.array(EDGE.area.centroid.coords[0]) - 2), *(np.array(EDGE.area.centroid.coords[0])
                                                         + 2))])
    # A shape across the area's edge (its geometry was tested, and kept, by the reads above)
    # becomes two squares just outside one side: its box still crosses the side (turned ~3°),
    # so only its new geometry can tell it is out.
    ring, middle = EDGE.area.exterior, np.array(EDGE.area.centroid.coords[0])
    squares = []
    for along in (100.0, 400.0):
        p = np.array(ring.interpolate(along).coords[0])
        p += 3 * (p - middle) / np.hypot(*(p - middle))
        squares.append(shapely.box(*(p - 0.5), *(p + 0.5)))
    apart = shapely.MultiPolygon(squares)
    assert not apart.intersects(EDGE.area) and shapely.box(*apart.bounds).intersects(
        EDGE.area.exterior)
    crossing = next(i for i, g in zip(full["id"], full.geometry, strict=True)
                    if g.intersects(EDGE.area) and not EDGE.area.contains(g)
                    and i not in set(inside[:6]))
    (apart_blob,) = encode_geometries([apart])
    with conn:
        conn.execute("UPDATE batiments SET geom = ? WHERE id = ?", (apart_blob, crossing))
        # States swapped: the filters' outcomes of the reads above no longer hold.
        conn.execute("UPDATE batiments SET etat = CASE etat WHEN 'bon' THEN 'degrade' "
                     "WHEN 'degrade' THEN 'bon' ELSE etat END WHERE fid % 3 = 0")
        conn.execute("UPDATE batiments SET geom = ? WHERE id = ?", (empty, inside[4]))
        conn.execute("INSERT INTO batiments (id, code_insee, etat, geom) "
                     "VALUES ('sql1', '68298', 'bon', ?)", (centre,))
    conn.close()
    # The tool's own small write (under the bulk threshold: the triggers too).
    moved = full[full["id"] == inside[5]].copy()
    moved["geometry"] = [shapely.box(X0 - 900, Y0 - 900, X0 - 890, Y0 - 890)]
    layer.write("batiments", moved, author="test")
    after = layer.read("batiments")
    now = _expected(after, EDGE.area)
    assert far.iloc[0] in now and "sql1" in now
    assert not {inside[1], inside[2], inside[3], inside[4], inside[5], crossing} & set(now)
    assert _check(layer, after) > 60


def test_the_tree_walk_finds_what_the_rtree_query_finds(new_store):
    """Node by node, on a packed tree (bulk write) and on a tree SQLite built row by row (small
    writes), and on an empty one: the same ids and boxes as SQLite's own R-tree query."""
    packed = new_store("gpkg", "packed")
    packed.write("batiments", _buildings(3000), author="test")
    grown = new_store("gpkg", "grown")
    frame = _buildings(700)
    for start in range(0, len(frame), 50):  # under the bulk threshold: SQLite's inserts
        grown.write("batiments", frame.iloc[start:start + 50], author="test")
    empty = new_store("gpkg", "empty")
    rng = np.random.default_rng(3)
    for store in (packed, grown, empty):
        conn = sqlite3.connect(store.path)
        depth = int.from_bytes(conn.execute("SELECT data FROM rtree_batiments_geom_node "
                                            "WHERE nodeno = 1").fetchone()[0][:2], "big")
        assert depth >= (2 if store is packed else 1 if store is grown else 0)
        for x, y, w in zip(rng.uniform(-200, 2000, 30), rng.uniform(-200, 2000, 30),
                           rng.uniform(0, 900, 30), strict=True):
            bbox = (X0 + x, Y0 + y, X0 + x + w, Y0 + y + w / 2)
            ids, boxes = candidates(conn, "rtree_batiments_geom", bbox)
            rows = conn.execute("SELECT id, minx, miny, maxx, maxy FROM rtree_batiments_geom "
                                "WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ? "
                                "ORDER BY id", (bbox[0], bbox[2], bbox[1], bbox[3])).fetchall()
            order = np.argsort(ids)
            assert ids[order].tolist() == [r[0] for r in rows]
            assert boxes[order].tolist() == [list(r[1:]) for r in rows]
        conn.close()


def test_half_planes_hold_and_are_held_by_the_area():
    """Inner planes bound a quadrilateral inside the area, each outer plane holds all of it —
    for CRS84 boxes from a metre to two degrees, and for shapes that are no rectangle; a box
    decided inside lies in the area, a box decided outside misses it."""
    rng = np.random.default_rng(11)
    areas = [_query(X0 + x, Y0 + y, w, w * r).area for x, y, w, r in zip(
        rng.uniform(-5e4, 5e4, 20), rng.uniform(-5e4, 5e4, 20),
        np.geomspace(1, 2e5, 20), rng.uniform(0.3, 3, 20), strict=True)]
    areas += [shapely.Point(X0, Y0).buffer(300), shapely.Polygon(
        [(X0, Y0), (X0 + 500, Y0), (X0, Y0 + 500)]), shapely.affinity.rotate(
        shapely.box(X0, Y0, X0 + 400, Y0 + 100), 40)]
    for area in areas:
        inner, outer = area_half_planes(area)
        assert len(outer) == 4 and len(inner) in (0, 4)
        coords = shapely.get_coordinates(area)
        for a, b, c in outer:
            assert (coords @ np.array([a, b]) <= c).all()
        minx, miny, maxx, maxy = area.bounds
        xy = rng.uniform([minx, miny], [maxx, maxy], (400, 2))
        wh = rng.uniform(0, 0.2, (400, 2)) * (maxx - minx)
        boxes = np.column_stack([xy, xy + wh])
        inside, outside = classify(boxes, inner, outer)
        geoms = shapely.box(*boxes.T)
        assert shapely.contains(area, geoms[inside]).all()
        assert not shapely.intersects(area, geoms[outside]).any()
        assert inside.any() or not inner
    assert area_half_planes(shapely.Point(0, 0)) == ([], [])
    assert area_half_planes(shapely.Polygon()) == ([], [])


def test_a_box_read_is_one_snapshot(layer):
    """The tree's levels, the count and the page are read in one transaction: the reader's
    connection is left without one."""
    batch, matched = layer.read_batch("batiments", bbox=EDGE.envelope, area=EDGE.area,
                                      count=True, limit=10)
    assert matched > 10 and len(batch) == 10
    assert not layer._reader().in_transaction
