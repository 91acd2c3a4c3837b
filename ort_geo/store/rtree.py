"""Bulk loading of a SQLite R-tree (the GeoPackage spatial index) by Sort-Tile-Recursive packing.

Inserting rows one by one into SQLite's R*-tree costs ~10 µs each (choose-subtree, splits, forced
reinserts). For a large load we instead pack the entries into full nodes with numpy and write the
R-tree's three shadow tables (``_node``, ``_rowid``, ``_parent``) in their documented on-disk format:
each node a blob of the tree's node size holding a 2-byte depth (root only), a 2-byte cell count,
then cells of a big-endian 64-bit id and four big-endian 32-bit floats (minx, maxx, miny, maxy).
The result is a valid tree (``rtreecheck``) that SQLite and GDAL query and edit as any other.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from typing import Any

import numpy as np
import shapely

_CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])
_HEADER = np.dtype([("depth", ">u2"), ("count", ">u2")])
# SQLite stores float32 boxes rounded outwards with these factors (rtreeValueDown/Up).
_TOWARDS_ZERO, _AWAY_FROM_ZERO = 1.0 - 1.0 / 8388608.0, 1.0 + 1.0 / 8388608.0


def rtree_boxes(bounds: np.ndarray) -> np.ndarray:
    """Shapely bounds (minx, miny, maxx, maxy) as the float32 (minx, maxx, miny, maxy) boxes SQLite
    would store for them: minima rounded down, maxima up, exactly as its R-tree does."""
    d = np.asarray(bounds, dtype="float64")[:, [0, 2, 1, 3]]
    f = d.astype("float32")
    is_min = np.array([True, False, True, False])
    wrong = np.where(is_min, f > d, f < d)
    shrink = (d < 0) != is_min  # towards zero when that rounds the right way
    fixed = (d * np.where(shrink, _TOWARDS_ZERO, _AWAY_FROM_ZERO)).astype("float32")
    f[wrong] = fixed[wrong]
    return f


def pack(conn: sqlite3.Connection, rtree: str, ids: np.ndarray, boxes: np.ndarray) -> None:
    """Replace the whole content of R-tree table ``rtree`` by these entries (float32 boxes, as
    :func:`rtree_boxes` gives), inside the caller's transaction."""
    size = conn.execute(f'SELECT length(data) FROM "{rtree}_node" WHERE nodeno = 1').fetchone()[0]
    fanout = (size - _HEADER.itemsize) // _CELL.itemsize
    # Bottom-up: at each level, sort the entries into tiles (x slices, then y within a slice),
    # cut them into full nodes and make each node an entry of the level above.
    levels: list[tuple[np.ndarray, np.ndarray, int]] = []
    entries, boxes = np.asarray(ids, dtype="int64"), np.asarray(boxes, dtype="float32")
    while True:
        n = len(entries)
        nodes = max(1, math.ceil(n / fanout))
        per_slice = math.ceil(math.sqrt(nodes)) * fanout
        slice_of = np.empty(n, dtype="int64")
        slice_of[np.argsort(boxes[:, 0].astype("float64") + boxes[:, 1], kind="stable")] = (
            np.arange(n) // per_slice)
        order = np.lexsort((boxes[:, 2].astype("float64") + boxes[:, 3], slice_of))
        entries, boxes = entries[order], boxes[order]
        levels.append((entries, boxes, nodes))
        if nodes == 1:
            break
        starts = np.arange(0, n, fanout)
        boxes = np.stack([np.minimum.reduceat(boxes[:, 0], starts),
                          np.maximum.reduceat(boxes[:, 1], starts),
                          np.minimum.reduceat(boxes[:, 2], starts),
                          np.maximum.reduceat(boxes[:, 3], starts)], axis=1)
        entries = np.arange(nodes)  # the nodes of this level, by position
    # Node numbers top-down: the root must be node 1.
    first, number = [0] * len(levels), 1
    for depth in reversed(range(len(levels))):
        first[depth], number = number, number + levels[depth][2]
    node_rows: list[tuple[int, bytes]] = []
    parent_rows: list[tuple[int, int]] = []
    rowid_rows: list[tuple[int, int]] = []
    for depth, (entries, boxes, nodes) in enumerate(levels):
        n = len(entries)
        owner = (first[depth] + np.arange(n) // fanout).tolist()
        cell_ids = entries if depth == 0 else first[depth - 1] + entries
        cells = np.zeros(nodes * fanout, dtype=_CELL)
        cells["id"][:n], cells["box"][:n] = cell_ids, boxes
        header = np.zeros(nodes, dtype=_HEADER)
        header["count"] = np.bincount(np.arange(n) // fanout, minlength=nodes)
        if depth == len(levels) - 1:
            header["depth"] = depth
        data = np.zeros((nodes, size), dtype="uint8")
        data[:, :_HEADER.itemsize] = header.view("uint8").reshape(nodes, -1)
        data[:, _HEADER.itemsize:_HEADER.itemsize + cells.nbytes // nodes] = (
            cells.view("uint8").reshape(nodes, -1))
        node_rows += zip(range(first[depth], first[depth] + nodes), map(bytes, data), strict=True)
        (rowid_rows if depth == 0 else parent_rows).extend(
            zip(cell_ids.tolist(), owner, strict=True))
    for suffix in ("node", "rowid", "parent"):
        conn.execute(f'DELETE FROM "{rtree}_{suffix}"')
    conn.executemany(f'INSERT INTO "{rtree}_node" (nodeno, data) VALUES (?, ?)', node_rows)
    conn.executemany(f'INSERT INTO "{rtree}_rowid" (rowid, nodeno) VALUES (?, ?)', rowid_rows)
    conn.executemany(f'INSERT INTO "{rtree}_parent" (nodeno, parentnode) VALUES (?, ?)',
                     parent_rows)


#: Half-plane ``a*x + b*y <= c``, as (a, b, c).
HalfPlane = tuple[float, float, float]


#: Nodes a connection keeps decoded (about 2 KB each with GeoPackage's 51-cell nodes): the
#: R-tree of some 400,000 features; beyond, the cache starts again.
MAX_NODES = 8192
#: Other values a connection keeps (a geometry, a filter's outcome for one feature).
MAX_ROWS = 65536
#: Box reads whose matches a connection keeps (a few kB each).
MAX_MATCHES = 1024


class NodeCache:
    """The decoded nodes of one connection's R-trees (cell ids and float64 boxes by table and
    node number), kept while the file is unchanged: SQLite's ``PRAGMA data_version`` changes
    when another connection commits, ``total_changes`` when this one writes. A read then
    decodes only the nodes it never met (SQLite's page cache keeps the pages; this keeps what
    Python made of them)."""

    def __init__(self, max_nodes: int = MAX_NODES) -> None:
        self.max_nodes = max_nodes
        self._version: tuple[int, int] | None = None
        self._nodes: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        #: Other values read from the file, forgotten with the nodes (the geometries of the
        #: features a box's edge crosses, a filter's outcome per feature: the next pages of
        #: those boxes ask them again).
        self.rows: dict[tuple[Any, int], Any] = {}
        #: Filters by number (the rows' key of a filter's outcomes): their text and values.
        self.filters: dict[tuple[Any, ...], int] = {}
        #: The sorted fids a box read matched, by layer, filter, box and area.
        self.matches: dict[tuple[Any, ...], np.ndarray] = {}

    def check(self, conn: sqlite3.Connection) -> None:
        """Forget every node if the file changed since the last read: call it inside the read
        transaction, after its first statement (which fixes what the transaction sees)."""
        version = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        if version != self._version or len(self._nodes) > self.max_nodes \
                or len(self.rows) > MAX_ROWS:
            self._nodes.clear()
            self.rows.clear()
            self.filters.clear()
            self.matches.clear()
            self._version = version

    def remember(self, key: tuple[Any, ...], matched: np.ndarray) -> None:
        """Keep what a box read matched (see :attr:`matches`; the last :data:`MAX_MATCHES`)."""
        if len(self.matches) >= MAX_MATCHES:
            self.matches.pop(next(iter(self.matches)))
        self.matches[key] = matched

    def nodes(self, conn: sqlite3.Connection, rtree: str, numbers: list[int],
              size: int) -> tuple[np.ndarray, np.ndarray]:
        """The cells (ids, boxes) of nodes ``numbers`` of ``rtree`` (``size``-byte nodes), in
        order: the missing nodes read in one statement, as one row."""
        kept = self._nodes
        missing = [n for n in numbers if (rtree, n) not in kept]
        if missing:
            # Hexadecimal: group_concat joins text (both aggregates see the rows in one order).
            order, text = conn.execute(
                f"SELECT group_concat(nodeno), group_concat(hex(data), '') FROM \"{rtree}_node\" "
                "WHERE nodeno IN (SELECT value FROM json_each(?))",
                (json.dumps(missing),)).fetchone()
            found = _decode(bytes.fromhex(text or ""), size)
            for number, cells in zip(map(int, (order or "").split(",")), found, strict=True):
                kept[(rtree, number)] = cells
        parts = [kept[(rtree, n)] for n in numbers]
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _decode(data: bytes, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each ``size``-byte node of ``data`` as (ids, float64 boxes (minx, maxx, miny, maxy))."""
    nodes = np.frombuffer(data, dtype=_node_dtype(size))
    counts = nodes["count"].tolist()
    ids = nodes["cells"]["id"].astype(np.int64)
    boxes = nodes["cells"]["box"].astype(np.float64)
    return [(ids[i, :n], boxes[i, :n]) for i, n in enumerate(counts)]


def candidates(conn: sqlite3.Connection, rtree: str, bbox: tuple[float, float, float, float],
               cache: NodeCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ids and boxes (float64 (minx, miny, maxx, maxy), as SQLite returns them) of the entries
    of R-tree table ``rtree`` whose box meets ``bbox``, by walking the tree's nodes (one
    statement per level, a few blobs each, none for the nodes ``cache`` holds) instead of one
    fetched row per entry: Python's sqlite3 releases the GIL at every row, and under several
    threads each release hands it to another one. The same entries, compared as SQLite does
    (float32 widened to float64), as ``WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND
    miny <= ?``. Run inside a read transaction (the levels are read by several statements)."""
    minx, miny, maxx, maxy = bbox
    root = conn.execute(f'SELECT data FROM "{rtree}_node" WHERE nodeno = 1').fetchone()[0]
    depth, size = int.from_bytes(root[:2], "big"), len(root)
    if cache is None:
        cache = NodeCache()
    else:
        cache.check(conn)
    ids, box = _decode(root, size)[0]
    while True:
        hit = ((box[:, 1] >= minx) & (box[:, 0] <= maxx)
               & (box[:, 3] >= miny) & (box[:, 2] <= maxy))
        ids = ids[hit]
        if depth == 0 or not len(ids):
            return ids, box[hit][:, [0, 2, 1, 3]]
        ids, box = cache.nodes(conn, rtree, ids.tolist(), size)
        depth -= 1


def _node_dtype(size: int) -> np.dtype:
    """A node of ``size`` bytes: its cell count, then as many cells as fit."""
    return np.dtype({"names": ["count", "cells"],
                     "formats": [">u2", (_CELL, (size - _HEADER.itemsize) // _CELL.itemsize)],
                     "offsets": [2, _HEADER.itemsize], "itemsize": size})


def area_half_planes(area: Any) -> tuple[list[HalfPlane], list[HalfPlane]]:
    """Two sets of 4 half-planes for an area (a polygon, nearly a rectangle: a box given in
    degrees, projected): the ``inner`` ones bound a quadrilateral inside the area, each ``outer``
    one holds the whole area. A box inside every inner half-plane lies in the area; a box wholly
    outside one outer half-plane misses it. Sides follow the area's oriented envelope (a CRS84
    box is rotated by the meridian convergence: an axis-aligned rectangle would leave a wide band
    of undecided boxes). Empty lists when the area is no polygon; no inner planes when no such
    quadrilateral is found (every box is then undecided). Remembered for the last small areas
    (the boxes a map asks again and again; a drawn perimeter is not kept): the lists must not
    be changed."""
    if shapely.get_num_coordinates(area) <= REMEMBERED_VERTICES:
        return _half_planes(area)
    return _half_planes.__wrapped__(area)


#: Areas of at most this many vertices have their half-planes (and a GeoPackage box read its
#: matches) remembered: a projected CRS84 box has 17 to 129.
REMEMBERED_VERTICES = 160


@functools.lru_cache(maxsize=1024)
def _half_planes(area: Any) -> tuple[list[HalfPlane], list[HalfPlane]]:
    """:func:`area_half_planes`, remembered."""
    if shapely.get_type_id(area) != 3 or shapely.is_empty(area):
        return [], []
    corners = shapely.get_coordinates(shapely.oriented_envelope(area))[:4].tolist()
    coords = shapely.get_coordinates(area)
    size = float(np.ptp(coords, axis=0).max())
    if not size > 0:
        return [], []
    # Float rounding of a*x + b*y (in numpy, in SQLite) is far below this margin.
    eps = size * 1e-9 + float(np.abs(coords).max()) * 1e-12
    cx, cy = sum(p[0] for p in corners) / 4, sum(p[1] for p in corners) / 4
    normals = []
    for (px, py), (qx, qy) in zip(corners, corners[1:] + corners[:1], strict=True):
        a, b = qy - py, px - qx
        norm = (a * a + b * b) ** 0.5
        if not norm > 0:
            return [], []
        if a * (px - cx) + b * (py - cy) < 0:  # pointing outwards
            a, b = -a, -b
        normals.append((a / norm, b / norm))
    # Every vertex inside: so is the area (it lies in the convex hull of its vertices).
    reach = (coords @ np.array(normals).T).max(axis=0).tolist()
    outer = [(a, b, c + eps) for (a, b), c in zip(normals, reach, strict=True)]
    # The inner quadrilateral: the envelope shrunk until the area holds it (the sides of a
    # projected box bend by millimetres over a town). Each corner moves inwards along the
    # normals of its two sides (the one before it, the one after).
    inwards = [(-a0 - a1, -b0 - b1) for (a0, b0), (a1, b1)
               in zip(normals[-1:] + normals[:-1], normals, strict=True)]
    side = min(math.dist(corners[0], corners[1]), math.dist(corners[1], corners[2]))
    shrink = max(size * 1e-4, 1e3 * eps)
    for _ in range(12):
        if 2 * shrink < side:
            quad = shapely.polygons([(x + shrink * u, y + shrink * v) for (x, y), (u, v)
                                     in zip(corners, inwards, strict=True)])
            if shapely.contains(area, quad):
                # Twice the shrink that fits: a gap of at least ``shrink`` to the area's edge,
                # far above any rounding of the tests.
                return [(a, b, c - 2 * shrink) for a, b, c in outer], outer
        shrink *= 2
    return [], outer


def classify(boxes: np.ndarray, inner: list[HalfPlane],
             outer: list[HalfPlane]) -> tuple[np.ndarray, np.ndarray]:
    """For boxes (minx, miny, maxx, maxy): which lie inside every inner half-plane, and which
    lie wholly outside one outer half-plane (see :func:`area_half_planes`)."""
    inside = np.full(len(boxes), bool(inner))
    outside = np.zeros(len(boxes), dtype=bool)
    for a, b, c in inner:  # the box's corner furthest along the normal
        inside &= a * boxes[:, 2 if a >= 0 else 0] + b * boxes[:, 3 if b >= 0 else 1] <= c
    for a, b, c in outer:  # the box's corner least along the normal
        outside |= a * boxes[:, 0 if a >= 0 else 2] + b * boxes[:, 1 if b >= 0 else 3] > c
    return inside, outside
