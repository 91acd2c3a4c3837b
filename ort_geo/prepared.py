"""Zone work that needs neither pandas nor GDAL: the active-mobility km per zone, and the zone
grid of the point-in-polygon engine.

:func:`sector_stats <ort_geo.stats.sector_stats>` computes both itself; ``ort-geo stats`` on a
GeoPackage starts them in a forked child process (:func:`prepare_in_background`, a thread where
the system does not fork) while the process is still loading pydantic, pandas and GDAL, where
one of the two cores would otherwise wait. The statistics then take them only for the very
zones they resolved (:meth:`PreparedZones.matches`): the figures are the same either way.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import struct
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from .assign import HINT_SAMPLE, PolygonGrid, ZoneSums, sized_grid
from .gpkg_blobs import decode_geometries

MOBILITY_LAYER = "mobilites_actives"
#: Mobility line kinds (``statut`` values) and the statistics column of their km.
MOBILITY_COLUMNS = {"existant": "km_mobilites_existantes", "projete": "km_mobilites_projetees"}
#: The layer whose stored points size the zone grid (the largest one).
POINTS_LAYER = "batiments"
#: Where the preparation may run in a forked child: Linux (elsewhere forking a process that
#: loaded system frameworks is unsafe — macOS — or impossible — Windows).
FORKS = sys.platform.startswith("linux")


def line_sums(zones: np.ndarray, lines: Mapping[str, np.ndarray]) -> dict[str, ZoneSums]:
    """Per name of ``lines``, the km of those lines inside each zone, and their total km."""
    out = {}
    for name, geoms in lines.items():
        geoms = np.asarray(geoms, dtype=object)
        total = float(shapely.length(geoms).sum()) / 1000.0 if len(geoms) else 0.0
        out[name] = ZoneSums(_clipped_lengths(zones, geoms) / 1000.0, total)
    return out


def _clipped_lengths(zones: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Per zone, the total length of the lines' intersection with it (same order as summed)."""
    out = np.zeros(len(zones))
    if not len(lines) or not len(zones):
        return out
    tree = shapely.STRtree(lines)
    zi, li = tree.query(zones, predicate="intersects")
    order = np.lexsort((li, zi))
    zi, li = zi[order], li[order]
    # A line the zone covers counts whole: only crossing lines need an intersection.
    shapely.prepare(zones)
    inside = shapely.covers(zones[zi], lines[li])
    lengths = shapely.length(lines[li])
    lengths[~inside] = shapely.length(shapely.intersection(lines[li[~inside]], zones[zi[~inside]]))
    return np.bincount(zi, weights=lengths, minlength=len(zones))


def mobility_sums(zones: np.ndarray, statut: Sequence[Any] | np.ndarray, geoms: np.ndarray
                  ) -> dict[str, ZoneSums]:
    """Existing and planned active-mobility km inside each zone, from the lines' ``statut``
    values and geometries."""
    kinds = np.asarray(statut, dtype=object)
    return line_sums(zones, {column: geoms[kinds == kind]
                             for kind, column in MOBILITY_COLUMNS.items()})


@dataclass
class PreparedZones:
    """The zones of a layer as stored, their grid and their active-mobility km."""

    zones: np.ndarray
    grid: PolygonGrid
    lines: dict[str, ZoneSums]

    def matches(self, zones: np.ndarray) -> bool:
        """True when ``zones`` are these very geometries, in this order."""
        return _same(self.zones, zones)

    def grid_for(self, zones: np.ndarray) -> PolygonGrid | None:
        """The grid, if made of ``zones``."""
        return self.grid if self.matches(zones) else None

    def lines_for(self, zones: np.ndarray) -> dict[str, ZoneSums] | None:
        """The mobility km, if of ``zones``."""
        return self.lines if self.matches(zones) else None


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same geometries, vertex for vertex, in the same order (missing where missing)."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a) != len(b):
        return False
    missing = shapely.is_missing(a)
    return bool((missing == shapely.is_missing(b)).all()
                and (missing | shapely.equals_exact(a, b, 0)).all())


def _connect(path: str | Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def _zones_and_grid(path: str | Path, layer: str) -> tuple[np.ndarray, PolygonGrid]:
    """The zones of ``layer`` in a GeoPackage store, and their grid sized for the stored
    building points, read through SQLite alone."""
    conn = _connect(path)
    try:
        zones = decode_geometries([r[0] for r in conn.execute(
            f'SELECT geom FROM "{layer.replace(chr(34), chr(34) * 2)}" ORDER BY fid')])
        sample = np.array(conn.execute(
            f'SELECT ort_x, ort_y FROM "{POINTS_LAYER}" ORDER BY fid LIMIT ?',
            (HINT_SAMPLE,)).fetchall(), dtype=np.float64).reshape(-1, 2)
        total = conn.execute(f'SELECT count(*) FROM "{POINTS_LAYER}"').fetchone()[0] \
            if len(sample) and len(zones) else 0
    finally:
        conn.close()
    return zones, sized_grid(zones, sample[:, 0], sample[:, 1], total)


def _mobility(path: str | Path, zones: np.ndarray) -> dict[str, ZoneSums]:
    """The active-mobility km of the GeoPackage store's routes in each of ``zones``."""
    conn = _connect(path)
    try:
        rows = conn.execute(f'SELECT statut, geom FROM "{MOBILITY_LAYER}" ORDER BY fid').fetchall()
    finally:
        conn.close()
    geoms = decode_geometries([r[1] for r in rows]) if rows else np.zeros(0, object)
    # On copies: the grid has prepared the zones for its own tests.
    copies = shapely.from_wkb(shapely.to_wkb(zones)) if len(zones) else zones
    return mobility_sums(copies, [r[0] for r in rows], geoms)


def prepare_gpkg(path: str | Path, layer: str) -> PreparedZones:
    """The zones of ``layer`` in a GeoPackage store, their grid sized for the stored building
    points and the mobility km, read through SQLite alone (any error is the caller's)."""
    zones, grid = _zones_and_grid(path, layer)
    return PreparedZones(zones, grid, _mobility(path, zones))


class ZonesInPreparation:
    """:func:`prepare_gpkg` in the background, the grid first: :meth:`grid_for` and
    :meth:`lines_for` wait for their part (None when it failed or is of other zones: the
    statistics then do the work themselves).

    In a thread, or with ``process=True`` in a forked child process on Linux where this
    process runs no other Python thread yet (``ort-geo stats``): a child does not wait
    for this process's GIL, which the imports of pandas and GDAL hold almost all the time — in
    a thread the grid came only after the imports. The child sends the grid, then the km."""

    def __init__(self, path: str | Path, layer: str, *, process: bool = False) -> None:
        self._zones: np.ndarray | None = None
        self._grid: PolygonGrid | None = None
        self._lines: dict[str, ZoneSums] | None = None
        self._grid_done = threading.Event()
        self._child: int | None = None  # its pid until waited for
        self._lock = threading.Lock()
        forked = _fork(path, layer) if process and FORKS and threading.active_count() == 1 \
            else None
        if forked is not None:
            self._child = forked[0]
            self._thread = threading.Thread(target=self._receive, args=forked,
                                            name="ort-geo-prepare", daemon=True)
        else:
            self._thread = threading.Thread(target=self._run, args=(path, layer),
                                            name="ort-geo-prepare", daemon=True)
        self._thread.start()

    def _run(self, path: str | Path, layer: str) -> None:
        # An optimisation only: on any error the statistics' own path reports it.
        try:
            self._zones, self._grid = _zones_and_grid(path, layer)
        except Exception:  # noqa: BLE001
            return
        finally:
            self._grid_done.set()
        try:
            self._lines = _mobility(path, self._zones)
        except Exception:  # noqa: BLE001
            self._lines = None

    def _receive(self, pid: int, pipe: int, data: int) -> None:
        """The child's two values; a part is missing where the child failed."""
        try:
            try:
                self._grid = _received(pipe, data)
                self._zones = self._grid.geoms
            except Exception:  # noqa: BLE001
                return
            finally:
                self._grid_done.set()
            try:
                self._lines = _received(pipe, data)
            except Exception:  # noqa: BLE001
                self._lines = None
        finally:
            os.close(pipe)
            os.close(data)
            with self._lock:  # the pid is not killed once it may belong to another process
                os.waitpid(pid, 0)
                self._child = None

    def _prepared(self, zones: np.ndarray) -> bool:
        return self._zones is not None and _same(self._zones, zones)

    def grid_for(self, zones: np.ndarray) -> PolygonGrid | None:
        self._grid_done.wait()
        return self._grid if self._prepared(zones) else None

    def lines_for(self, zones: np.ndarray) -> dict[str, ZoneSums] | None:
        self._thread.join()
        return self._lines if self._prepared(zones) else None

    def close(self) -> None:
        """Stop a child still preparing (the statistics failed, or did not take its work)."""
        with self._lock:
            if self._child is not None:
                os.kill(self._child, signal.SIGKILL)


_PLACE = struct.Struct("<QQ")


def _fork(path: str | Path, layer: str) -> tuple[int, int, int] | None:
    """A child process preparing the zones: its pid, the reading end of its pipe and the file
    it writes the values to; None when the system refuses (a thread prepares then).

    Values go through a file, only their place through the pipe: the receiving thread then
    needs the GIL a few times, not once per pipe-buffer of data (it would wait for the
    imports at each)."""
    opened: list[int] = []
    try:
        opened.append(os.memfd_create("ort-geo-prepare"))  # a file in memory
        opened.extend(os.pipe())
        pid = os.fork()
    except OSError:  # no memory, processes or descriptors left
        for fd in opened:
            os.close(fd)
        return None
    data, read, write = opened
    if pid:
        os.close(write)
        return pid, read, data
    # The child never returns: it leaves without the parent's exit handlers or buffers.
    try:
        os.close(read)
        zones, grid = _zones_and_grid(path, layer)
        end = _send(write, data, 0, grid)  # the zones are its polygons
        _send(write, data, end, _mobility(path, zones))
    finally:
        os._exit(0)


def _send(pipe: int, data: int, offset: int, value: Any) -> int:
    """Write ``value`` at ``offset`` of the file ``data``, tell its place; where it ends."""
    blob = memoryview(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    at = offset
    while blob:
        done = os.pwrite(data, blob, at)
        blob, at = blob[done:], at + done
    os.write(pipe, _PLACE.pack(offset, at - offset))
    return at


def _received(pipe: int, data: int) -> Any:
    """The next value :func:`_send` wrote (EOFError when the child stopped before it)."""
    place = os.read(pipe, _PLACE.size)
    if len(place) < _PLACE.size:
        raise EOFError("preparation stopped")
    offset, size = _PLACE.unpack(place)
    out = bytearray(size)
    view, got = memoryview(out), 0
    while got < size:
        n = os.preadv(data, [view[got:]], offset + got)
        if not n:
            raise EOFError("preparation file cut short")
        got += n
    return pickle.loads(out)


def prepare_in_background(path: str | Path, layer: str, *, process: bool = False
                          ) -> ZonesInPreparation:
    """Start preparing the zones of ``layer`` (see :class:`ZonesInPreparation`)."""
    return ZonesInPreparation(path, layer, process=process)
