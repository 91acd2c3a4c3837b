"""GeoPackage backend: the embedded default store, one file, written through SQLite.

Tables follow the OGC GeoPackage 1.4 encoding (gpkg_contents, gpkg_geometry_columns, R-tree
extension with its triggers), so GDAL, QGIS and pyogrio read the file as any GeoPackage. Writes go
through SQLite transactions (``BEGIN IMMEDIATE``): a failed write is rolled back and leaves the file
as it was; concurrent writers queue on SQLite's lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..catalogue import LayerSpec
from ..errors import BusyError, InputError, StoreError, os_reason, with_detail
from ..features import Feature, FeatureBatch, _plain, objects, scalars
from ..gpkg_blobs import _wkb_part, decode_geometries
from .base import (
    BATCH_ROWS,
    POINT_LAYERS,
    STORAGE_EPSG,
    UNREAD,
    BBox,
    JournalEntry,
    NotIn,
    Page,
    Store,
    Transaction,
    catalogue_gains,
    check_bbox,
    page_count,
    plain_column,
    representative_xy,
    storage_crs,
    typed_series,
)
from .journal_triggers import (
    GUARD_TABLE,
    install_sqlite,
    normalise_record,
    sqlite_installed,
    sqlite_trigger_names,
)
from .rtree import (
    REMEMBERED_VERTICES,
    HalfPlane,
    NodeCache,
    area_half_planes,
    candidates,
    classify,
    pack,
    rtree_boxes,
)

_SQL_TYPES = {"str": "TEXT", "enum": "TEXT", "int": "INTEGER", "float": "REAL",
              "bool": "BOOLEAN", "date": "DATE"}
#: Layers of at least this many fids are read in two parts at once (statistics).
PARALLEL_ROWS = 2 * BATCH_ROWS
#: Writes of at least this many features (and a quarter of the layer) rebuild the R-tree packed.
PACK_MIN = 1000
#: Writes of at least this many rows set the per-row triggers aside (dropped, then created again
#: in the transaction). Below, the triggers cost less than the schema change, which makes every
#: other connection (readers, other server processes) parse the whole schema again.
TRIGGERS_ASIDE_MIN = 64
#: Page cache (KiB) of a write transaction (large writes must not spill uncommitted pages to
#: disk every 2 MB), and of a connection between writes (SQLite's default).
_WRITE_CACHE_KIB = 262144
_READ_CACHE_KIB = 2000
#: Bytes of the file a read connection maps into memory (SQLite caps it at its build's limit,
#: 2 GiB on Linux): a page the OS caches is read in place, not copied by a system call into
#: the connection's cache. A cold bbox page (100 buildings read by fid, each on its own page
#: of the file) spends half of its row reads in those copies.
_READ_MMAP_BYTES = 1 << 40
#: Python types sqlite3 binds as they are (a numpy integer would be bound as a BLOB).
_SQL_NATIVE = {str, int, float, bool, type(None)}
APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10400  # GeoPackage 1.4 (exports too: ort_geo.io.write)


def geom_column(spec: LayerSpec) -> str:
    """The SQL selecting a layer's geometry blob (NULL for a non-spatial table)."""
    return "geom" if spec.spatial else "NULL"


def geometry_type_name(spec: LayerSpec) -> str:
    if spec.geometry == "Any" or spec.accepts_points:
        return "GEOMETRY"
    return spec.geometry.upper()


# -- GeoPackage geometry blobs ----------------------------------------------------------------

_HEADER = np.dtype([("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4"),
                    ("envelope", "<f8", (4,))])


def encode_geometries(geoms: Sequence[Any], srs_id: int = STORAGE_EPSG) -> list[bytes | None]:
    """GeoPackage binary geometries (little-endian header with an XY envelope, then ISO WKB)."""
    arr = np.asarray(geoms, dtype=object)
    wkbs = shapely.to_wkb(arr, byte_order=1, flavor="iso")
    header = np.zeros(len(arr), dtype=_HEADER)
    header["magic"], header["flags"], header["srs_id"] = b"GP", 0b11, srs_id
    header["envelope"] = shapely.bounds(arr)[:, [0, 2, 1, 3]]  # minx, maxx, miny, maxy
    out = [h + w for h, w in zip(header.view("V40").tolist(), wkbs.tolist(), strict=True)]
    for i in np.flatnonzero(shapely.is_missing(arr) | shapely.is_empty(arr)).tolist():
        # No envelope for an empty geometry, just the "empty" flag; nothing for a missing one.
        out[i] = None if arr[i] is None else b"GP\x00\x11" + struct.pack("<i", srs_id) + wkbs[i]
    return out


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a blob, from its header or, lacking one, its geometry."""
    if blob is None or blob[3] & 0b10000:
        return None
    if (blob[3] >> 1) & 0b111:
        order = "<" if blob[3] & 1 else ">"
        return struct.unpack(order + "4d", blob[8:40])
    minx, miny, maxx, maxy = shapely.from_wkb(_wkb_part(blob)).bounds
    return minx, maxx, miny, maxy


def _st(index: int):
    def fn(blob: bytes | None) -> float | None:
        env = _envelope(blob)
        return None if env is None else env[index]
    return fn


def _st_is_empty(blob: bytes | None) -> int | None:
    return None if blob is None else int(bool(blob[3] & 0b10000))


# -- schema -----------------------------------------------------------------------------------

_BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE IF NOT EXISTS ort_journal (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, author TEXT NOT NULL,
  layer TEXT NOT NULL, feature_id TEXT NOT NULL, operation TEXT NOT NULL,
  before TEXT, after TEXT, message TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS ort_journal_feature ON ort_journal (layer, feature_id, seq);
CREATE TABLE IF NOT EXISTS ort_meta (
  scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key));
"""

#: The R-tree triggers of GeoPackage 1.4 (the version of the store and of exports): updates of the
#: geometry ``UPDATE`` the R-tree row (update6) or insert it (update7) instead of the pre-1.4
#: ``INSERT OR REPLACE`` of update1/update3, whose conflict clause broke UPSERT statements sent by
#: other clients ("INSERT ... ON CONFLICT DO UPDATE"). GDAL's validator expects exactly this set in
#: a 1.4 file (and the old one in 1.3 files), so version and triggers change together.
_RTREE_TRIGGERS = """
CREATE TRIGGER "rtree_{t}_geom_insert" AFTER INSERT ON "{t}"
WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom)) BEGIN
  INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid,
    ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER "rtree_{t}_geom_update2" AFTER UPDATE OF geom ON "{t}"
WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid; END;
CREATE TRIGGER "rtree_{t}_geom_update4" AFTER UPDATE ON "{t}"
WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom)) BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id IN (OLD.fid, NEW.fid); END;
CREATE TRIGGER "rtree_{t}_geom_update5" AFTER UPDATE ON "{t}"
WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom)) BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid;
  INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid,
    ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER "rtree_{t}_geom_update6" AFTER UPDATE OF geom ON "{t}"
WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
  AND (OLD.geom NOTNULL AND NOT ST_IsEmpty(OLD.geom)) BEGIN
  UPDATE "rtree_{t}_geom" SET minx = ST_MinX(NEW.geom), maxx = ST_MaxX(NEW.geom),
    miny = ST_MinY(NEW.geom), maxy = ST_MaxY(NEW.geom) WHERE id = NEW.fid; END;
CREATE TRIGGER "rtree_{t}_geom_update7" AFTER UPDATE OF geom ON "{t}"
WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
  AND (OLD.geom ISNULL OR ST_IsEmpty(OLD.geom)) BEGIN
  INSERT INTO "rtree_{t}_geom" VALUES (NEW.fid,
    ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER "rtree_{t}_geom_delete" AFTER DELETE ON "{t}"
WHEN old.geom NOT NULL BEGIN DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid; END;
"""
# The representative point of each feature of a point layer (POINT_LAYERS) lives in two REAL
# columns written with the feature. Another client (QGIS, GDAL) that changes a geometry cannot
# compute a point on surface in SQLite: this trigger forgets the stale point, and readers compute
# the missing ones. Our own writes set geometry and point together (the point changes, so the
# trigger leaves it).
POINT_COLUMNS = ("ort_x", "ort_y")
_POINT_TRIGGER = """
CREATE TRIGGER "ort_{t}_point_reset" AFTER UPDATE OF geom ON "{t}"
WHEN NEW.ort_x IS OLD.ort_x AND NEW.ort_y IS OLD.ort_y BEGIN
  UPDATE "{t}" SET ort_x = NULL, ort_y = NULL WHERE fid = NEW.fid; END;
CREATE INDEX IF NOT EXISTS "ort_{t}_point_stale" ON "{t}" (fid) WHERE ort_x IS NULL;
"""
#: The partial index above lets readers find the few stale points without scanning the table.
_STALE_INDEX = 'CREATE INDEX IF NOT EXISTS "ort_{t}_point_stale" ON "{t}" (fid) WHERE ort_x IS NULL'


def _has_points(spec: LayerSpec) -> bool:
    return spec.name in POINT_LAYERS


#: Pre-1.4 triggers replaced when an older store is opened.
_OLD_TRIGGERS = ("update1", "update3")


def _trigger_names(t: str) -> list[str]:
    return [f"rtree_{t}_geom_{suffix}" for suffix in
            ("insert", "update2", "update4", "update5", "update6", "update7", "delete")]


def _upgrade_rtree_triggers(conn: sqlite3.Connection) -> None:
    """Bring a store made by an older ort-geo (GeoPackage 1.3, pre-1.4 R-tree triggers) to 1.4, in
    one transaction."""
    old = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rtree_%' AND ("
        + " OR ".join(f"name LIKE '%_geom_{s}'" for s in _OLD_TRIGGERS) + ")")]
    if not old:
        return
    tables = sorted({r[0] for r in conn.execute(
        "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")})
    conn.execute("BEGIN IMMEDIATE")
    try:
        for t in tables:
            for name in _trigger_names(t) + [f"rtree_{t}_geom_{s}" for s in _OLD_TRIGGERS]:
                conn.execute(f'DROP TRIGGER IF EXISTS "{name}"')
            _exec_script(conn, _RTREE_TRIGGERS.format(t=t))
        conn.execute(f"PRAGMA user_version = {USER_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _exec_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one (executescript would commit the open transaction)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


def _srs_rows(epsg: int) -> list[tuple]:
    rows = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
    ]
    for code in (4326, epsg):
        crs = CRS.from_epsg(code)
        rows.append((crs.name, code, "EPSG", code, crs.to_wkt("WKT1_GDAL"), crs.name))
    return rows


#: Descriptors of store files kept open by :func:`_header_fd`: (pid, device, inode) -> (path, fd).
_HEADER_FDS: dict[tuple[int, int, int], tuple[Path, int]] = {}
_HEADER_LOCK = threading.Lock()


def _header_fd(path: Path) -> int:
    """A read-only descriptor of a store file, opened once per process and file and kept open.

    SQLite's locks are POSIX locks, held per process: closing ANY descriptor of the file drops
    all of them, so a write transaction running in another thread would lose its lock while it
    writes, and a writer in another process could then corrupt the file ("database disk image
    is malformed"). Only the descriptors of files deleted or replaced since are closed (no
    connection can still write to them through this path).
    """
    st = os.stat(path)
    key = (os.getpid(), st.st_dev, st.st_ino)
    with _HEADER_LOCK:
        held = _HEADER_FDS.get(key)
        if held is None:
            for other, (where, fd) in list(_HEADER_FDS.items()):
                try:
                    same = other[0] == key[0] and os.stat(where).st_ino == other[2]
                except OSError:
                    same = False
                if not same and other[0] == key[0]:
                    os.close(fd)
                    del _HEADER_FDS[other]
            held = _HEADER_FDS[key] = (path, os.open(path, os.O_RDONLY))
        return held[1]


class GeoPackageStore(Store):
    """A store in one GeoPackage file."""

    def __init__(self, path: str | Path, *, create: bool = False,
                 epsg: int = STORAGE_EPSG) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        # One read connection per thread, kept open: opening one costs more than a small query.
        self._local = threading.local()
        # Every kept connection (reads and writes) with the thread it belongs to.
        self._readers: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()
        self._journal_ready = False  # journal triggers checked (see journal_triggers)
        if not self.path.exists():
            if not create:
                raise StoreError(f"Entrepôt introuvable : {self.path} (créez-le avec ort-geo init).")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._epsg = epsg
            self._create()
        else:
            self._check()

    def _read_epsg(self) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT srs_id FROM gpkg_geometry_columns "
                               "WHERE table_name = 'communes'").fetchone()
        return STORAGE_EPSG if row is None else int(row[0])

    # -- connections --------------------------------------------------------------------------

    def _connect(self, *, shared: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                   check_same_thread=not shared)
        except sqlite3.Error as exc:
            raise with_detail(StoreError(f"Impossible d'ouvrir {self.path} : "
                                         f"{_sqlite_reason(exc)}."), exc) from exc
        conn.execute("PRAGMA foreign_keys = ON")
        for name, fn in (("ST_MinX", _st(0)), ("ST_MaxX", _st(1)), ("ST_MinY", _st(2)),
                         ("ST_MaxY", _st(3)), ("ST_IsEmpty", _st_is_empty)):
            conn.create_function(name, 1, fn, deterministic=True)
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (autocommit: each query sees the last commit), opened
        again when the file was replaced or the process forked."""
        ident = self._ident()
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.ident != ident:
            conn = self._connect(shared=True)
            conn.execute(f"PRAGMA mmap_size = {_READ_MMAP_BYTES}")
            self._local.conn, self._local.ident = conn, ident
            self._keep(conn)
        return conn

    def _nodes(self, conn: sqlite3.Connection) -> NodeCache:
        """What this thread's read connection ``conn`` keeps decoded (R-tree nodes, features'
        geometries and filter outcomes); for another connection, a cache of this read only."""
        if getattr(self._local, "conn", None) is not conn:
            return NodeCache()
        cache = getattr(self._local, "nodes", None)
        if cache is None or cache[0] is not conn:
            cache = self._local.nodes = (conn, NodeCache())
        return cache[1]

    def _writer(self) -> sqlite3.Connection:
        """This thread's write connection, kept open like the readers: a new connection parses
        the whole schema again (~3 ms of CPU on every edit)."""
        ident = self._ident()
        held = getattr(self._local, "writer", None)
        if held is None or held[1] != ident:
            held = self._local.writer = (self._connect(shared=True), ident)
            self._keep(held[0])
        return held[0]

    def _keep(self, conn: sqlite3.Connection) -> None:
        """Remember a kept connection of this thread; close those of threads that ended (a
        server's worker threads come and go: their connections must not pile up)."""
        with self._readers_lock:
            ended = [c for t, c in self._readers if not t.is_alive()]
            self._readers = [(t, c) for t, c in self._readers if t.is_alive()]
            self._readers.append((threading.current_thread(), conn))
        for old in ended:
            old.close()

    def _drop_writer(self, conn: sqlite3.Connection) -> None:
        """Forget and close a write connection left in an unknown state."""
        if getattr(self._local, "writer", (None,))[0] is conn:
            del self._local.writer
        with self._readers_lock:
            self._readers = [(t, c) for t, c in self._readers if c is not conn]
        conn.close()

    def _ident(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise with_detail(StoreError(f"Impossible d'ouvrir {self.path} : "
                                         f"{os_reason(exc)}."), exc) from exc
        return os.getpid(), stat.st_dev, stat.st_ino

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._reader()
        try:
            yield conn
        except sqlite3.Error as exc:
            raise with_detail(StoreError(f"Lecture impossible dans {self.path} : "
                                         f"{_sqlite_reason(exc)}."), exc) from exc

    def close(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for _, conn in readers:
            conn.close()
        self._local = threading.local()

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        conn = self._writer()
        finished = False
        try:
            # Large writes must not spill uncommitted pages to disk every 2 MB (SQLite's default).
            conn.execute(f"PRAGMA cache_size = {-_WRITE_CACHE_KIB}")
            conn.execute("BEGIN IMMEDIATE")
            if not self._journal_ready and not sqlite_installed(conn, self.catalogue):
                install_sqlite(conn, self.catalogue)  # a store created before the triggers
            # Marks this transaction as the tool's: the journal triggers stay silent in it.
            conn.execute(f"INSERT INTO {GUARD_TABLE} VALUES (?)", (os.getpid(),))
            tx = _GpkgTransaction(conn, self.epsg)
            try:
                yield tx
                tx.finish()
                conn.execute(f"DELETE FROM {GUARD_TABLE}")
                conn.execute("COMMIT")
                self._journal_ready = True
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            # The kept connection gives back the large cache (SQLite frees the pages beyond).
            conn.execute(f"PRAGMA cache_size = {-_READ_CACHE_KIB}")
            finished = True
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise BusyError(f"Entrepôt {self.path.name} occupé par une autre écriture : "
                                "réessayez dans un instant.") from exc
            raise with_detail(StoreError(f"Écriture impossible dans {self.path} : "
                                         f"{_sqlite_reason(exc)}."), exc) from exc
        except sqlite3.Error as exc:
            raise with_detail(StoreError(f"Écriture impossible dans {self.path} : "
                                         f"{_sqlite_reason(exc)}."), exc) from exc
        finally:
            if not finished:  # a refused edit (rolled back), or a failure: start afresh then
                try:
                    if conn.in_transaction:
                        raise sqlite3.OperationalError("transaction left open")
                    conn.execute(f"PRAGMA cache_size = {-_READ_CACHE_KIB}")
                except sqlite3.Error:
                    self._drop_writer(conn)

    def _create(self) -> None:
        conn = self._connect()
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {USER_VERSION}")
            conn.execute("BEGIN")
            _exec_script(conn, _BASE_SCHEMA)
            conn.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)",
                             _srs_rows(self.epsg))
            for spec in self.catalogue:
                self._create_layer(conn, spec)
            install_sqlite(conn, self.catalogue)
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            self.path.unlink(missing_ok=True)
            raise
        conn.close()

    def _create_layer(self, conn: sqlite3.Connection, spec: LayerSpec) -> None:
        t = spec.name
        cols = ", ".join(f'"{f.name}" {_SQL_TYPES[f.type]}' for f in spec.fields)
        if not spec.spatial:  # a GeoPackage "attributes" table: no geometry, no R-tree
            conn.execute(f'CREATE TABLE "{t}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
                         f"{cols})")
            conn.execute(f'CREATE UNIQUE INDEX "{t}_{spec.key}_key" ON "{t}" ("{spec.key}")')
            conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, "
                         "description) VALUES (?, 'attributes', ?, ?)", (t, t, spec.title))
            return
        if _has_points(spec):
            cols += ", " + ", ".join(f"{c} REAL" for c in POINT_COLUMNS)
        conn.execute(
            f'CREATE TABLE "{t}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
            f"geom {geometry_type_name(spec)}, {cols})"
        )
        if _has_points(spec):
            _exec_script(conn, _POINT_TRIGGER.format(t=t))
        conn.execute(f'CREATE UNIQUE INDEX "{t}_{spec.key}_key" ON "{t}" ("{spec.key}")')
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
            "VALUES (?, 'features', ?, ?, ?)", (t, t, spec.title, self.epsg))
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                     (t, geometry_type_name(spec), self.epsg))
        conn.execute(f'CREATE VIRTUAL TABLE "rtree_{t}_geom" USING rtree(id, minx, maxx, miny, maxy)')
        conn.execute("INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
                     "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')", (t,))
        _exec_script(conn, _RTREE_TRIGGERS.format(t=t))

    def _check(self) -> None:
        try:
            with self._read() as conn:
                app = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if app == APPLICATION_ID and "ort_journal" in tables:
                    _upgrade_rtree_triggers(conn)
        except (StoreError, sqlite3.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
            raise with_detail(StoreError(f"{self.path} n'est pas un GeoPackage lisible : "
                                         f"{_sqlite_reason(cause)}."), cause) from None
        if app != APPLICATION_ID or "ort_journal" not in tables:
            raise StoreError(f"{self.path} n'est pas un entrepôt ort-geo (GeoPackage créé par "
                             "ort-geo init).")
        self._upgrade(tables)
        self._add_points(tables)

    def _upgrade(self, tables: set[str]) -> None:
        """Add the tables and columns the catalogue gained since the store was created."""
        with self._read() as conn:
            columns = {spec.name: {r[1] for r in conn.execute(f'PRAGMA table_info("{spec.name}")')}
                       for spec in self.catalogue if spec.name in tables}
        new, added = catalogue_gains(self.catalogue, columns)
        if not new and not added:
            return
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for spec in new:
                self._create_layer(conn, spec)
            for spec, f in added:
                conn.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{f.name}" '
                             f"{_SQL_TYPES[f.type]}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise with_detail(StoreError(f"Mise à niveau impossible de {self.path} : "
                                         f"{_sqlite_reason(exc)}."), exc) from exc
        finally:
            conn.close()

    def _add_points(self, tables: set[str]) -> None:
        """Give a store made before stored points its point columns (once; points filled) and
        the index of stale points (``tables``: the names in ``sqlite_master``)."""
        unindexed = [spec for spec in self.catalogue if _has_points(spec)
                     and f"ort_{spec.name}_point_stale" not in tables]
        if not unindexed:
            return
        with self._read() as conn:
            missing = [spec for spec in unindexed if "ort_x" not in {
                r[1] for r in conn.execute(f'PRAGMA table_info("{spec.name}")')}]
        if not missing:
            # Only the index: an optimisation, so a store on a read-only medium still opens.
            if os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK):
                with self._transaction() as tx:
                    for spec in unindexed:
                        tx.conn.execute(_STALE_INDEX.format(t=spec.name))  # type: ignore[attr-defined]
            return
        with self._transaction() as tx:
            conn = tx.conn  # type: ignore[attr-defined]
            for spec in unindexed:
                if spec not in missing:
                    conn.execute(_STALE_INDEX.format(t=spec.name))
            for spec in missing:
                for c in POINT_COLUMNS:
                    conn.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN {c} REAL')
                rows = conn.execute(f'SELECT fid, geom FROM "{spec.name}" '
                                    "WHERE geom IS NOT NULL").fetchall()
                if rows:
                    x, y = representative_xy(decode_geometries([r[1] for r in rows]))
                    conn.executemany(f'UPDATE "{spec.name}" SET ort_x = ?, ort_y = ? '
                                     "WHERE fid = ?", zip(_floats(x), _floats(y),
                                                          [r[0] for r in rows], strict=True))
                _exec_script(conn, _POINT_TRIGGER.format(t=spec.name))

    # -- reads --------------------------------------------------------------------------------

    def _filters(self, spec: LayerSpec, bbox: BBox | None, where: dict[str, Any] | None,
                 ids: Sequence[str] | None) -> tuple[str, list[Any]]:
        clauses, params = ["1=1"], []
        for name, value in (where or {}).items():
            spec.field(name)
            if isinstance(value, NotIn):
                clauses.append(f'("{name}" IS NULL OR "{name}" NOT IN '
                               f'({",".join("?" * len(value.values))}))')
                params += [_sql_value(v) for v in value.values]
                continue
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            if any(v is None for v in values):
                clauses.append(f'"{name}" IS NULL')
                continue
            clauses.append(f'"{name}" IN ({",".join("?" * len(values))})')
            params += [_sql_value(v) for v in values]
        if ids is not None:
            ids = list(ids)
            clauses.append(f'"{spec.key}" IN ({",".join("?" * len(ids))})')
            params += [str(i) for i in ids]
        check_bbox(spec, bbox)
        if bbox is not None:
            clauses.append(f'fid IN (SELECT id FROM "rtree_{spec.name}_geom" '
                           "WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)")
            params += [bbox[0], bbox[2], bbox[1], bbox[3]]
        return " AND ".join(clauses), params

    def read(self, layer, *, bbox=None, where=None, ids=None, columns=None, limit=None,
             offset=0) -> gpd.GeoDataFrame:
        spec = self.spec(layer)
        names = spec.selected_names(columns)
        sql_where, params = self._filters(spec, bbox, where, ids)
        cols = ", ".join(f'"{n}"' for n in names)
        sql = f'SELECT {cols}, {geom_column(spec)} FROM "{layer}" WHERE {sql_where} ORDER BY fid'
        if bbox is None and (limit is not None or offset):
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset)}"
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        frame = _typed_frame(spec, names, rows, self.epsg)
        if bbox is not None:  # the R-tree gives candidates; keep exact intersections
            frame = frame[frame.intersects(shapely.box(*bbox))]
            end = None if limit is None else offset + limit
            frame = frame.iloc[offset:end].reset_index(drop=True)
        return frame

    def count(self, layer, *, bbox=None, where=None) -> int:
        spec = self.spec(layer)
        if bbox is not None:
            return len(self.read(layer, bbox=bbox, where=where, columns=[]))
        sql_where, params = self._filters(spec, None, where, None)
        with self._read() as conn:
            return conn.execute(f'SELECT count(*) FROM "{layer}" WHERE {sql_where}',
                                params).fetchone()[0]

    def read_page(self, layer, *, columns=None, where=None, bbox=None, area=None, limit=None,
                  offset=0, count=False, kept=None, revision=UNREAD):
        # (The revision is not needed: the node cache follows the file's own data_version.)
        spec = self.spec(layer)
        names = spec.selected_names(columns)
        cols = ", ".join(f'"{n}"' for n in names)
        sql_where, params = self._filters(spec, None, where, None)
        select = f'SELECT fid, {cols}, {geom_column(spec)} FROM "{layer}"'
        end = -1 if limit is None else int(limit)
        with self._read() as conn:
            if area is None and bbox is None and kept is None:
                rows = conn.execute(f"{select} WHERE {sql_where} ORDER BY fid "
                                    f"LIMIT {end} OFFSET {int(offset)}", params).fetchall()
                matched = None
                if count:
                    matched = page_count(rows, limit, offset)
                    if matched is None:
                        matched = conn.execute(f'SELECT count(*) FROM "{layer}" WHERE {sql_where}',
                                               params).fetchone()[0]
                values = None
            else:
                # The page's fids first (the R-tree finds a box's), then the rows of those the
                # caller does not keep: one read transaction, so one state of the file.
                with _snapshot(conn):
                    if area is None and bbox is None:
                        text = conn.execute(f'SELECT group_concat(fid) FROM (SELECT fid FROM '
                                            f'"{layer}" WHERE {sql_where} ORDER BY fid LIMIT {end} '
                                            f"OFFSET {int(offset)})", params).fetchone()[0]
                        page = np.fromstring(text or "", dtype=np.int64, sep=",")
                        matched = page_count(page.tolist(), limit, offset) if count else None
                        if count and matched is None:
                            matched = conn.execute(f'SELECT count(*) FROM "{layer}" WHERE '
                                                   f"{sql_where}", params).fetchone()[0]
                    else:
                        fids = self._matching_fids(conn, spec, sql_where, params, bbox, area)
                        matched = len(fids) if count else None
                        page = fids[offset:None if limit is None else offset + int(limit)]
                    values = kept(page.tolist()) if kept is not None else [None] * len(page)
                    read = page[np.array([v is None for v in values], dtype=bool)] \
                        if len(page) else page
                    rows = conn.execute(f"{select} WHERE fid IN (SELECT value FROM json_each(?)) "
                                        "ORDER BY fid", (json.dumps(read.tolist()),)).fetchall() \
                        if len(read) else []
        columns_ = list(zip(*rows, strict=True)) or [()] * (len(names) + 2)
        batch = FeatureBatch(scalars([str(v) for v in columns_[1]]),
                             {n: plain_column(spec.field(n).type, columns_[i + 1])
                              for i, n in enumerate(names)},
                             decode_geometries(columns_[-1]))
        if values is None:
            return Page(list(columns_[0]), [None] * len(rows), batch, matched)
        return Page(page.tolist(), values, batch, matched)

    def _matching_fids(self, conn: sqlite3.Connection, spec: LayerSpec, sql_where: str,
                       params: list[Any], bbox: BBox | None, area: Any) -> np.ndarray:
        """Sorted fids of the features that pass the filters and intersect ``area`` (or the
        box). The R-tree gives the candidates with their boxes (which hold their feature):
        inside a quadrilateral within the area, in it; wholly outside a side of the area, out of
        it; only the few crossing its edge are tested on their geometry.

        Few statements, few rows (see :func:`rtree.candidates`): the tree's nodes, one row of
        filtered fids, the geometries of the undecided candidates. Run in a read transaction."""
        if not spec.spatial:
            raise InputError(f"La couche {spec.name} est une table sans géométrie : pas de "
                             "filtre par emprise.")
        if bbox is None:
            bbox = tuple(shapely.bounds(area).tolist())
        rtree, cache = f"rtree_{spec.name}_geom", self._nodes(conn)
        # A box asked again while the file is unchanged: its matches as they were (a map asks
        # the same boxes again and again). Small areas only: a drawn perimeter is not kept.
        key = None
        if area is None or shapely.get_num_coordinates(area) <= REMEMBERED_VERTICES:
            key = (spec.name, sql_where, *params, *bbox, area)
            conn.execute(f'SELECT 1 FROM "{rtree}_node" WHERE nodeno = 1').fetchone()
            cache.check(conn)  # (after the transaction's first read)
            found = cache.matches.get(key)
            if found is not None:
                return found
        if area is None:
            area = shapely.box(*bbox)
            inner: list[HalfPlane] = [(1.0, 0.0, bbox[2]), (-1.0, 0.0, -bbox[0]),
                                      (0.0, 1.0, bbox[3]), (0.0, -1.0, -bbox[1])]
            outer: list[HalfPlane] = []  # the R-tree's own test
        else:
            inner, outer = area_half_planes(area)
        fids, boxes = candidates(conn, rtree, bbox, cache)
        inside, outside = classify(boxes, inner, outer)
        certain, unsure = fids[inside], fids[~inside & ~outside]
        if sql_where != "1=1":  # the filter's outcome per feature, kept like its geometry
            passing = self._passing(conn, spec, sql_where, params,
                                    np.concatenate([certain, unsure]), cache)
            certain, unsure = certain[passing[:len(certain)]], unsure[passing[len(certain):]]
        if len(unsure):
            unsure = unsure[shapely.intersects(area, self._geometries(conn, spec, unsure, cache))]
        matched = np.sort(np.concatenate([certain, unsure]))
        if key is not None:
            cache.remember(key, matched)
        return matched

    @staticmethod
    def _passing(conn: sqlite3.Connection, spec: LayerSpec, sql_where: str, params: list[Any],
                 fids: np.ndarray, cache: NodeCache) -> np.ndarray:
        """Which of features ``fids`` pass the filter ``sql_where``: those whose outcome
        ``cache`` does not hold asked in one statement, as one row, and kept."""
        rows = cache.rows
        # The filter by number: its text and values (a long list of ids) hashed once per read.
        number = cache.filters.setdefault((spec.name, sql_where, *params), len(cache.filters))
        fids_ = fids.tolist()
        missing = [f for f in fids_ if (number, f) not in rows]
        if missing:
            text = conn.execute(f'SELECT group_concat(fid) FROM "{spec.name}" WHERE fid IN '
                                f"(SELECT value FROM json_each(?)) AND {sql_where}",
                                [json.dumps(missing), *params]).fetchone()[0]
            passed = set(map(int, text.split(","))) if text else set()
            rows.update(((number, f), f in passed) for f in missing)
        return np.array([rows[(number, f)] for f in fids_], dtype=bool)

    @staticmethod
    def _geometries(conn: sqlite3.Connection, spec: LayerSpec, fids: np.ndarray,
                    cache: NodeCache) -> np.ndarray:
        """The geometries of features ``fids`` (None for a missing one): those ``cache`` does
        not hold read in one statement, as one row, and kept."""
        rows = cache.rows
        missing = [f for f in fids.tolist() if (spec.name, f) not in rows]
        if missing:
            found, blobs = conn.execute(
                f'SELECT group_concat(fid), group_concat(hex(geom)) FROM "{spec.name}" '
                "WHERE fid IN (SELECT value FROM json_each(?))",
                (json.dumps(missing),)).fetchone()
            if found is not None:
                geoms = decode_geometries([bytes.fromhex(h) or None for h in blobs.split(",")])
                rows.update(zip([(spec.name, f) for f in map(int, found.split(","))],
                                geoms.tolist(), strict=True))
        return np.array([rows.get((spec.name, f)) for f in fids.tolist()], dtype=object)

    def iter_points(self, layer, fields, *, batch_rows=BATCH_ROWS, fids=None):
        """See :meth:`Store.iter_points`; ``fids`` (first, last) reads that range only."""
        spec = self.spec(layer)
        if not _has_points(spec):
            if fids is not None:
                raise ValueError(f"{layer}: no stored points to read by fid range")
            yield from super().iter_points(layer, fields, batch_rows=batch_rows)
            return
        in_range = None if fids is None else f"fid BETWEEN {int(fids[0])} AND {int(fids[1])}"
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyogrio

        if not _PANDAS_TYPES:
            _pandas_types()
        names = [spec.field(f).name for f in fields]
        # Points another client made stale (trigger) or never set: computed here, by fid.
        with self._read() as conn:
            rows = conn.execute(f'SELECT fid, geom FROM "{layer}" WHERE ort_x IS NULL '
                                "AND geom IS NOT NULL" + (f" AND {in_range}" if in_range else "")
                                + " ORDER BY fid").fetchall()
        stale = np.array([r[0] for r in rows], dtype=np.int64)
        sx, sy = representative_xy(decode_geometries([r[1] for r in rows])) if rows else (
            np.zeros(0), np.zeros(0))
        # Only the needed columns, as Arrow batches straight from GDAL's GeoPackage reader.
        with pyogrio.open_arrow(self.path, layer=layer, columns=[*names, *POINT_COLUMNS],
                                read_geometry=False, return_fids=len(stale) > 0,
                                where=in_range, batch_size=batch_rows,
                                use_pyarrow=True) as (_meta, reader):
            for batch in reader:
                data = {}
                for name in names:
                    column = batch.column(name)
                    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                        column = pc.dictionary_encode(column)  # -> a pandas categorical
                    data[name] = column.to_pandas(types_mapper=_PANDAS_TYPES.get)
                frame = pd.DataFrame(data)
                x = batch.column("ort_x").to_numpy(zero_copy_only=False).astype(np.float64)
                y = batch.column("ort_y").to_numpy(zero_copy_only=False).astype(np.float64)
                if len(stale):
                    fids = batch.column(batch.schema.names[0]).to_numpy(zero_copy_only=False)
                    pos = np.searchsorted(stale, fids)
                    hit = (pos < len(stale)) & (stale[np.minimum(pos, len(stale) - 1)] == fids)
                    x[hit], y[hit] = sx[pos[hit]], sy[pos[hit]]
                frame["x"], frame["y"] = x, y
                yield frame

    def _point_parts(self, layer):
        if not _has_points(self.spec(layer)):
            return [{}]
        with self._read() as conn:
            # Two subqueries: SQLite reads min() or max() of the rowid in O(1), not both at once.
            first, last = conn.execute(f'SELECT (SELECT min(fid) FROM "{layer}"), '
                                       f'(SELECT max(fid) FROM "{layer}")').fetchone()
        if first is None or last - first + 1 < PARALLEL_ROWS:
            return [{}]
        # Two fid ranges read at once (GDAL reads each in a thread of its own): the parts are
        # fixed, not per machine, so that float sums are the same everywhere.
        middle = (first + last) // 2
        return [{"fids": (first, middle)}, {"fids": (middle + 1, last)}]

    def point_sample(self, layer, rows):
        spec = self.spec(layer)
        if not _has_points(spec):
            return super().point_sample(layer, rows)
        # The first stored points (a stale one reads NaN): SQLite alone, while GDAL opens.
        with self._read() as conn:
            got = conn.execute(f'SELECT ort_x, ort_y FROM "{layer}" ORDER BY fid LIMIT ?',
                               (int(rows),)).fetchall()
        xy = np.array(got, dtype=np.float64).reshape(-1, 2)
        return xy[:, 0], xy[:, 1]

    def extent(self, layer) -> BBox | None:
        if not self.spec(layer).spatial:
            return None
        with self._read() as conn:
            row = conn.execute(f'SELECT min(minx), min(miny), max(maxx), max(maxy) '
                               f'FROM "rtree_{layer}_geom"').fetchone()
            if row[0] is None:
                return None
            # The R-tree rounds outwards to float32: take exact bounds from the features.
            blobs = [r[0] for r in conn.execute(f'SELECT geom FROM "{layer}"')]
        return tuple(shapely.total_bounds(decode_geometries(blobs)).tolist())  # type: ignore[return-value]

    def revision(self, layer=None) -> tuple[Any, ...] | None:
        # For one layer: its journal (triggers journal other clients' edits).
        if layer is not None:
            with self._read() as conn:
                seq, n = conn.execute("SELECT coalesce(max(seq), 0), count(*) FROM ort_journal "
                                      "WHERE layer = ?", (layer,)).fetchone()
            return self._local.ident[2], int(seq), int(n)
        # The whole store, metadata included, by any client of any process: SQLite's file
        # change counter (header bytes 24-27, bumped by every commit in rollback-journal mode)
        # with the file's size and time (a WAL checkpoint writes it).
        try:
            fd = _header_fd(self.path)  # never closed: see there
            head, stat = os.pread(fd, 4, 24), os.fstat(fd)
        except OSError as exc:
            raise with_detail(StoreError(f"Impossible d'ouvrir {self.path} : "
                                         f"{os_reason(exc)}."), exc) from exc
        if os.path.exists(f"{self.path}-wal"):
            return None  # WAL mode (QGIS may set it): commits do not touch the file, no token
        return head, stat.st_ino, stat.st_size, stat.st_mtime_ns

    def history(self, layer, feature_id) -> list[JournalEntry]:
        self.spec(layer)
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM ort_journal WHERE layer = ? AND feature_id = ? "
                                "ORDER BY seq", (layer, str(feature_id))).fetchall()
        return [_journal_entry(r) for r in rows]

    def journal(self, *, layer=None, limit=None, since=None, author=None) -> list[JournalEntry]:
        # From a date on, the time index finds the few recent entries ("+" keeps SQLite off the
        # other indexes, ORDER BY would make it scan in seq order): sorted here instead.
        plus = "+" if since is not None else ""
        sql, params = "SELECT * FROM ort_journal WHERE 1=1", []
        if layer is not None:
            sql += f" AND {plus}layer = ?"
            params.append(layer)
        if since is not None:
            sql += " AND ts > ?"
            params.append(str(since))
        if author is not None:
            sql += " AND author = ?"
            params.append(author)
        if since is None:
            sql += " ORDER BY seq"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        if since is not None:
            rows = sorted(rows, key=lambda r: r[0])[:limit]
        return [_journal_entry(r) for r in rows]

    def get_meta(self, scope) -> dict[str, str]:
        with self._read() as conn:
            return dict(conn.execute("SELECT key, value FROM ort_meta WHERE scope = ?", (scope,)))

    def meta_scopes(self) -> list[str]:
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT scope FROM ort_meta ORDER BY scope")]


class _GpkgTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection, epsg: int = STORAGE_EPSG) -> None:
        self.conn = conn
        self.epsg = epsg
        self.touched: set[str] = set()

    def fetch(self, layer, ids):
        # Plain values without a frame (an edit fetches one row): pandas would cost more.
        return {f.id: f for f in self.fetch_batch(layer, ids).features()}

    def fetch_batch(self, layer, ids):
        names = _others(layer)
        cols = ", ".join(f'"{n}"' for n in [layer.key, *names])
        sql = f'SELECT {cols}, {geom_column(layer)} FROM "{layer.name}"'
        rows = (self.conn.execute(sql + " ORDER BY fid").fetchall() if ids is None
                else self._rows_of(sql, layer.key, ids))
        values = list(zip(*rows, strict=True)) or [()] * (len(names) + 2)
        columns = {n: plain_column(layer.field(n).type, values[i + 1])
                   for i, n in enumerate(names)}
        return FeatureBatch(objects([str(v) for v in values[0]]), columns,
                            decode_geometries(values[-1]))

    def insert(self, layer, features):
        self.insert_batch(layer, FeatureBatch.from_features(features, _others(layer)))

    def update(self, layer, features):
        self.update_batch(layer, FeatureBatch.from_features(features, _others(layer)))

    def insert_batch(self, layer, batch):
        if not len(batch):
            return
        names = _others(layer)
        first = self.conn.execute(
            f"""SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0),
                           coalesce((SELECT max(fid) FROM "{layer.name}"), 0)) + 1""",
            (layer.name,)).fetchone()[0]
        fids = range(first, first + len(batch))
        stored = [layer.key, *names]
        cols = ", ".join([f'"{n}"' for n in stored] + list(_point_columns(layer)))
        if not layer.spatial:
            cols = ", ".join(f'"{n}"' for n in stored)
            self.conn.executemany(
                f'INSERT INTO "{layer.name}" (fid, {cols}) '
                f'VALUES ({",".join("?" * (len(names) + 2))})',
                zip(fids, *self._columns(layer, batch, names)[1:], strict=True))
            self.touched.add(layer.name)
            return
        with self._rtree_by_hand(layer, len(batch)):
            self.conn.executemany(
                f'INSERT INTO "{layer.name}" (fid, geom, {cols}) '
                f'VALUES ({",".join("?" * (len(stored) + 2 + len(_point_columns(layer))))})',
                zip(fids, *self._columns(layer, batch, names), strict=True))
            self._index(layer, fids, batch.geometry)

    def update_batch(self, layer, batch):
        if not len(batch):
            return
        names = _others(layer)
        blobs, ids, *values = self._columns(layer, batch, names)
        if not layer.spatial:
            sets = ", ".join(f'"{n}" = ?' for n in names)
            self.conn.executemany(f'UPDATE "{layer.name}" SET {sets} WHERE "{layer.key}" = ?',
                                  zip(*values, ids, strict=True))
            self.touched.add(layer.name)
            return
        sets = ", ".join(["geom = ?"] + [f'"{n}" = ?' for n in names]
                         + [f"{c} = ?" for c in _point_columns(layer)])
        with self._rtree_by_hand(layer, len(batch)):
            self.conn.executemany(f'UPDATE "{layer.name}" SET {sets} WHERE "{layer.key}" = ?',
                                  zip(blobs, *values, ids, strict=True))
            self._index(layer, self._fids(layer, ids), batch.geometry)

    def _columns(self, layer: LayerSpec, batch: FeatureBatch, names: list[str]) -> list[Any]:
        """SQL parameters column by column: blobs, keys, the other fields, then the stored
        representative point (point layers)."""
        blobs = (encode_geometries(batch.geometry, self.epsg)  # type: ignore[arg-type]
                 if layer.spatial else None)
        out: list[Any] = [blobs, batch.ids.tolist()]  # type: ignore[arg-type]
        for name in names:
            column = batch.columns.get(name)
            values = [None] * len(batch) if column is None else column.tolist()
            if not set(map(type, values)) <= _SQL_NATIVE:  # numpy scalars, dates…
                values = [_sql_value(v) for v in values]
            out.append(values)
        if _has_points(layer):
            out += [_floats(v) for v in representative_xy(batch.geometry)]
        return out

    def _fids(self, layer: LayerSpec, ids: list[str]) -> list[int]:
        fids = dict(self._rows_of(f'SELECT "{layer.key}", fid FROM "{layer.name}"', layer.key,
                                  ids))
        return [fids[i] for i in ids]

    def _rows_of(self, sql: str, key: str, ids: Sequence[str]) -> list[tuple]:
        """The rows of ``sql`` (a SELECT without WHERE) whose ``key`` is one of ``ids``, asked
        in chunks under SQLite's limit of bound variables."""
        ids = [str(i) for i in ids]
        rows: list[tuple] = []
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            rows += self.conn.execute(
                f'{sql} WHERE "{key}" IN ({",".join("?" * len(chunk))})', chunk).fetchall()
        return rows

    def _index(self, layer: LayerSpec, fids: Sequence[int], geoms: np.ndarray) -> None:
        """R-tree rows of written features, from bounds computed in bulk (as the triggers would)."""
        indexed = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        fids = np.asarray(fids, dtype="int64")  # type: ignore[assignment]
        boxes = rtree_boxes(shapely.bounds(geoms[indexed]))
        rtree = f"rtree_{layer.name}_geom"
        if len(fids) >= PACK_MIN:
            stored = self.conn.execute(f'SELECT count(*) FROM "{rtree}_rowid"').fetchone()[0]
            if len(fids) * 4 >= stored:  # a large share of the layer: rebuild the tree packed
                old = np.array(self.conn.execute(f'SELECT * FROM "{rtree}"').fetchall(),
                               dtype="float64").reshape(-1, 5)
                kept = ~np.isin(old[:, 0].astype("int64"), fids)
                pack(self.conn, rtree, np.concatenate([old[kept, 0].astype("int64"),
                                                       fids[indexed]]),
                     np.concatenate([old[kept, 1:].astype("float32"), boxes]))
                return
        self.conn.executemany(f'DELETE FROM "{rtree}" WHERE id = ?',
                              [(f,) for f in fids[~indexed].tolist()])
        self.conn.executemany(f'INSERT OR REPLACE INTO "{rtree}" VALUES (?, ?, ?, ?, ?)',
                              zip(fids[indexed].tolist(), *boxes.T.tolist(), strict=True))

    @contextmanager
    def _rtree_by_hand(self, layer: LayerSpec, rows: int) -> Iterator[None]:
        """Set aside the R-tree triggers that call Python per row, for this transaction's bulk
        statements of ``rows`` rows; they are back (same SQL) before anyone else can see the
        tables. A small write keeps them (the R-tree rows are written again by hand anyway)."""
        if rows < TRIGGERS_ASIDE_MIN:
            yield
            self.touched.add(layer.name)
            return
        names = _trigger_names(layer.name)[:-1]  # the delete trigger is plain SQL: keep it
        # The journal triggers are silent in the tool's transactions anyway: spare their cost.
        names += sqlite_trigger_names([layer])[:2]
        sql = dict(self.conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            f"AND name IN ({','.join('?' * len(names))})", names).fetchall())
        for name in sql:
            self.conn.execute(f'DROP TRIGGER "{name}"')
        yield
        for name in names:
            if name in sql:
                self.conn.execute(sql[name])
        self.touched.add(layer.name)

    def delete(self, layer, ids):
        if not ids:
            return
        self.conn.executemany(f'DELETE FROM "{layer.name}" WHERE "{layer.key}" = ?',
                              [(str(i),) for i in ids])
        self.touched.add(layer.name)

    def journal(self, entries):
        self.conn.executemany(
            "INSERT INTO ort_journal (seq, ts, author, layer, feature_id, operation, before, "
            "after, message) VALUES (?,?,?,?,?,?,?,?,?)",  # seq NULL: numbered by SQLite
            [(e.seq or None, e.timestamp, e.author, e.layer, e.feature_id, e.operation,
              _dump(e.before), _dump(e.after), e.message) for e in entries])

    def journal_batch(self, batch):
        before, after = batch.records_json()
        self.conn.executemany(
            "INSERT INTO ort_journal (ts, author, layer, feature_id, operation, before, after, "
            "message) VALUES (?,?,?,?,?,?,?,?)",
            zip(repeat(batch.timestamp), repeat(batch.author), repeat(batch.layer),
                batch.feature_ids.tolist(), batch.operations.tolist(), before.tolist(),
                after.tolist(), repeat(batch.message)))

    def set_meta(self, scope, values):
        for key, value in values.items():
            if value is None:
                self.conn.execute("DELETE FROM ort_meta WHERE scope = ? AND key = ?", (scope, key))
            else:
                self.conn.execute("INSERT OR REPLACE INTO ort_meta VALUES (?, ?, ?)",
                                  (scope, key, str(value)))

    def finish(self) -> None:
        """Keep gpkg_contents' extent and last change in step with the tables."""
        for t in self.touched:
            if self.conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name = ?",
                                 (t,)).fetchone()[0] == "attributes":
                self.conn.execute("UPDATE gpkg_contents SET last_change = "
                                  "strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?", (t,))
                continue
            self.conn.execute(
                f"""UPDATE gpkg_contents SET
                    last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
                    min_x = (SELECT min(minx) FROM "rtree_{t}_geom"),
                    min_y = (SELECT min(miny) FROM "rtree_{t}_geom"),
                    max_x = (SELECT max(maxx) FROM "rtree_{t}_geom"),
                    max_y = (SELECT max(maxy) FROM "rtree_{t}_geom")
                    WHERE table_name = ?""", (t,))


_PANDAS_TYPES: dict[Any, Any] = {}


def _pandas_types() -> None:
    """Arrow -> pandas types keeping missing values (nullable integers and booleans)."""
    import pyarrow as pa

    _PANDAS_TYPES.update({pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype(),
                          pa.int32(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype()})


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction on an autocommit connection: its statements see one state of the file
    (a commit of another connection waits until it ends)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _point_columns(layer: LayerSpec) -> tuple[str, ...]:
    return POINT_COLUMNS if _has_points(layer) else ()


def _floats(values: np.ndarray) -> list[float | None]:
    """Coordinates as SQL values (NaN, for a missing geometry, stored as NULL)."""
    return [None if v != v else v for v in np.asarray(values, dtype=np.float64).tolist()]


def _sql_value(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _others(layer: LayerSpec) -> list[str]:
    return [n for n in layer.field_names if n != layer.key]


def _dump(feature: Feature | None) -> str | None:
    return None if feature is None else json.dumps(feature.to_record(), ensure_ascii=False)


def _blob_wkt(hex_text: str) -> str | None:
    geom = decode_geometries([bytes.fromhex(hex_text)])[0]
    return None if geom is None else shapely.to_wkt(geom, rounding_precision=-1)


def _journal_entry(row: tuple) -> JournalEntry:
    seq, ts, author, layer, fid, op, before, after, message = row
    def load(s):
        if s is None:
            return None
        return Feature.from_record(normalise_record(layer, json.loads(s), _blob_wkt))
    return JournalEntry(seq, ts, author, layer, fid, op, load(before), load(after), message)


def _typed_frame(spec: LayerSpec, names: list[str], rows: list[tuple],
                 epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    """A GeoDataFrame typed by the catalogue from raw SQL rows (last column: geometry blob)."""
    data: dict[str, Any] = {}
    for i, name in enumerate(names):
        column = [r[i] for r in rows]
        data[name] = typed_series(spec, name, column)
    geoms = decode_geometries([r[-1] for r in rows]) if rows else np.array([], dtype=object)
    crs = storage_crs(epsg)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


#: SQLite's (English) reasons a file cannot be read, in French: (words of its message, French).
_SQLITE_REASONS = (
    ("file is not a database", "ce n'est pas une base SQLite (fichier d'un autre type)"),
    ("malformed", "fichier endommagé"),
    ("unable to open", "impossible d'ouvrir le fichier (chemin ou droits)"),
    ("locked", "fichier verrouillé par un autre programme (réessayez)"),
    ("readonly", "fichier en lecture seule"),
    ("disk i/o error", "erreur de lecture du disque"),
    ("full", "plus de place sur le disque"),
    ("no such", "structure inattendue (entrepôt d'une autre version d'ort-geo ?)"),
)


def _sqlite_reason(exc: BaseException) -> str:
    """Why SQLite cannot read a file, in French (SQLite's text is the error's detail)."""
    text = str(exc).lower()
    return next((reason for words, reason in _SQLITE_REASONS if words in text),
                "fichier illisible (détail technique avec ort-geo -v)")

