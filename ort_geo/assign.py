"""Point-in-polygon assignment at national scale, exact, in O(1) per point on average.

A :class:`PolygonGrid` lays a uniform grid over a polygon layer and classifies every cell once:

* cells touched by no polygon assign nothing;
* cells lying entirely inside some polygons (and touched by no boundary) assign directly;
* only cells crossed by a boundary keep candidate polygons, tested exactly with GEOS (prepared
  ``shapely.intersects_xy``).

The grid is stored in two levels (a dense coarse grid pointing to 16 x 16 blocks allocated only
where polygons are), so memory follows the polygons, not the extent of the country. A point's
lookup is a few array indexings, vectorized in numpy and processed in chunks.

Semantics: a point belongs to **every polygon that covers it, boundary included** — the same
predicate as shapely ``intersects_xy`` / ``covers``, geopandas ``sjoin(predicate="intersects")`` and
DuckDB ``ST_Intersects``. Overlapping polygons each receive the point; a point exactly on an edge
shared by two polygons counts in both (with float coordinates this is rare; it is never lost).

Why the classification is exact: boundary segments are cut shorter than a cell and each marks
every cell its bounding box (widened by ``eps``) touches. A cell not marked is at least ``eps`` away
from every boundary, so it is wholly inside or wholly outside each polygon, and its centre tells
which. ``eps`` is far larger than the rounding of ``floor((x - x0) / cell)``, so a point is never
looked up in a cell farther than ``eps`` from where it lies.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

_BLOCK_SHIFT = 4  # blocks of 16 x 16 fine cells
_BLOCK = 1 << _BLOCK_SHIFT
_MAX_COARSE = 16_000_000  # coarse cells (int32 each): 64 MB at most
_CHUNK = 1_000_000
#: Stored points read to size a zone grid (see :func:`sized_grid`).
HINT_SAMPLE = 10_000


@dataclass
class ZoneSums:
    """One measure added up per zone (zone order) and over the whole layer."""

    per_zone: np.ndarray
    total: Any


class PolygonGrid:
    """An exact point-in-polygon index over an array of (multi)polygons."""

    def __init__(
        self,
        polygons,
        *,
        points: tuple[np.ndarray, np.ndarray] | None = None,
        points_hint: int | None = None,
        max_cells: int = 16_000_000,
    ) -> None:
        geoms = np.asarray(polygons, dtype=object)
        if geoms.ndim != 1:
            geoms = geoms.ravel()
        self.geoms = geoms
        self.n = len(geoms)
        usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if self.n else np.zeros(0, bool)
        shapely.prepare(geoms[usable])
        self._usable = np.flatnonzero(usable)
        if not len(self._usable):
            self._empty = True
            return
        self._empty = False
        self._bounds = shapely.bounds(geoms)  # NaN for missing polygons (never candidates)
        bounds = self._bounds[self._usable]
        x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
        x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
        span = max(x1 - x0, y1 - y0, 1.0)
        box_area = np.maximum(bounds[:, 2] - bounds[:, 0], span * 1e-6) * np.maximum(
            bounds[:, 3] - bounds[:, 1], span * 1e-6
        )
        # Finer cells send fewer points to the exact test but cost more to build. With k cells
        # per polygon, about 4 / sqrt(k) of a polygon's points fall in boundary cells; balancing
        # ~0.5 us per cell built against ~4 us per exact test gives k ~ (16 N / m) ** (2/3),
        # N the points that fall in some polygon's bounding box (estimated on a sample).
        m = len(self._usable)
        if points is not None:
            points_hint = _points_in_boxes(bounds, *points)
        k = 256 if points_hint is None else (16 * max(points_hint, 1) / m) ** (2 / 3)
        budget = min(max_cells, int(min(max(k, 64), 4096) * m))
        cell = float(np.sqrt(box_area.sum() / budget))
        # The coarse grid must stay small however far apart the polygons are, and a cell must
        # stay far larger than the rounding of coordinates (ulp) so eps fits inside it.
        ulp = float(np.spacing(max(1.0, abs(x0), abs(y0), abs(x1), abs(y1))))
        cell = max(cell, np.sqrt((x1 - x0 + span * 1e-6) * (y1 - y0 + span * 1e-6)
                                 / (_MAX_COARSE * _BLOCK * _BLOCK)) * 1.01, 1e6 * ulp)
        self.cell = cell
        self.eps = max(cell * 1e-6, 64 * ulp)
        self.x0 = x0 - 2 * self.eps
        self.y0 = y0 - 2 * self.eps
        self.nx = int((x1 - self.x0) // cell) + 2
        self.ny = int((y1 - self.y0) // cell) + 2
        self.ncx = (self.nx >> _BLOCK_SHIFT) + 1
        self.ncy = (self.ny >> _BLOCK_SHIFT) + 1
        self._build()

    # -- construction ---------------------------------------------------------------------------

    def _ix(self, x: np.ndarray) -> np.ndarray:
        return _index((x - self.x0) / self.cell, self.nx)

    def _iy(self, y: np.ndarray) -> np.ndarray:
        return _index((y - self.y0) / self.cell, self.ny)

    def _boundary_keys(self) -> np.ndarray:
        """Sorted unique keys (cell * n + polygon) of cells a polygon's boundary may touch."""
        idx = self._usable
        parts, owner = shapely.get_parts(shapely.boundary(self.geoms[idx]), return_index=True)
        owner = idx[owner]
        parts = shapely.segmentize(parts, self.cell * 0.99)
        coords, part = shapely.get_coordinates(parts, return_index=True)
        keys: list[np.ndarray] = []
        step = 2_000_000
        for start in range(0, max(len(coords) - 1, 0), step):
            a = slice(start, min(start + step, len(coords) - 1))
            b = slice(a.start + 1, a.stop + 1)
            same = part[a] == part[b]
            xa, ya = coords[a, 0][same], coords[a, 1][same]
            xb, yb = coords[b, 0][same], coords[b, 1][same]
            poly = owner[part[a][same]]
            ix0 = self._ix(np.minimum(xa, xb) - self.eps)
            ix1 = self._ix(np.maximum(xa, xb) + self.eps)
            iy0 = self._iy(np.minimum(ya, yb) - self.eps)
            iy1 = self._iy(np.maximum(ya, yb) + self.eps)
            # A segment (with its eps margins) is shorter than a cell: it spans 2 x 2 cells at most.
            if len(ix0) and (int((ix1 - ix0).max()) > 1 or int((iy1 - iy0).max()) > 1):
                raise RuntimeError("segment longer than a cell after segmentize")
            for dx in range(2):
                for dy in range(2):
                    ok = (ix0 + dx <= ix1) & (iy0 + dy <= iy1)
                    cells = (iy0[ok] + dy) * self.nx + (ix0[ok] + dx)
                    keys.append(_unique(cells * self.n + poly[ok]))
        if not keys:
            return np.zeros(0, np.int64)
        return _unique(np.concatenate(keys))

    def _interior_keys(self, partial: np.ndarray) -> np.ndarray:
        """Keys of cells whose centre is inside a polygon and that no boundary touches."""
        idx = self._usable
        b = shapely.bounds(self.geoms[idx])
        ix0, ix1 = self._ix(b[:, 0]), self._ix(b[:, 2])
        iy0, iy1 = self._iy(b[:, 1]), self._iy(b[:, 3])
        wx, wy = ix1 - ix0 + 1, iy1 - iy0 + 1
        ncell = wx * wy
        out: list[np.ndarray] = []
        target = 2_000_000
        # Tasks of at most ~target cells: runs of small polygons, or row bands of a large one.
        tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        group: list[int] = []
        total = 0
        for i in range(len(idx)):
            if ncell[i] > target:
                rows = max(1, target // int(wx[i]))
                for r in range(int(iy0[i]), int(iy1[i]) + 1, rows):
                    tasks.append((np.array([i]), np.array([r]), np.array([min(rows, iy1[i] - r + 1)])))
                continue
            if total + ncell[i] > target and group:
                g = np.array(group)
                tasks.append((g, iy0[g], wy[g]))
                group, total = [], 0
            group.append(i)
            total += int(ncell[i])
        if group:
            g = np.array(group)
            tasks.append((g, iy0[g], wy[g]))
        for g, ry0, rh in tasks:
            n = wx[g] * rh
            rep = np.repeat(g, n)
            k = np.repeat(np.arange(len(g)), n)
            offs = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            cx = ix0[rep] + offs % wx[rep]
            cy = ry0[k] + offs // wx[rep]
            keys = (cy * self.nx + cx) * self.n + idx[rep]
            pos = np.searchsorted(partial, keys)
            crossed = partial[np.minimum(pos, len(partial) - 1)] == keys if len(partial) else (
                np.zeros(len(keys), bool))
            # Along a row, consecutive cells no boundary crosses are all inside or all outside
            # the polygon: test the centre of the first cell of each such run only.
            row_start = cx == ix0[rep]
            free = ~crossed
            start = free & (row_start | np.r_[True, crossed[:-1]])
            run = np.cumsum(start) - 1
            first = np.flatnonzero(start)
            inside_run = shapely.intersects_xy(
                self.geoms[idx[rep[first]]], self.x0 + (cx[first] + 0.5) * self.cell,
                self.y0 + (cy[first] + 0.5) * self.cell)
            inside = free & inside_run[np.maximum(run, 0)] if len(first) else free & False
            out.append(keys[inside])
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _build(self) -> None:
        partial = self._boundary_keys()
        full = self._interior_keys(partial)
        keys = np.concatenate([full, partial])
        status = np.concatenate([np.zeros(len(full), np.int8), np.ones(len(partial), np.int8)])
        order = np.argsort(keys, kind="stable")
        keys, status = keys[order], status[order]
        cells, polys = keys // self.n, keys % self.n
        first = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        counts = np.diff(np.r_[first, len(cells)])
        ucells = cells[first]
        # Classes 0 .. 2n-1 are "this one polygon, full (even) or partial (odd)"; every cell with
        # several candidates gets a class of its own after them.
        cls = np.where(counts == 1, polys[first] * 2 + status[first], 0).astype(np.int64)
        multi = counts > 1
        nmulti = int(multi.sum())
        cls[multi] = 2 * self.n + np.arange(nmulti)
        in_multi = np.repeat(multi, counts)
        self._class_poly = np.concatenate(
            [np.repeat(np.arange(self.n), 2), polys[in_multi]]).astype(np.int64)
        self._class_partial = np.concatenate(
            [np.tile(np.array([False, True]), self.n), status[in_multi].astype(bool)])
        mcounts = counts[multi]
        self._class_start = np.concatenate(
            [np.arange(2 * self.n), 2 * self.n + np.cumsum(mcounts) - mcounts]).astype(np.int64)
        self._class_len = np.concatenate([np.ones(2 * self.n, np.int64), mcounts])
        # Two-level grid: coarse cells point to 16 x 16 blocks of class ids.
        ix, iy = ucells % self.nx, ucells // self.nx
        coarse = (iy >> _BLOCK_SHIFT) * self.ncx + (ix >> _BLOCK_SHIFT)
        ucoarse, block_of = np.unique(coarse, return_inverse=True)
        self._coarse = np.full(self.ncx * self.ncy, -1, np.int32)
        self._coarse[ucoarse] = np.arange(len(ucoarse), dtype=np.int32)
        self._blocks = np.full((len(ucoarse), _BLOCK * _BLOCK), -1, np.int32)
        local = ((iy & (_BLOCK - 1)) << _BLOCK_SHIFT) | (ix & (_BLOCK - 1))
        self._blocks[block_of, local] = cls.astype(np.int32)
        self._flat_blocks = self._blocks.reshape(-1)

    # -- pickling (a grid made in another process) -----------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_flat_blocks", None)  # a view of the blocks
        # WKB in one vectorised call (exact: binary coordinates), not one pickle per polygon.
        state["geoms"] = shapely.to_wkb(self.geoms)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.geoms = shapely.from_wkb(state["geoms"])
        if not self._empty:
            self._flat_blocks = self._blocks.reshape(-1)
        shapely.prepare(self.geoms[self._usable])

    def twin(self) -> PolygonGrid:
        """This grid over copies of its polygons, for another thread to query at the same
        time: GEOS's prepared geometries are not thread-safe (libgeos/geos#825)."""
        other = copy.copy(self)
        other.geoms = shapely.from_wkb(shapely.to_wkb(self.geoms))  # exact: binary coordinates
        shapely.prepare(other.geoms[self._usable])
        return other

    # -- queries --------------------------------------------------------------------------------

    def _pairs_chunk(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Same cell formula as the build (floor((x - x0) / cell)); for in-range values the
        # truncating cast is that floor. NaN fails every comparison and drops out.
        fx = np.subtract(x, self.x0)
        fx /= self.cell
        fy = np.subtract(y, self.y0)
        fy /= self.cell
        ok = fx >= 0
        ok &= fx < self.nx
        ok &= fy >= 0
        ok &= fy < self.ny
        pts = np.flatnonzero(ok)
        ix = fx[pts].astype(np.int32)
        iy = fy[pts].astype(np.int32)
        block = self._coarse[(iy >> _BLOCK_SHIFT) * np.int32(self.ncx) + (ix >> _BLOCK_SHIFT)]
        has = np.flatnonzero(block >= 0)
        pts, ix, iy, block = pts[has], ix[has], iy[has], block[has]
        local = ((iy & (_BLOCK - 1)) << _BLOCK_SHIFT) | (ix & (_BLOCK - 1))
        cls = self._flat_blocks[block.astype(np.int64) * (_BLOCK * _BLOCK) + local]
        has = np.flatnonzero(cls >= 0)
        pts, cls = pts[has], cls[has]
        lens = self._class_len[cls]
        if len(lens) and lens.max() > 1:
            entry = np.repeat(self._class_start[cls], lens)
            entry += np.arange(len(entry)) - np.repeat(np.cumsum(lens) - lens, lens)
            pts = np.repeat(pts, lens)
        else:
            entry = self._class_start[cls]
        poly = self._class_poly[entry]
        test = self._class_partial[entry]
        if test.any():
            t = np.flatnonzero(test)
            tx, ty, tp = x[pts[t]], y[pts[t]], poly[t]
            b = self._bounds[tp]
            # Outside the polygon's bounding box is outside the polygon: no GEOS call needed.
            inbox = (tx >= b[:, 0]) & (tx <= b[:, 2]) & (ty >= b[:, 1]) & (ty <= b[:, 3])
            hit = np.zeros(len(t), bool)
            hit[inbox] = shapely.intersects_xy(self.geoms[tp[inbox]], tx[inbox], ty[inbox])
            keep = np.ones(len(pts), bool)
            keep[t] = hit
            pts, poly = pts[keep], poly[keep]
        return pts, poly

    def iter_pairs(
        self, x, y, *, chunk: int = _CHUNK
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Yield ``(offset, point_index, polygon_index)`` per chunk of points (indices global)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError("x and y must have the same shape")
        for start in range(0, len(x), chunk):
            if self._empty:
                yield start, np.zeros(0, np.int64), np.zeros(0, np.int64)
                continue
            p, g = self._pairs_chunk(x[start:start + chunk], y[start:start + chunk])
            yield start, p + start, g

    def pairs(self, x, y, *, chunk: int = _CHUNK) -> tuple[np.ndarray, np.ndarray]:
        """All (point index, polygon index) pairs where the polygon covers the point.

        Sorted by point, then polygon.
        """
        ps, gs = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for _, p, g in self.iter_pairs(x, y, chunk=chunk):
            ps.append(p)
            gs.append(g)
        p, g = np.concatenate(ps), np.concatenate(gs)
        order = np.lexsort((g, p))
        return p[order], g[order]

    def sums(
        self, x, y, values: Mapping[str, np.ndarray], *, chunk: int = _CHUNK
    ) -> dict[str, np.ndarray]:
        """Per polygon, the sum of each value array over the points it covers (chunked).

        Sums are exact for integer and boolean values (accumulated as int64).
        """
        out = {name: np.zeros(self.n, np.int64 if _integral(v) else np.float64)
               for name, v in values.items()}
        arrays = {name: np.asarray(v) for name, v in values.items()}
        for _, p, g in self.iter_pairs(x, y, chunk=chunk):
            for name, v in arrays.items():
                w = v[p]
                if w.dtype == bool:
                    out[name] += np.bincount(g[w], minlength=self.n)
                elif _integral(w):
                    # bincount weights are float64: exact below 2**53, which any count is.
                    out[name] += np.bincount(g, weights=w, minlength=self.n).astype(np.int64)
                else:
                    out[name] += np.bincount(g, weights=w, minlength=self.n)
        return out


def sized_grid(zones: np.ndarray, x: np.ndarray, y: np.ndarray, total: int) -> PolygonGrid:
    """The grid of ``zones``, its cell size fitted to how many of ``total`` points fall near the
    zones (estimated from the sample ``x``, ``y`` of those points)."""
    zones = np.asarray(zones, dtype=object)
    hint = None
    if len(x) and len(zones):
        usable = ~(shapely.is_missing(zones) | shapely.is_empty(zones))
        share = _points_in_boxes(shapely.bounds(zones[usable]), x, y) / len(x) \
            if usable.any() else 0.0
        hint = int(share * max(total, len(x)))
    return PolygonGrid(zones, points_hint=hint)


def _unique(a: np.ndarray) -> np.ndarray:
    """Sorted unique values (sort-based: far faster than hashing for millions of int64 keys)."""
    if len(a) > 1:
        keep = np.r_[True, a[1:] != a[:-1]]  # runs of equal neighbours first: cheap and common
        a = np.sort(a[keep])
        a = a[np.r_[True, a[1:] != a[:-1]]]
    return a


def _points_in_boxes(bounds: np.ndarray, x, y, sample: int = 10_000) -> int:
    """Estimated number of points inside some polygon's bounding box (from a regular sample)."""
    x, y = np.asarray(x), np.asarray(y)
    if not len(x):
        return 0
    step = max(1, len(x) // sample)
    sx, sy = x[::step], y[::step]
    boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    hit = shapely.STRtree(boxes).query(shapely.points(sx, sy), predicate="intersects")[0]
    return int(len(np.unique(hit)) / len(sx) * len(x))


def _index(f: np.ndarray, n: int) -> np.ndarray:
    """Cell index of a scaled coordinate; NaN and far-away values map outside ``[0, n)``."""
    f = np.nan_to_num(np.floor(f), nan=-1.0, posinf=n, neginf=-1.0)
    return np.clip(f, -1, n).astype(np.int64)


def _integral(v: np.ndarray) -> bool:
    return np.asarray(v).dtype.kind in "biu"
