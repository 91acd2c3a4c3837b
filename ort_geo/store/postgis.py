"""PostGIS backend: one store shared by many users and processes, in a PostgreSQL schema.

Open it with ``open_store("postgresql://user:password@host:5432/db?schema=mon_territoire")``
(``schema`` defaults to ``public``; one database may hold several stores, one per schema).

Each catalogue layer is a table with typed columns, a ``geom geometry(<Kind>, <SRID>)`` column (the
territory's CRS, ``Store.epsg``) and a
GiST index; ``ort_journal`` and ``ort_meta`` mirror the GeoPackage tables. Geometries travel as
WKB in binary mode both ways (shapely vectorised encoding, ``COPY`` for bulk inserts).

Concurrency: writes run in READ COMMITTED transactions whose ``fetch`` locks the rows it returns
(``SELECT … FOR UPDATE``). A second writer of the same feature waits for the first to commit, then
sees its version, so the ETag check in :class:`~ort_geo.store.base.Store` cannot lose an update,
whichever process the writers run in. Two writers creating the same new id collide on the unique
key and the second gets a :class:`~ort_geo.errors.ConflictError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..catalogue import LayerSpec
from ..errors import (
    BusyError,
    ConflictError,
    InputError,
    StoreError,
    require_module,
    with_detail,
)
from ..features import Feature, FeatureBatch, _plain, scalars
from ..measures import Condition, Measure
from ..validation import coerce_value
from .base import (
    BATCH_ROWS,
    POINT_LAYERS,
    PREFETCH_DEPTH,
    STORAGE_EPSG,
    UNREAD,
    BBox,
    JournalEntry,
    NotIn,
    Page,
    Store,
    Transaction,
    ValueBatch,
    ZoneSums,
    catalogue_gains,
    check_bbox,
    plain_column,
    prefetched,
    storage_crs,
    typed_series,
)
from .gpkg import geometry_type_name
from .journal_triggers import (
    PG_FUNCTION,
    PG_REVISION_TABLE,
    PG_REVISION_TRIGGER,
    PG_SETTING,
    PG_TRIGGER,
    PG_TRUNCATE_TRIGGER,
    PG_VERSION,
    normalise_record,
    pg_install_sql,
    pg_layer_sql,
)
from .rtree import REMEMBERED_VERTICES, area_half_planes

if TYPE_CHECKING:
    import psycopg

_SQL_TYPES = {"str": "text", "enum": "text", "int": "bigint", "float": "double precision",
              "bool": "boolean", "date": "date"}
log = logging.getLogger(__name__)
#: Seconds a write waits for the rule-check lock (or a locked row) before answering "busy".
LOCK_TIMEOUT_S = 30
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# The representative point of each feature of a point layer, kept by PostgreSQL itself on every
# write, whoever the writer (ort-geo, QGIS, psql): statistics join on it without geometries.
_POINT_COLUMN = ("ort_point geometry(Point, {epsg}) "
                 "GENERATED ALWAYS AS (ST_PointOnSurface(geom)) STORED")


#: libpq's status of a result with rows, of a command (psycopg.pq.ExecStatus).
_TUPLES_OK, _COMMAND_OK = 2, 1
#: The store's revision (:meth:`PostGISStore.revision`) of a schema made before its revision
#: table (journal_triggers.pg_revision_sql): the cluster's snapshot. Prepared on threads' own
#: connections, as the schema's (named after the statement: one name, one text).
_SNAPSHOT_SQL = b"SELECT pg_current_snapshot()::text"

#: Share of the last pages' features their callers kept (:meth:`PostGISStore.read_page`) below
#: which a page is read whole in one statement rather than its ids, then the rows not kept: the
#: second statement costs about what reading the rows of half a page does (benchmarks.pg_pages).
KEPT_SHARE = 0.5
#: Pages over which that share is averaged.
KEPT_PAGES = 8
#: Pages whose rows and count a store remembers (:meth:`PostGISStore.read_page`): ~20 kB each
#: for 100 features.
KEPT_QUERIES = 1024

#: Rows from which a layer's statistics are computed by parallel sessions (zone_sums).
PARALLEL_ROWS = 1_000_000
#: Share of a layer's rows in the zones (estimated) from which statistics read the whole layer
#: sequentially rather than each zone's candidates through the GiST index, whose every probe
#: lands on a heap page of its own. Measured on 20 M synthetic buildings (warm caches, 2 cores
#: under load): zones holding 4.7 % of them, join 27.8 s / sequential 30.7 s; 2.6 %, join 13.3 s;
#: 28 %, join 131.8 s / sequential 34.8 s. A cold cache or a slow disk moves it lower.
SCAN_SHARE = 0.05
#: Records per message of the sequential read (one bytea per range of heap pages).
SCAN_MESSAGE_ROWS = 4096


def _psycopg():
    return require_module("psycopg", "postgis"), require_module("psycopg_pool", "postgis")


def split_url(url: str) -> tuple[str, str]:
    """(libpq connection URL, schema) from a store URL carrying an optional ``schema=`` parameter."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed [ in the host
        raise with_detail(StoreError(f"Base PostGIS inaccessible ({masked(url)}) : URL de "
                                     "connexion invalide."), exc) from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    schema = schemas[-1] if schemas else "public"
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(f"Nom de schéma PostgreSQL invalide : « {schema} » (minuscules, chiffres, _).")
    # libpq's parameters kept as written: decoded and encoded again, ``options=-c%20x%3D1``
    # came out as ``-c+x%3D1`` (libpq reads no ``+`` as a space: "unrecognized parameter +x").
    rest = "&".join(pair for pair in parts.query.split("&")
                    if pair and unquote(pair.partition("=")[0]) != "schema")
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


def masked(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostGISStore(Store):
    """A store in a PostgreSQL/PostGIS schema."""

    def __init__(self, url: str, *, create: bool = False, pool_size: int = 4,
                 epsg: int = STORAGE_EPSG) -> None:
        self.url = url
        self.conninfo, self.schema = split_url(url)
        self._pool_size = pool_size
        self._pool: Any = None
        self._pool_lock = threading.Lock()
        # Threads' own connections (_reading), with the process that opened each.
        self._owned: list[tuple[threading.Thread, Any, int]] = []
        self._pid = os.getpid()
        # The connection of the write transaction whose check this thread runs (_connection).
        self._local = threading.local()
        self._journal_ready = False  # journal triggers checked (see journal_triggers)
        self._kept_share = 1.0  # of the last pages' features, kept by their callers (read_page)
        # Pages' rows (tuple ids and versions, fids) and counts by query, with their revision.
        self._pages: OrderedDict[Hashable, tuple[Any, list[tuple], int | None]] = OrderedDict()
        self._pages_lock = threading.Lock()
        self._revision_sql = _SNAPSHOT_SQL  # the schema's own once its table exists
        psycopg, _ = _psycopg()
        try:
            with psycopg.connect(self.conninfo, connect_timeout=10) as conn:
                if not self._exists(conn):
                    if not create:
                        raise StoreError(
                            f"Aucun entrepôt ort-geo dans le schéma « {self.schema} » de "
                            f"{masked(self.conninfo)} (créez-le avec ort-geo init).")
                    self._epsg = epsg
                    self._create(conn)
                else:
                    row = conn.execute(
                        "SELECT srid FROM geometry_columns WHERE f_table_schema = %s "
                        "AND f_table_name = 'communes'", (self.schema,)).fetchone()
                    self._epsg = STORAGE_EPSG if row is None else int(row[0])
                    self._upgrade(conn)
                    self._add_points(conn)
                self._find_revision(conn)
        except psycopg.Error as exc:
            raise with_detail(StoreError(f"Base PostGIS inaccessible ({masked(self.conninfo)}) : "
                                         f"{_connection_reason(exc)}."), _reason(exc)) from None

    def _read_epsg(self) -> int:
        return STORAGE_EPSG  # read (or set) when the store is opened

    def __repr__(self) -> str:
        return f"PostGISStore({masked(self.conninfo)!r}, schema={self.schema!r})"

    # -- connections --------------------------------------------------------------------------

    def _t(self, name: str) -> str:
        return f'"{self.schema}"."{name}"'

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; psycopg errors become the library's, in French.

        While a write transaction of this thread runs its rule check (:meth:`_PgTransaction.
        reads`), the transaction's own connection: a writer never waits for a second pooled
        connection while holding one — with as many writers as connections, each waiting for
        another, the pool would run dry.
        """
        held = getattr(self._local, "conn", None)
        if held is not None and self._pid == os.getpid():
            yield held
            return
        psycopg, psycopg_pool = _psycopg()
        if self._pool is None or self._pid != os.getpid():  # never share sockets across fork
            with self._pool_lock:  # one pool: threads racing here would each open one
                if self._pool is None or self._pid != os.getpid():
                    self._pool = psycopg_pool.ConnectionPool(
                        self.conninfo, min_size=1, max_size=self._pool_size, open=True,
                        # Autocommit: a read is one round trip, not BEGIN + query + the
                        # ROLLBACK the pool sends when it gets the connection back; writes
                        # open their transaction explicitly (conn.transaction()).
                        timeout=30, kwargs={"connect_timeout": 10, "autocommit": True},
                        name=f"ort-geo:{self.schema}")
                    self._pid = os.getpid()
        with self._errors(), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        """A connection for reads that end inside the ``with`` (no cursor left open): this
        thread's own, kept open — two hand-overs of a pooled connection per request cost a
        server more CPU than its revision query. The pool's when this thread's own is in use
        (a nested read); the transaction's inside a write's rule check, as :meth:`_connection`.
        A server's handler threads are few (``--threads``); the connections of ended threads
        are closed (:meth:`_keep`)."""
        own = getattr(self._local, "own", None)
        if getattr(self._local, "conn", None) is not None or getattr(self._local, "busy", False):
            with self._connection() as conn:
                yield conn
            return
        with self._errors():
            if own is None or own.closed or own.broken or own.pgconn.status != 0 \
                    or self._local.own_pid != os.getpid():  # never share sockets across fork
                psycopg, _ = _psycopg()
                own = psycopg.connect(self.conninfo, connect_timeout=10, autocommit=True)
                self._local.own, self._local.own_pid = own, os.getpid()
                self._keep(own)
            self._local.busy = True
            try:
                yield own
            finally:
                self._local.busy = False

    def _keep(self, conn: psycopg.Connection) -> None:
        """Remember a thread's own connection; close those of threads that ended."""
        with self._pool_lock:
            ended = [(c, pid) for t, c, pid in self._owned if not t.is_alive()]
            self._owned = [kept for kept in self._owned if kept[0].is_alive()]
            self._owned.append((threading.current_thread(), conn, os.getpid()))
        for old, pid in ended:
            if pid == os.getpid():  # a forked child leaves its parent's sockets alone
                old.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg's errors as the library's, in French."""
        psycopg, psycopg_pool = _psycopg()
        try:
            yield
        except psycopg_pool.PoolTimeout:
            raise BusyError("Base PostGIS saturée (aucune connexion libre) : réessayez dans "
                            "un instant.") from None
        except psycopg.errors.LockNotAvailable:
            raise BusyError("Modifications en file d'attente trop longue : réessayez dans un "
                            "instant.") from None
        except psycopg.errors.UniqueViolation as exc:
            raise with_detail(ConflictError("Un autre utilisateur vient de créer un objet avec le "
                                            "même identifiant : rechargez avant de réessayer."),
                              _reason(exc)) from None
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            raise with_detail(ConflictError("Modification concurrente d'un autre utilisateur : "
                                            "réessayez."), _reason(exc)) from None
        except psycopg.Error as exc:
            raise with_detail(StoreError(f"Erreur PostGIS ({masked(self.conninfo)}, schéma "
                                         f"{self.schema}) : {_connection_reason(exc)}."),
                              _reason(exc)) from None

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
        with self._connection() as conn, conn.transaction():
            # Marks this transaction as the tool's: the journal triggers stay silent in it.
            conn.execute("SELECT set_config(%s, 'on', true)", (PG_SETTING,))
            installed = False
            if not self._journal_ready and not self._triggers_installed(conn):
                self._install_triggers(conn)  # a store created before the triggers
                installed = True
            yield _PgTransaction(conn, self)
        self._journal_ready = True  # committed
        if installed:
            with self._connection() as conn:
                self._find_revision(conn)

    def _schema_changed(self, conn: psycopg.Connection) -> None:
        """A new revision for a change of tables or columns (no row written: no trigger)."""
        table = self._t(PG_REVISION_TABLE)
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
            conn.execute(f"UPDATE {table} SET n = n + 1")

    def _find_revision(self, conn: psycopg.Connection) -> None:
        """Read the schema's own revision (its table) rather than the cluster's snapshot once
        the table exists (made with the journal triggers: a store's first write installs them)."""
        table = self._t(PG_REVISION_TABLE)
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
            self._revision_sql = f"SELECT token || ':' || n FROM {table}".encode()

    def _triggers_installed(self, conn: psycopg.Connection) -> bool:
        version = conn.execute(
            "SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = %s AND p.proname = %s",
            (self.schema, PG_FUNCTION)).fetchone()
        if version is None or version[0] != PG_VERSION:
            return False
        count = conn.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND t.tgname IN (%s, %s, %s)",
            (self.schema, PG_TRIGGER, PG_TRUNCATE_TRIGGER, PG_REVISION_TRIGGER)).fetchone()
        # Per layer: journal, truncation, revision; revision on the journal, metadata, writers.
        return count[0] == 3 * len(self.catalogue.names) + 3

    def _install_triggers(self, conn: psycopg.Connection) -> None:
        """The functions and triggers that journal other clients' edits (journal_triggers)."""
        postgis = conn.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                               "ON n.oid = e.extnamespace WHERE e.extname = 'postgis'").fetchone()
        for sql in pg_install_sql(self.schema, postgis[0] if postgis else "public"):
            conn.execute(sql)
        for spec in self.catalogue:
            for sql in pg_layer_sql(self.schema, spec):
                conn.execute(sql)

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None
        with self._pool_lock:
            owned, self._owned = self._owned, []
        for _, conn, pid in owned:
            if pid == os.getpid():
                conn.close()
        self._local = threading.local()

    # -- schema -------------------------------------------------------------------------------

    def _exists(self, conn: psycopg.Connection) -> bool:
        row = conn.execute("SELECT to_regclass(%s)", (self._t("ort_journal"),)).fetchone()
        return row is not None and row[0] is not None

    def _create(self, conn: psycopg.Connection) -> None:
        psycopg, _ = _psycopg()
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            except psycopg.Error as exc:
                raise StoreError(
                    "L'extension PostGIS manque dans la base et ce compte ne peut pas l'installer "
                    f"({_reason(exc)}) : un administrateur doit exécuter CREATE EXTENSION postgis."
                ) from None
        with conn.transaction():
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f"""CREATE TABLE {self._t("ort_journal")} (
                seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, ts text NOT NULL,
                author text NOT NULL, layer text NOT NULL, feature_id text NOT NULL,
                operation text NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
                before jsonb, after jsonb, message text NOT NULL DEFAULT '')""")
            conn.execute(f'CREATE INDEX ON {self._t("ort_journal")} (layer, feature_id, seq)')
            conn.execute(f"""CREATE TABLE {self._t("ort_meta")} (scope text NOT NULL,
                key text NOT NULL, value text NOT NULL, PRIMARY KEY (scope, key))""")
            for spec in self.catalogue:
                self._create_layer(conn, spec)
            self._install_triggers(conn)

    def _upgrade(self, conn: psycopg.Connection) -> None:
        """Add the tables and columns the catalogue gained since the store was created."""
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = %s", (self.schema,)).fetchall()
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
        new, added = catalogue_gains(self.catalogue, columns)
        if not new and not added:
            return
        with conn.transaction():
            self._schema_changed(conn)
            for spec in new:
                self._create_layer(conn, spec)
            for spec, f in added:
                conn.execute(f'ALTER TABLE {self._t(spec.name)} ADD COLUMN IF NOT EXISTS '
                             f'"{f.name}" {_SQL_TYPES[f.type]}')
                conn.execute(f'COMMENT ON COLUMN {self._t(spec.name)}."{f.name}" IS '
                             f"{_literal(f.label)}")

    def _add_points(self, conn: psycopg.Connection) -> None:
        """Give a store made before stored points its point column (computed by PostgreSQL)."""
        names = [name for name in POINT_LAYERS if name in self.catalogue.names]
        have = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name = 'ort_point' AND table_name = ANY(%s)", (self.schema, names))}
        missing = [n for n in names if n not in have]
        if missing:
            with conn.transaction():
                self._schema_changed(conn)
                for name in missing:
                    conn.execute(f"ALTER TABLE {self._t(name)} ADD COLUMN "
                                 f"{_POINT_COLUMN.format(epsg=self.epsg)}")

    def _create_layer(self, conn: psycopg.Connection, spec: LayerSpec) -> None:
        cols = ", ".join(
            f'"{f.name}" {_SQL_TYPES[f.type]}' + (" NOT NULL UNIQUE" if f.name == spec.key else "")
            for f in spec.fields)
        if spec.spatial:
            kind = geometry_type_name(spec).replace("GEOMETRY", "Geometry")
            point = f", {_POINT_COLUMN.format(epsg=self.epsg)}" if spec.name in POINT_LAYERS else ""
            conn.execute(f"CREATE TABLE {self._t(spec.name)} (fid bigint GENERATED ALWAYS AS "
                         f"IDENTITY PRIMARY KEY, {cols}, geom geometry({kind}, {self.epsg})"
                         f"{point})")
            conn.execute(f'CREATE INDEX "{spec.name}_geom_gist" ON {self._t(spec.name)} '
                         "USING gist (geom)")
        else:  # a plain table: follow-up data keyed by action, no geometry
            conn.execute(f"CREATE TABLE {self._t(spec.name)} (fid bigint GENERATED ALWAYS AS "
                         f"IDENTITY PRIMARY KEY, {cols})")
        # Titles and labels show up in QGIS and psql (\d+).
        conn.execute(f"COMMENT ON TABLE {self._t(spec.name)} IS {_literal(spec.title)}")
        for f in spec.fields:
            conn.execute(f'COMMENT ON COLUMN {self._t(spec.name)}."{f.name}" IS '
                         f"{_literal(f.label)}")

    # -- reads --------------------------------------------------------------------------------

    def _filters(self, spec: LayerSpec, bbox: BBox | None, where: dict[str, Any] | None,
                 ids: Sequence[str] | None) -> tuple[str, list[Any]]:
        clauses, params = ["TRUE"], []
        for name, value in (where or {}).items():
            field = spec.field(name)
            if isinstance(value, NotIn):
                clauses.append(f'("{name}" IS NULL OR NOT ("{name}" = ANY(%s::'
                               f'{_SQL_TYPES[field.type]}[])))')
                params.append([_value(coerce_value(field, v)) for v in value.values])
                continue
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            if any(v is None for v in values):
                clauses.append(f'"{name}" IS NULL')
                continue
            typed = []
            for v in values:
                try:
                    typed.append(_value(coerce_value(field, v)))
                except (ValueError, TypeError, OverflowError):
                    continue  # a value of the wrong type matches nothing
            clauses.append(f'"{name}" = ANY(%s::{_SQL_TYPES[field.type]}[])')
            params.append(typed)
        if ids is not None:
            clauses.append(f'"{spec.key}" = ANY(%s::text[])')
            params.append([str(i) for i in ids])
        check_bbox(spec, bbox)
        if bbox is not None:
            clauses.append(f"ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, {self.epsg}))")
            params += [float(c) for c in bbox]  # type: ignore[misc]
        return " AND ".join(clauses), params

    def _intersecting(self, bbox: BBox | None, area: Any) -> tuple[str, list[Any]]:
        """SQL keeping the features that intersect ``area`` (exactly), else ``bbox``.

        Each geometry is an uncorrelated subquery, so PostgreSQL builds it once per statement,
        also in the generic plan of a prepared statement (a call on parameters would be
        evaluated again for every candidate). A feature whose stored box lies inside a box
        inscribed in the area (:func:`_inner_box`) intersects it: only the features near the
        area's edge get the exact test (a GEOS conversion each)."""
        shape = area if area is not None else shapely.box(*bbox)  # type: ignore[misc]
        envelope = shapely.bounds(shape).tolist()
        make = f"(SELECT ST_MakeEnvelope(%s, %s, %s, %s, {self.epsg}))"
        if area is not None:
            exact, params = f"(SELECT ST_GeomFromWKB(%s, {self.epsg}))", [shapely.to_wkb(area)]
        else:
            exact, params = make, [float(c) for c in envelope]
        inner = _inner_box(shape)
        if inner is None:
            return f"ST_Intersects(geom, {exact})", params
        # CASE, not OR: the planner would scan the index once per branch.
        return (f"geom && {make} AND CASE WHEN geom @ {make} THEN TRUE "
                f"ELSE ST_Intersects(geom, {exact}) END", [*envelope, *inner, *params])

    def read(self, layer, *, bbox=None, where=None, ids=None, columns=None, limit=None,
             offset=0) -> gpd.GeoDataFrame:
        spec = self.spec(layer)
        names = spec.selected_names(columns)
        sql_where, params = self._filters(spec, bbox, where, ids)
        cols = ", ".join(f'"{n}"' for n in names)
        sql = (f"SELECT {cols}, {_geom(spec)} FROM {self._t(layer)} WHERE {sql_where} "
               "ORDER BY fid")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += f" OFFSET {int(offset)}"
        with self._connection() as conn:
            rows = conn.execute(sql, params, binary=True).fetchall()
        return _typed_frame(spec, names, rows, self.epsg)

    def count(self, layer, *, bbox=None, where=None) -> int:
        spec = self.spec(layer)
        sql_where, params = self._filters(spec, bbox, where, None)
        with self._connection() as conn:
            return conn.execute(f"SELECT count(*) FROM {self._t(layer)} WHERE {sql_where}",
                                params).fetchone()[0]

    def _page_statement(self, spec: LayerSpec, select: str, where: dict[str, Any] | None,
                        bbox: BBox | None, area: Any, limit: int | None, offset: int,
                        count: bool) -> tuple[str, list[Any]]:
        """ONE statement (one snapshot) selecting ``select`` then ``fid`` for each row of a page
        (in ``fid`` order) and, with ``count``, how many rows match in a last column — also on
        a page past the end, as one row of NULLs besides the count."""
        sql_where, params = self._filters(spec, None, where, None)
        boxed = area is not None or bbox is not None
        if boxed:
            if not spec.spatial:
                raise InputError(f"La couche {spec.name} est une table sans géométrie : pas de "
                                 "filtre par emprise.")
            spatial, more = self._intersecting(bbox, area)
            sql_where += f" AND {spatial}"
            params += more
        table = self._t(spec.name)
        page = f"OFFSET {int(offset)}" + ("" if limit is None else f" LIMIT {int(limit)}")
        if boxed:
            # The matches materialised (the GiST index finds them — a plan walking the fid
            # order until the page is full could scan the whole table), the page's rows
            # fetched by their tuple id (no second index descent per row).
            head = (f"WITH m AS MATERIALIZED (SELECT fid, ctid FROM {table} WHERE {sql_where}), "
                    f"p AS (SELECT ctid FROM m ORDER BY fid {page}) ")
            rows = (f"SELECT {select}, fid FROM {table} "
                    "WHERE ctid = ANY(ARRAY(SELECT ctid FROM p))")
            counted = "SELECT count(*) FROM m"
        else:
            head, rows = "", f"SELECT {select}, fid FROM {table} WHERE {sql_where} ORDER BY fid {page}"
            counted = f"SELECT count(*) FROM {table} WHERE {sql_where}"
            params = params * 2 if count else params
        if not count:
            return f"{head}SELECT * FROM ({rows}) AS r ORDER BY fid", params
        return (f"{head}SELECT r.*, c.n FROM ({counted}) AS c(n) LEFT JOIN ({rows}) AS r ON TRUE "
                "ORDER BY r.fid", params)

    def read_page(self, layer, *, columns=None, where=None, bbox=None, area=None, limit=None,
                  offset=0, count=False, kept=None, revision=UNREAD) -> Page:
        """The page's fids (with their tuple ids and versions) and count in ONE statement — or
        as that statement gave them at ``revision`` (the caller's, read before the page: the
        one its kept values belong to; read here if not given) —, then only the rows
        ``kept`` does not hold, fetched by tuple id: a tuple id with the same ``xmin`` is the
        very row version the first statement saw (PostgreSQL never changes a row version in
        place: an edit writes a new one, and a vacuumed slot taken by another version has
        another ``xmin``), so the page is that statement's snapshot without a transaction. A
        row edited or deleted in between is missing: the page is then read again whole, in one
        statement. Nothing kept, or little of the last pages (:data:`KEPT_SHARE`): the whole
        page in one statement."""
        if kept is None or self._kept_share < KEPT_SHARE:
            page = self._whole_page(layer, columns, where, bbox, area, limit, offset, count, kept)
            if kept is not None:
                self._note_kept(page.kept)
            return page
        spec = self.spec(layer)
        names = spec.selected_names(columns)
        # The page's rows and count, remembered per store revision: a map asks the same boxes
        # again and again, and while the store is unchanged they are the same. Small areas only
        # (a drawn perimeter of 190,000 vertices is neither hashed nor kept).
        key = None if area is not None and shapely.get_num_coordinates(
            area) > REMEMBERED_VERTICES else (
            layer, tuple(names), repr(sorted((where or {}).items())),
            None if bbox is None else tuple(bbox), area, limit, offset, count)
        if revision is UNREAD:
            revision = self.revision()  # before the page: never newer than its rows
        known = None
        with self._pages_lock:
            if key is not None:
                known = self._pages.get(key)
            if known is not None:
                self._pages.move_to_end(key)
        with self._reading() as conn:
            if known is not None and known[0] == revision:
                _, head, matched = known
            else:
                sql, params = self._page_statement(spec, "ctid::text, xmin::text", where, bbox,
                                                   area, limit, offset, count)
                head = conn.execute(sql, params, binary=True).fetchall()
                matched = head[0][-1] if count and head else None
                head = [r[:3] for r in head if r[2] is not None]  # past the end: the count
                with self._pages_lock:
                    if key is not None:
                        self._pages[key] = (revision, head, matched)
                        self._pages.move_to_end(key)
                    if len(self._pages) > KEPT_QUERIES:
                        self._pages.popitem(last=False)
            fids = [r[2] for r in head]
            values = kept(fids)
            self._note_kept(values)
            missing = [r for r, v in zip(head, values, strict=True) if v is None]
            if not missing:
                return Page(fids, values, self._batch(spec, names, []), matched)
            rows = conn.execute(
                f"SELECT {self._selected(spec, names)}, fid, xmin::text FROM {self._t(layer)} "
                "WHERE ctid = ANY(%s::tid[]) ORDER BY fid",
                # One array literal: psycopg's list dumper quotes each element with a regex.
                ("{" + ",".join(f'"{r[0]}"' for r in missing) + "}",), binary=True).fetchall()
            if [row[-2:] for row in rows] == [(r[2], r[1]) for r in missing]:
                return Page(fids, values, self._batch(spec, names, [r[:-2] for r in rows]),
                            matched)
        # Edited in between: the whole page again, one statement, one snapshot.
        return self._whole_page(layer, columns, where, bbox, area, limit, offset, count, kept)

    def _whole_page(self, layer: str, columns: Sequence[str] | None,
                    where: dict[str, Any] | None, bbox: BBox | None, area: Any,
                    limit: int | None, offset: int, count: bool,
                    kept: Callable[[list[int]], list[Any]] | None) -> Page:
        """The page read in one statement, less the rows ``kept`` holds."""
        spec = self.spec(layer)
        names = spec.selected_names(columns)
        sql, params = self._page_statement(spec, self._selected(spec, names), where, bbox, area,
                                           limit, offset, count)
        with self._reading() as conn:
            rows = conn.execute(sql, params, binary=True).fetchall()
        matched = rows[0][-1] if count and rows else None
        width = len(names) + 1  # the fields, the geometry; then fid (NULL past the end)
        rows = [r for r in rows if r[width] is not None]
        fids = [r[width] for r in rows]
        values = kept(fids) if kept is not None else [None] * len(fids)
        if any(v is not None for v in values):
            rows = [r for r, v in zip(rows, values, strict=True) if v is None]
        return Page(fids, values, self._batch(spec, names, [r[:width] for r in rows]), matched)

    def _note_kept(self, values: list[Any]) -> None:
        """Follow the share of pages' features their callers kept (a moving average over the
        last pages: a store that has just changed is read whole until its texts are kept)."""
        if values:
            share = 1 - values.count(None) / len(values)
            self._kept_share += (share - self._kept_share) / KEPT_PAGES

    def _selected(self, spec: LayerSpec, names: Sequence[str]) -> str:
        return ", ".join([*(f'"{n}"' for n in names), _geom(spec)])

    @staticmethod
    def _batch(spec: LayerSpec, names: Sequence[str], rows: list[tuple]) -> FeatureBatch:
        """The batch of rows holding ``names`` then the geometry's WKB."""
        values = list(zip(*rows, strict=True)) or [()] * (len(names) + 1)
        return FeatureBatch(scalars([str(v) for v in values[0]]),
                            {n: plain_column(spec.field(n).type, values[i])
                             for i, n in enumerate(names)},
                            shapely.from_wkb(np.asarray(values[-1], dtype=object)) if rows
                            else np.zeros(0, dtype=object))

    def extent(self, layer) -> BBox | None:
        if not self.spec(layer).spatial:
            return None
        # ST_Extent would use the float4 boxes cached in each geometry: compute exact bounds.
        sql = (f"SELECT min(ST_XMin(b)), min(ST_YMin(b)), max(ST_XMax(b)), max(ST_YMax(b)) "
               f"FROM (SELECT Box3D(geom) AS b FROM {self._t(layer)}) AS boxes")
        with self._connection() as conn:
            row = conn.execute(sql).fetchone()
        return None if row[0] is None else tuple(float(v) for v in row)  # type: ignore[return-value]

    def iter_points(self, layer, fields, *, batch_rows=BATCH_ROWS):
        spec = self.spec(layer)
        if spec.name not in POINT_LAYERS:
            yield from super().iter_points(layer, fields, batch_rows=batch_rows)
            return
        names = [spec.field(f).name for f in fields]
        cols = "".join(f'"{n}", ' for n in names)
        sql = (f"SELECT {cols}ST_X(ort_point), ST_Y(ort_point) FROM {self._t(layer)} "
               "ORDER BY fid")
        with self._connection() as conn, conn.transaction(), conn.cursor(
                name="ort_points", binary=True) as cur:
            cur.execute(sql)
            while rows := cur.fetchmany(batch_rows):
                data = {n: typed_series(spec, n, [r[i] for r in rows])
                        for i, n in enumerate(names)}
                frame = pd.DataFrame(data)
                frame["x"] = np.array([r[-2] for r in rows], dtype=np.float64)
                frame["y"] = np.array([r[-1] for r in rows], dtype=np.float64)
                yield frame

    def zone_sums(self, layer, zones, measures, *, cache=None) -> dict[str, ZoneSums]:
        """The measures of the stored points per zone, by whichever of two plans reads less (see
        :meth:`Store.zone_sums` for the semantics, which the tests check equal):

        * the zones cover a fair share of the layer (:data:`SCAN_SHARE`, estimated from
          PostGIS's own planner statistics): ONE sequential read of the stored points and the
          measures' fields, as fixed-width binary records, into the grid engine;
        * a few rows: the join pushed into PostGIS, the footprints' GiST index finding each
          zone's candidates, ``ST_Covers`` testing the stored points, only the sums travelling.
        """
        spec = self.spec(layer)
        if spec.name not in POINT_LAYERS:
            return super().zone_sums(layer, zones, measures, cache=cache)
        zones = np.asarray(zones, dtype=object)
        if not measures:
            return {}
        wkbs = [None if w is None else bytes(w) for w in shapely.to_wkb(zones, flavor="iso")]
        records = _Records.of(spec, measures)
        estimate = self._share_in_zones(layer, wkbs) if records is not None else None
        if records is not None and estimate is not None and estimate[0] >= SCAN_SHARE:
            share, rows = estimate
            with contextlib.closing(self._scanned(spec, records, rows)) as batches:
                return self._grid_sums(layer, zones, measures, batches, cache,
                                       hint=int(share * rows))
        return self._joined(spec, zones, wkbs, measures)

    def _share_in_zones(self, layer: str, wkbs: list[bytes | None]
                        ) -> tuple[float, float] | None:
        """(estimated share of the layer's rows whose footprint box meets a zone's box, rows),
        from the statistics ANALYZE keeps for the planner (PostGIS's selectivity of ``&&``, summed
        over the zones); None inside a write transaction, before PostgreSQL 14 (no TID range
        scans for the sequential plan) or while the layer has no statistics yet."""
        if getattr(self._local, "conn", None) is not None:
            return None
        psycopg, _ = _psycopg()
        with self._connection() as conn:
            version, rows = conn.execute(
                "SELECT current_setting('server_version_num')::int, reltuples FROM pg_class "
                "WHERE oid = %s::regclass", (self._t(layer),)).fetchone()
            if version < 140000 or rows <= 0:
                return None
            try:
                # (An empty zone has no box to estimate from: it covers nothing.)
                share = conn.execute(
                    "SELECT coalesce(sum(_postgis_selectivity(%s::regclass, 'geom', g)), 0) "
                    f"FROM (SELECT ST_GeomFromWKB(w, {self.epsg}) AS g FROM unnest(%s::bytea[])"
                    " AS t(w)) AS z WHERE NOT ST_IsEmpty(g)",
                    (self._t(layer), wkbs)).fetchone()[0]
            except psycopg.Error:  # never analysed ("stats ... do not exist"): the index plan
                return None
        return min(float(share), 1.0), float(rows)

    def _scanned(self, spec: LayerSpec, records: _Records, rows: float
                 ) -> Generator[ValueBatch, None, None]:
        """The layer's records in one sequential read: ranges of heap pages, each a TID range
        scan whose rows travel as ONE bytea (a few thousand fixed-width records, decoded by
        numpy without a Python step per row), split between parallel sessions sharing one
        snapshot on a national layer. The readers start at once (the caller builds its grid
        meanwhile); the returned iterator closes them."""
        psycopg, _ = _psycopg()
        table = self._t(spec.name)
        with self._connection() as conn:
            pages = conn.execute("SELECT relpages FROM pg_class WHERE oid = %s::regclass",
                                 (table,)).fetchone()[0]
        # About SCAN_MESSAGE_ROWS records per message: fewer messages, bounded memory.
        step = int(min(max(SCAN_MESSAGE_ROWS * max(pages, 1) / max(rows, 1), 1), 1024))
        # Blocks [first, stop) per statement; stop NULL: up to the table's size when the
        # statement runs, after its snapshot was taken, so no row it sees lies beyond.
        sql = (f"SELECT (SELECT string_agg({records.sql}, ''::bytea) FROM {table} b "
               "WHERE b.ctid >= ('(' || p || ',0)')::tid "
               f"AND b.ctid < ('(' || (p + {step}) || ',0)')::tid) "
               "FROM generate_series(%s::bigint, coalesce(%s::bigint, pg_relation_size("
               "%s::regclass) / current_setting('block_size')::bigint) - 1, "
               f"{step}) AS p")

        def read(conn: Any, part: int, first: int, stop: int | None) -> Iterator[ValueBatch]:
            # The estimated cost of per-range subqueries is huge: JIT would compile for seconds.
            conn.execute("SET LOCAL jit = off")
            blobs: list[bytes] = []
            size = 0
            with conn.cursor(name=f"ort_scan_{part}", binary=True) as cur:
                cur.execute(sql, [*records.params, first, stop, table])
                while chunk := cur.fetchmany(16):
                    for (blob,) in chunk:
                        if blob is not None:
                            blobs.append(blob)
                            size += len(blob)
                    if size >= BATCH_ROWS * records.dtype.itemsize:
                        yield (part, *records.decode(b"".join(blobs)))
                        blobs, size = [], 0
            if blobs:
                yield (part, *records.decode(b"".join(blobs)))

        def pooled() -> Iterator[ValueBatch]:
            with self._connection() as conn, conn.transaction():
                yield from read(conn, 0, 0, None)

        workers = self._workers(rows)
        lead = None
        try:
            if workers == 1:
                reader = prefetched(pooled(), depth=PREFETCH_DEPTH)
            else:
                # The lead session holds the exported snapshot until every reader is done.
                lead, session = self._snapshot_sessions()
                blocks = lead.execute("SELECT pg_relation_size(%s::regclass) / current_setting("
                                      "'block_size')::bigint", (table,)).fetchone()[0]
                # Whole ranges per part, the last one open-ended.
                bounds = [int(blocks * k / workers) // step * step for k in range(workers)]

                def part(k: int) -> Iterator[ValueBatch]:
                    with session() as conn:
                        yield from read(conn, k, bounds[k],
                                        bounds[k + 1] if k + 1 < workers else None)

                reader = prefetched(*(part(k) for k in range(workers)), depth=PREFETCH_DEPTH)
        except psycopg.Error as exc:
            if lead is not None:
                lead.close()
            raise with_detail(StoreError("Lecture impossible dans "
                                         f"{masked(self.conninfo)} : "
                                         f"{_connection_reason(exc)}."), _reason(exc)) from None

        def batches() -> Generator[ValueBatch, None, None]:
            try:
                yield from reader
            except psycopg.Error as exc:
                raise with_detail(StoreError("Lecture impossible dans "
                                             f"{masked(self.conninfo)} : "
                                             f"{_connection_reason(exc)}."), _reason(exc)) from None
            finally:
                reader.close()
                if lead is not None:
                    lead.close()

        return batches()

    def _snapshot_sessions(self) -> tuple[Any, Callable[[], AbstractContextManager[Any]]]:
        """A lead session of its own (never the pool's, which serves other requests) holding an
        exported snapshot — the caller closes it —, and a factory of sessions in a transaction
        seeing that snapshot: PostgreSQL runs one query on one core, parallel sessions read one
        consistent state."""
        psycopg, _ = _psycopg()
        from psycopg import sql as pgsql

        def connect() -> Any:
            conn = psycopg.connect(self.conninfo, connect_timeout=10)
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            return conn

        lead = connect()
        try:
            snapshot = lead.execute("SELECT pg_export_snapshot()").fetchone()[0]
            lead.execute("SET LOCAL jit = off")
        except BaseException:
            lead.close()
            raise

        @contextmanager
        def session() -> Iterator[Any]:
            with connect() as conn:
                conn.execute(pgsql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                    pgsql.Literal(snapshot)))
                conn.execute("SET LOCAL jit = off")
                yield conn

        return lead, session

    def _joined(self, spec: LayerSpec, zones: np.ndarray, wkbs: list[bytes | None],
                measures: Sequence[Measure]) -> dict[str, ZoneSums]:
        """The join in SQL: only the sums travel."""
        aggs, agg_params = _aggregates(spec, measures)
        per_zone: dict[str, np.ndarray] = {m.name: np.zeros(len(zones), _kind(m)) for m in measures}
        join = (f"WITH z AS MATERIALIZED (SELECT (ord - 1)::int AS i, "
                f"ST_GeomFromWKB(w, {self.epsg}) AS g "
                "FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(w, ord)) "
                f"SELECT z.i, {aggs} FROM z JOIN {self._t(spec.name)} b "
                "ON b.geom && z.g AND ST_Covers(z.g, b.ort_point) GROUP BY z.i")
        totals = f"SELECT {aggs} FROM {self._t(spec.name)} b"
        parts = self._join_parts(spec.name, len(zones))
        if len(parts) > 1:
            # A national layer: the zones are split between parallel sessions while the lead
            # session adds up the layer's totals.
            psycopg, _ = _psycopg()

            def run(part: np.ndarray, session: Callable[[], Any]) -> list:
                with session() as conn:
                    found = conn.execute(join, [[wkbs[k] for k in part], *agg_params]).fetchall()
                return [(int(part[r[0]]), *r[1:]) for r in found]

            try:
                lead, session = self._snapshot_sessions()
                with lead, ThreadPoolExecutor(len(parts), thread_name_prefix="ort-geo-pg") as pool:
                    done = [pool.submit(run, part, session) for part in parts]
                    total = lead.execute(totals, agg_params).fetchone()
                    rows = [row for f in done for row in f.result()]
            except psycopg.Error as exc:
                raise with_detail(StoreError("Lecture impossible dans "
                                             f"{masked(self.conninfo)} : "
                                             f"{_connection_reason(exc)}."), _reason(exc)) from None
        else:
            with self._connection() as conn, conn.transaction():
                # JIT compilation costs seconds and saves nothing on these short aggregates.
                conn.execute("SET LOCAL jit = off")
                rows = conn.execute(join, [wkbs, *agg_params]).fetchall() if len(zones) else []
                total = conn.execute(totals, agg_params).fetchone()
        for row in rows:
            for m, value in zip(measures, row[1:], strict=True):
                per_zone[m.name][row[0]] = value
        return {m.name: ZoneSums(per_zone[m.name], _kind(m)(total[k]))
                for k, m in enumerate(measures)}

    def _workers(self, rows: float) -> int:
        """Parallel sessions for a layer of ``rows`` rows: one below PARALLEL_ROWS or inside a
        write transaction."""
        workers = min(os.cpu_count() or 1, 4)
        if workers < 2 or rows < PARALLEL_ROWS or getattr(self._local, "conn", None) is not None:
            return 1
        return workers

    def _join_parts(self, layer: str, n_zones: int) -> list[np.ndarray]:
        """The zones' indices split for parallel sessions (:meth:`_workers` of the planner's
        estimate of the layer's rows)."""
        if n_zones < 2:
            return [np.arange(n_zones)]
        with self._connection() as conn:
            rows = conn.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                                (self._t(layer),)).fetchone()[0]
        return [p for p in np.array_split(np.arange(n_zones), self._workers(rows)) if len(p)]

    def revision(self, layer=None) -> Any:
        with self._reading() as conn:
            if layer is None:
                # The schema's counter, which every committed write to its tables moves (the
                # tool's, a trigger's, psql's; metadata included; journal_triggers.
                # pg_revision_sql), and nothing else: another schema's or database's commits
                # leave the server's caches alone — the cluster's snapshot, read for a store
                # made before the counter, changes with any of them. (The journal's last
                # sequence number would not do: sequences commit out of order, metadata is not
                # journaled.) Asked through libpq itself (one text value: a psycopg cursor
                # would triple the client's CPU of a query every API request makes), prepared
                # once on a thread's own connection (PostgreSQL's CPU: 22 µs instead of 36).
                pg, sql = conn.pgconn, self._revision_sql
                name = b"ort_geo_revision_" + (b"schema" if sql is not _SNAPSHOT_SQL else b"cluster")
                prepared: tuple[Any, set[bytes]] = getattr(self._local, "prepared", (None, set()))
                if getattr(self._local, "own", None) is not conn:
                    result = pg.exec_(sql)
                elif prepared[0] is conn and name in prepared[1]:
                    result = pg.exec_prepared(name, [])
                else:
                    result = pg.prepare(name, sql)
                    if result.status == _COMMAND_OK:
                        if prepared[0] is not conn:
                            prepared = self._local.prepared = (conn, set())
                        prepared[1].add(name)
                        result = pg.exec_prepared(name, [])
                if result.status != _TUPLES_OK:
                    psycopg, _ = _psycopg()
                    raise psycopg.errors.error_from_result(result, conn.info.encoding)
                return result.get_value(0, 0).decode()  # type: ignore[union-attr]
            seq, n = conn.execute(f"SELECT coalesce(max(seq), 0), count(*) FROM "
                                  f"{self._t('ort_journal')} WHERE layer = %s", (layer,)).fetchone()
        return int(seq), int(n)

    def mvt(self, layer, tile, *, columns, where=None) -> bytes:
        """One SQL statement: the GiST index finds the features in the buffered tile (its
        envelope transformed once to the store's CRS), ``ST_AsMVTGeom`` projects, clips and
        quantises, ``ST_AsMVT`` encodes the rows whose clipped geometry is not empty, so a tile
        without features is ``b""`` as on other backends. ``OFFSET 0`` keeps the subquery
        whole: flattened, the planner would compute every geometry twice (row and filter)."""
        from ..vector_tiles import BUFFER, EXTENT

        spec = self.spec(layer)
        names = list(dict.fromkeys(spec.field(c).name for c in columns))
        sql_where, params = self._filters(spec, None, where, None)
        cols = "".join(f'"{n}", ' for n in names)
        sql = (f"SELECT ST_AsMVT(t, %s, {EXTENT}, 'mvt_geom') FILTER (WHERE mvt_geom IS NOT "
               "NULL) FROM ("
               f"SELECT {cols}ST_AsMVTGeom(ST_Transform(geom, 3857), "
               f"ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true) AS mvt_geom "
               f"FROM {self._t(layer)} WHERE geom && ST_Transform(ST_TileEnvelope(%s, %s, %s, "
               f"margin => %s), {self.epsg}) AND {sql_where} OFFSET 0) AS t")
        z, x, y = tile.z, tile.x, tile.y
        with self._connection() as conn:
            row = conn.execute(sql, [layer, z, x, y, z, x, y, BUFFER / EXTENT, *params],
                               binary=True).fetchone()
        return b"" if row is None or row[0] is None else bytes(row[0])

    def history(self, layer, feature_id) -> list[JournalEntry]:
        self.spec(layer)
        return self._journal_rows("WHERE layer = %s AND feature_id = %s ORDER BY seq",
                                  [layer, str(feature_id)])

    def journal(self, *, layer=None, limit=None, since=None, author=None) -> list[JournalEntry]:
        clauses, params = ["TRUE"], []
        if layer is not None:
            clauses.append("layer = %s")
            params.append(layer)
        if since is not None:
            clauses.append('ts COLLATE "C" > %s')
            params.append(str(since))
        if author is not None:
            clauses.append("author = %s")
            params.append(author)
        sql = "WHERE " + " AND ".join(clauses) + " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._journal_rows(sql, params)

    def _journal_rows(self, tail: str, params: list[Any]) -> list[JournalEntry]:
        sql = ("SELECT seq, ts, author, layer, feature_id, operation, before, after, message "
               f"FROM {self._t('ort_journal')} {tail}")
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_journal_entry(r) for r in rows]

    def get_meta(self, scope) -> dict[str, str]:
        with self._reading() as conn:
            return dict(conn.execute(f"SELECT key, value FROM {self._t('ort_meta')} "
                                     "WHERE scope = %s ORDER BY key", (scope,)).fetchall())

    def meta_scopes(self) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT DISTINCT scope FROM {self._t('ort_meta')} ORDER BY scope")
            return [r[0] for r in rows]


class _PgTransaction(Transaction):
    def __init__(self, conn: psycopg.Connection, store: PostGISStore) -> None:
        self.conn = conn
        self.store = store

    @contextmanager
    def reads(self) -> Iterator[None]:
        outer, self.store._local.conn = getattr(self.store._local, "conn", None), self.conn
        try:
            yield
        finally:
            self.store._local.conn = outer

    def serialize_checks(self) -> None:
        # One rule check at a time per store (schema), held until this transaction ends; a
        # queue that does not move within the timeout answers "busy, retry" (BusyError).
        self.conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S * 1000:.0f}ms'")
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                          (f"ort-geo-rules:{self.store.schema}",))

    def fetch(self, layer, ids):
        names = layer.field_names
        cols = ", ".join(f'"{n}"' for n in names)
        # Locks in key order, so two writers of overlapping sets cannot deadlock each other.
        sql = f"SELECT {cols}, {_geom(layer)} FROM {self.store._t(layer.name)}"
        params: list[Any] = []
        if ids is not None:
            sql += f' WHERE "{layer.key}" = ANY(%s::text[])'
            params.append([str(i) for i in ids])
        sql += f' ORDER BY "{layer.key}" FOR UPDATE'
        rows = self.conn.execute(sql, params, binary=True).fetchall()
        # Features straight from the rows (psycopg gives plain Python values; an edit fetches
        # one row, where a frame would cost more than the query).
        geoms = shapely.from_wkb(np.asarray([r[-1] for r in rows], dtype=object)) if rows \
            else []
        k = names.index(layer.key)
        others = [(i, n) for i, n in enumerate(names) if i != k]
        return {str(r[k]): Feature(str(r[k]), {n: None if _missing_value(r[i]) else r[i]
                                               for i, n in others}, g)
                for r, g in zip(rows, geoms, strict=True)}

    def insert(self, layer, features):
        others = [n for n in layer.field_names if n != layer.key]
        self.insert_batch(layer, FeatureBatch.from_features(features, others))

    def _copy(self, table: str, layer: LayerSpec, batch: FeatureBatch) -> None:
        """COPY a batch into ``table`` (key, fields, geometry as EWKB), column by column."""
        others = [n for n in layer.field_names if n != layer.key]
        cols = ", ".join(f'"{n}"' for n in [layer.key, *others])
        columns = [batch.ids.tolist()]
        for name in others:
            column = batch.columns.get(name)
            values = [None] * len(batch) if column is None else column.tolist()
            if not set(map(type, values)) <= _COPY_NATIVE:  # numpy scalars
                values = [_value(v) for v in values]
            columns.append(values)
        if layer.spatial:  # a table without geometry (follow-up data) has no geom column
            columns.append(_ewkb_hex(batch.geometry, self.store.epsg))
            cols += ", geom"
        with self.conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)

    def loaded(self, layer, progress=None):
        # Rows in their spatial index's order: a box's rows share heap pages instead of one
        # page each (a copied layer comes in identifier order, scattered over the territory).
        # 200,000 buildings: a 100-building box page 0.80-0.90 -> 0.77 ms of PostgreSQL CPU,
        # 0.40 -> 0.25 ms of client. The table was empty: the copy's rows are all it holds.
        if not layer.spatial:
            return
        step = f"rangement spatial {layer.name}"
        if progress:
            progress(step, 0, 1)
        table = self.store._t(layer.name)
        psycopg, _ = _psycopg()
        try:
            with self.conn.transaction():  # a savepoint: a refusal leaves the copy going
                self.conn.execute(f'CLUSTER {table} USING "{layer.name}_geom_gist"')
        except psycopg.Error as exc:  # not the table's owner, an index of another name
            log.warning("Couche %s copiée sans rangement spatial : %s", layer.name,
                        str(exc).strip())
        self.conn.execute(f"ANALYZE {table}")
        if progress:
            progress(step, 1, 1)

    def insert_batch(self, layer, batch):
        if len(batch):
            self._copy(self.store._t(layer.name), layer, batch)

    def update_batch(self, layer, batch):
        """Updates as the inserts: COPY into a temporary table, then one UPDATE … FROM."""
        if not len(batch):
            return
        if len(batch) < 50:
            self.update(layer, batch.features())
            return
        others = [n for n in layer.field_names if n != layer.key]
        cols = ", ".join(f'"{n}"' for n in [layer.key, *others])
        geom = ["geom"] if layer.spatial else []
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS ort_changes ON COMMIT DROP AS "
                          f"SELECT {', '.join([cols, *geom])} FROM {self.store._t(layer.name)} "
                          "WITH NO DATA")
        self.conn.execute("TRUNCATE ort_changes")
        self._copy("ort_changes", layer, batch)
        sets = ", ".join(f'"{n}" = c."{n}"' for n in [*others, *geom])
        self.conn.execute(f'UPDATE {self.store._t(layer.name)} t SET {sets} FROM ort_changes c '
                          f'WHERE t."{layer.key}" = c."{layer.key}"')
        self.conn.execute("DROP TABLE ort_changes")

    def journal_batch(self, batch):
        """The journal of a bulk write by COPY (JSON built in bulk, as the GeoPackage does)."""
        if not len(batch):
            return
        before, after = batch.records_json()
        table = self.store._t("ort_journal")
        n = len(batch)
        with self.conn.cursor().copy(
            f"COPY {table} (ts, author, layer, feature_id, operation, before, after, message) "
            "FROM STDIN"
        ) as copy:
            for row in zip([batch.timestamp] * n, [batch.author] * n, [batch.layer] * n,
                           batch.feature_ids.tolist(), batch.operations.tolist(),
                           before.tolist(), after.tolist(), [batch.message] * n, strict=True):
                copy.write_row(row)

    def update(self, layer, features):
        if not features:
            return
        others = [n for n in layer.field_names if n != layer.key]
        if not layer.spatial:
            sets = ", ".join(f'"{n}" = %s' for n in others)
            with self.conn.cursor() as cur:
                cur.executemany(f'UPDATE {self.store._t(layer.name)} SET {sets} '
                                f'WHERE "{layer.key}" = %s',
                                [[*(_value(f.properties.get(n)) for n in others), f.id]
                                 for f in features])
            return
        sets = ", ".join([f"geom = ST_GeomFromWKB(%s, {self.store.epsg})"]
                         + [f'"{n}" = %s' for n in others])
        wkbs = shapely.to_wkb(np.asarray([f.geometry for f in features], dtype=object),
                              flavor="iso")
        rows = [[wkb, *(_value(f.properties.get(n)) for n in others), f.id]
                for f, wkb in zip(features, wkbs, strict=True)]
        with self.conn.cursor() as cur:
            cur.executemany(f'UPDATE {self.store._t(layer.name)} SET {sets} '
                            f'WHERE "{layer.key}" = %s', rows)

    def delete(self, layer, ids):
        if not ids:
            return
        self.conn.execute(f'DELETE FROM {self.store._t(layer.name)} '
                          f'WHERE "{layer.key}" = ANY(%s::text[])', ([str(i) for i in ids],))

    def journal(self, entries):
        if not entries:
            return
        from psycopg.types.json import Jsonb

        table = self.store._t("ort_journal")
        rows = [(e.seq or None, e.timestamp, e.author, e.layer, e.feature_id, e.operation,
                 None if e.before is None else Jsonb(e.before.to_record()),
                 None if e.after is None else Jsonb(e.after.to_record()), e.message)
                for e in entries]
        with self.conn.cursor() as cur:
            # An explicit seq (a copied journal) is kept; otherwise the identity numbers it.
            cur.executemany(
                f"INSERT INTO {table} (seq, ts, author, layer, feature_id, operation, before, "
                "after, message) VALUES (COALESCE(%s, nextval(pg_get_serial_sequence(%s, "
                "'seq'))), %s, %s, %s, %s, %s, %s, %s, %s)",
                [(r[0], table, *r[1:]) for r in rows])
        if any(e.seq for e in entries):
            self.conn.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'seq'), "
                              f"(SELECT max(seq) FROM {table}))", (table,))


    def set_meta(self, scope, values):
        table = self.store._t("ort_meta")
        for key, value in values.items():
            if value is None:
                self.conn.execute(f"DELETE FROM {table} WHERE scope = %s AND key = %s",
                                  (scope, key))
            else:
                self.conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s) ON CONFLICT (scope, "
                                  "key) DO UPDATE SET value = EXCLUDED.value",
                                  (scope, key, str(value)))


def _missing_value(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _geom(spec: LayerSpec) -> str:
    """The SQL selecting a layer's geometry as WKB (NULL for a non-spatial table)."""
    return "ST_AsBinary(geom)" if spec.spatial else "NULL::bytea"


def _inner_box(shape: Any) -> tuple[float, float, float, float] | None:
    """An axis-aligned box inside ``shape``: inside the quadrilateral that
    :func:`~ort_geo.store.rtree.area_half_planes` inscribes in it (the GeoPackage classifies its
    R-tree boxes against that quadrilateral's sides; PostgreSQL compares each stored box with
    this one box: one operator per row), the shape's envelope scaled about its centre until a
    corner meets a side, then shrunk by a few float32 steps, as PostGIS compares boxes in float32
    rounded outward. A stored box inside it lies inside the shape. None when the shape has no
    such quadrilateral (not one polygon, far from a rectangle: a hole or a notch in the middle)
    or nothing is left. The quadrilateral is remembered per area: a map's boxes come again."""
    inner, _ = area_half_planes(shape)
    if not inner:
        return None
    x0, y0, x1, y1 = shape.bounds
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if not (hx > 0 and hy > 0):
        return None
    # The box's corner furthest along each side's outward normal (a, b) stays on its inner side
    # (a·x + b·y <= c) while t is below this.
    t = min((c - a * cx - b * cy) / (abs(a) * hx + abs(b) * hy) for a, b, c in inner)
    margin = 4 * float(np.spacing(np.float32(max(abs(x0), abs(y0), abs(x1), abs(y1)))))
    box = (cx - t * hx + margin, cy - t * hy + margin, cx + t * hx - margin, cy + t * hy - margin)
    return box if t > 0 and box[0] < box[2] and box[1] < box[3] else None


def _kind(measure: Measure) -> type:
    return np.int64 if measure.field is None or measure.integer else np.float64


def _condition_sql(spec: LayerSpec, c: Condition, params: list[Any]) -> str:
    """A condition as SQL on the row ``b`` (as :func:`evaluate` judges: a condition on a
    missing value is false — NULL, which FILTER and CASE take for false), its parameters
    appended to ``params``."""
    if c.field not in spec.by_name:
        return "FALSE"
    if c.op == "in":
        params.append(list(c.value))
        return f'b."{c.field}" = ANY(%s::{_SQL_TYPES[spec.field(c.field).type]}[])'
    if c.op == "not_in":
        params.append(list(c.value))
        return (f'NOT coalesce(b."{c.field}" = ANY(%s::{_SQL_TYPES[spec.field(c.field).type]}'
                "[]), FALSE)")
    if c.op == "le":
        params.append(float(c.value))
        return f'b."{c.field}" <= %s::float8'
    if c.op == "true":
        return f'b."{c.field}" IS TRUE'
    return f'b."{c.field}" IS NOT NULL'  # known


def _aggregates(spec: LayerSpec, measures: Sequence[Measure]) -> tuple[str, list[Any]]:
    """The SQL aggregates of :class:`~ort_geo.measures.Measure` s (as :func:`evaluate` counts:
    missing values add 0, a condition on a missing value is false)."""
    parts: list[str] = []
    params: list[Any] = []
    for m in measures:
        if m.field is not None and m.field not in spec.by_name:
            parts.append("0")  # before its conditions, whose parameters it does not take
            continue
        where = " AND ".join(_condition_sql(spec, c, params) for c in m.where) or "TRUE"
        if m.field is None:
            parts.append(f"count(*) FILTER (WHERE {where})")
        else:
            cast = "bigint" if m.integer else "float8"
            parts.append(f'coalesce(sum(b."{m.field}") FILTER (WHERE {where}), 0)::{cast}')
    return ", ".join(parts), params


#: Conditions per bit mask of a scanned record (a bigint; the sign bit left alone).
_MASK_BITS = 62


@dataclass(frozen=True)
class _Records:
    """What the sequential plan reads of each row, as one fixed-width big-endian binary record
    built by PostgreSQL (``float8send``/``int8send``): the stored point (NaN without geometry),
    each distinct condition of the measures as one bit of a mask (evaluated in SQL exactly as
    the join's FILTER clauses), each summed field (0 when missing)."""

    sql: str
    params: list[Any]
    dtype: np.dtype
    #: Per measure: (name, its field's record column — None for a count, "" for a field the
    #: layer lacks —, mask bits required per mask column, integer sum).
    measures: tuple[tuple[str, str | None, tuple[int, ...], bool], ...]
    masks: int

    @classmethod
    def of(cls, spec: LayerSpec, measures: Sequence[Measure]) -> _Records | None:
        """The records of ``measures``; None when a summed field is neither an integer nor a
        float (only the join adds those up)."""
        # Each distinct condition once (values may be lists: keyed by their repr), in order.
        conditions = {repr(c): c for m in measures for c in m.where}
        bit_of = {key: k for k, key in enumerate(conditions)}
        ordered = list(conditions.values())
        summed = sorted({m.field for m in measures if m.field in spec.by_name})
        if any(spec.field(f).type not in ("int", "float") for f in summed):
            return None
        params: list[Any] = []
        parts = ["float8send(coalesce(ST_X(b.ort_point), 'NaN'))",
                 "float8send(coalesce(ST_Y(b.ort_point), 'NaN'))"]
        fields: list[tuple[str, str]] = [("x", ">f8"), ("y", ">f8")]
        masks = (len(conditions) + _MASK_BITS - 1) // _MASK_BITS
        for k in range(masks):
            bits = [f"CASE WHEN {_condition_sql(spec, c, params)} THEN {1 << j} ELSE 0 END"
                    for j, c in enumerate(ordered[k * _MASK_BITS:(k + 1) * _MASK_BITS])]
            parts.append(f"int8send(({' + '.join(bits)})::bigint)")
            fields.append((f"m{k}", ">i8"))
        for k, name in enumerate(summed):
            if spec.field(name).type == "int":
                parts.append(f'int8send(coalesce(b."{name}", 0))')
                fields.append((f"f{k}", ">i8"))
            else:
                parts.append(f'float8send(coalesce(b."{name}", 0))')
                fields.append((f"f{k}", ">f8"))
        plan = []
        for m in measures:
            need = [0] * masks
            for c in m.where:
                bit = bit_of[repr(c)]
                need[bit // _MASK_BITS] |= 1 << (bit % _MASK_BITS)
            column = (None if m.field is None else
                      f"f{summed.index(m.field)}" if m.field in spec.by_name else "")
            plan.append((m.name, column, tuple(need), m.field is None or m.integer))
        return cls(" || ".join(parts), params, np.dtype(fields), tuple(plan), masks)

    def decode(self, data: bytes) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """x, y and the value each measure adds per record (as :func:`evaluate`: bool for a
        count, the field where the conditions hold else 0)."""
        if len(data) % self.dtype.itemsize:
            raise StoreError("Lecture PostGIS inattendue : enregistrements incomplets.")
        rec = np.frombuffer(data, self.dtype)
        masks = [rec[f"m{k}"].astype(np.int64) for k in range(self.masks)]
        columns: dict[str, np.ndarray] = {}
        values: dict[str, np.ndarray] = {}
        for name, column, need, integer in self.measures:
            keep = np.ones(len(rec), bool)
            for mask, bits in zip(masks, need, strict=True):
                if bits:
                    keep &= (mask & bits) == bits
            if column is None:  # a count
                values[name] = keep
                continue
            if column == "":  # a field the layer lacks adds 0
                values[name] = np.zeros(len(rec), np.int64 if integer else np.float64)
                continue
            if column not in columns:
                raw = rec[column]
                columns[column] = (raw.astype(np.int64) if raw.dtype.kind == "i"
                                   else np.nan_to_num(raw.astype(np.float64), nan=0.0))
            v = columns[column]
            if integer and v.dtype.kind == "f":
                v = v.astype(np.int64)
            values[name] = np.where(keep, v, 0)
        return (rec["x"].astype(np.float64), rec["y"].astype(np.float64), values)


_COPY_NATIVE = {str, int, float, bool, type(None), dt.date}


def _reason(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: libpq's (English) reasons for a failed connection, in French: (pattern of its message, French).
_CONNECTION_REASONS = tuple((re.compile(pattern, re.IGNORECASE), reason) for pattern, reason in (
    (r"password authentication failed|no password supplied|authentication failed",
     "utilisateur ou mot de passe refusé par le serveur"),
    (r"connection refused",
     "aucun serveur PostgreSQL ne répond à cette adresse (vérifiez l'hôte, le port et que le "
     "serveur est démarré)"),
    (r"could not translate host name|name or service not known|name resolution",
     "nom d'hôte inconnu"),
    (r"timeout expired|timed out", "le serveur ne répond pas (délai dépassé)"),
    (r'database ".*" does not exist', "cette base n'existe pas sur le serveur"),
    (r'role ".*" does not exist', "cet utilisateur n'existe pas sur le serveur"),
    (r"no pg_hba\.conf entry", "connexion refusée par la configuration du serveur (pg_hba.conf)"),
    (r"too many clients|remaining connection slots",
     "le serveur n'accepte plus de connexion pour l'instant (réessayez)"),
    (r"invalid dsn|invalid connection option|invalid uri|missing \"=\"",
     "URL de connexion invalide"),
    (r"permission denied", "droits insuffisants pour cet utilisateur"),
    (r"server closed the connection|terminating connection|consuming input failed|"
     r"connection is (lost|closed)", "connexion au serveur perdue (réessayez)"),
    (r"cannot contain NUL", "texte refusé par PostgreSQL (caractère nul)"),
))


#: SQLSTATEs (or their class: two characters) of a failed statement, in French.
_STATEMENT_REASONS = {
    "25006": "base en lecture seule (serveur secondaire, ou default_transaction_read_only)",
    "42501": "droits insuffisants pour cet utilisateur",
    "57014": "requête interrompue (délai dépassé : statement_timeout du serveur ?)",
    "57P01": "le serveur s'arrête ou a redémarré (réessayez)",
    "42P01": "table introuvable (entrepôt modifié par un autre client ?)",
    "3F000": "schéma introuvable (entrepôt supprimé par un autre client ?)",
    "42703": "colonne introuvable (entrepôt d'une autre version d'ort-geo ?)",
    "53100": "plus de place sur le disque du serveur",
    "08": "connexion au serveur perdue (réessayez)",
    "53": "ressources du serveur épuisées (mémoire, connexions)",
    "23": "contrainte de la base non respectée",
    "22": "valeur refusée par la base",
}


def _connection_reason(exc: Exception) -> str:
    """Why a store could not be opened, read or written, in French (libpq's text is the error's
    detail): by the statement's SQLSTATE when the server gave one, else by libpq's words."""
    code = getattr(exc, "sqlstate", None) or ""
    if code in _STATEMENT_REASONS or code[:2] in _STATEMENT_REASONS:
        return _STATEMENT_REASONS.get(code) or _STATEMENT_REASONS[code[:2]]
    text = str(exc)
    for pattern, reason in _CONNECTION_REASONS:
        if pattern.search(text):
            return reason
    return "connexion ou lecture impossible (détail technique avec ort-geo -v)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(value: Any) -> Any:
    """A stored value: numpy/pandas scalars made plain, dates kept as dates."""
    return value if hasattr(value, "isoformat") else _plain(value)


def _ewkb_hex(geoms: Sequence[Any] | np.ndarray, epsg: int) -> list[str | None]:
    arr = shapely.set_srid(np.asarray(geoms, dtype=object), epsg)
    return list(shapely.to_wkb(arr, hex=True, include_srid=True, flavor="extended"))


def _journal_entry(row: tuple) -> JournalEntry:
    seq, ts, author, layer, fid, op, before, after, message = row
    def load(record):
        return None if record is None else Feature.from_record(normalise_record(layer, record))
    return JournalEntry(seq, ts, author, layer, fid, op, load(before), load(after), message)


def _typed_frame(spec: LayerSpec, names: list[str], rows: list[tuple],
                 epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    data = {name: typed_series(spec, name, [r[i] for r in rows]) for i, name in enumerate(names)}
    wkbs = np.asarray([r[-1] for r in rows], dtype=object)
    geoms = shapely.from_wkb(wkbs) if rows else np.array([], dtype=object)
    crs = storage_crs(epsg)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)
