"""Bulk loading of a SQLite R-tree (the GeoPackage spatial index) by Sort-Tile-Recursive packing.

Inserting rows one by one into SQLite's R*-tree costs ~10 µs each (choose-subtree, splits, forced
reinserts). For a large load we instead pack the entries into full nodes with numpy and write the
R-tree's three shadow tables (``_node``, ``_rowid``, ``_parent``) in their documented on-disk format:
each node a blob of the tree's node size holding a 2-byte depth (root only), a 2-byte cell count,
then cells of a big-endian 64-bit id and four big-endian 32-bit floats (minx, maxx, miny, maxy).
The result is a valid tree (``rtreecheck``) that SQLite and GDAL query and edit as any other.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

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
