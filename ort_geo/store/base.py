"""The store interface: a territory's layers in its CRS, transactional writes and a change journal.

A store's CRS is its territory's official projected CRS (``Store.epsg``: Lambert-93 in metropolitan
France, UTM overseas — see :mod:`ort_geo.crs`), fixed when the store is created and read from the
backend itself (the GeoPackage's SRS, the PostGIS column's SRID). Every geometry a store returns or
accepts is in it; code that needs a CRS reads ``store.epsg`` / ``store.crs``, never a constant.

Backends implement a handful of primitives (``_transaction`` and the read methods); everything that
decides what a write means — validation, diffing against what is stored, optimistic concurrency and
journaling — lives here once, so every backend behaves the same.
"""

from __future__ import annotations

import datetime as dt
import functools
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from ..assign import HINT_SAMPLE, PolygonGrid, ZoneSums, sized_grid
from ..catalogue import CATALOGUE, Catalogue, FieldSpec, LayerSpec
from ..crs import STORAGE_EPSG as _DEFAULT_EPSG
from ..errors import ConflictError, FeatureNotFoundError, InputError
from ..features import Feature, FeatureBatch, objects, same_geometries, scalars
from ..measures import Measure, evaluate, fields_of
from ..validation import type_feature, validate_frame

#: The CRS of metropolitan stores (Lambert-93), and the default when a store is created.
STORAGE_EPSG = _DEFAULT_EPSG
STORAGE_CRS = f"EPSG:{STORAGE_EPSG}"

WriteMode = Literal["upsert", "replace", "insert"]
BBox = tuple[float, float, float, float]
_T = TypeVar("_T")
#: "The caller did not read the revision" (None is a revision: GeoPackage in WAL mode).
UNREAD: Any = object()
#: Layers whose features the statistics assign to zones by their representative point: the
#: stores keep that point with each feature (computed on every write, recomputed by readers
#: where another client changed a geometry), so statistics never read the geometries.
POINT_LAYERS = ("batiments", "commerces", "actions")
#: Rows per batch when a store streams columns (bounded memory at any scale).
BATCH_ROWS = 1 << 17
#: Batches read ahead of the engine: enough for the reader not to wait while the zone grid is
#: built (memory stays bounded: a few batches).
PREFETCH_DEPTH = 8


@functools.cache
@cache
def storage_crs(epsg: int = STORAGE_EPSG) -> CRS:
    """A store's CRS as one pyproj object per code: parsing "EPSG:2154" for every frame read
    costs more than a small query."""
    return CRS.from_epsg(epsg)


def representative_xy(geometries) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of each geometry's representative point (inside it; NaN for missing ones)."""
    geoms = np.asarray(geometries, dtype=object)
    points = shapely.point_on_surface(geoms)
    return shapely.get_x(points), shapely.get_y(points)


@dataclass(frozen=True)
class NotIn:
    """A ``where`` value keeping features whose field is empty or none of ``values``."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class JournalEntry:
    """One change of one feature."""

    seq: int
    timestamp: str
    author: str
    layer: str
    feature_id: str
    operation: Literal["insert", "update", "delete"]
    before: Feature | None
    after: Feature | None
    message: str = ""


@dataclass
class WriteSummary:
    layer: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        return (
            f"{self.layer} : {self.inserted} ajout(s), {self.updated} modification(s), "
            f"{self.deleted} suppression(s), {self.unchanged} inchangé(s)"
        )


@dataclass
class JournalBatch:
    """The journal entries of one bulk write, column by column (see :class:`JournalEntry`).

    ``before`` holds the features of the entries where ``has_before`` is true, in entry order
    (updates and deletes); ``after`` those where ``has_after`` is true (inserts and updates).
    """

    timestamp: str
    author: str
    layer: str
    message: str
    feature_ids: np.ndarray
    operations: np.ndarray
    has_before: np.ndarray
    before: FeatureBatch
    has_after: np.ndarray
    after: FeatureBatch

    def __len__(self) -> int:
        return len(self.feature_ids)

    def entries(self) -> list[JournalEntry]:
        before, after = iter(self.before.features()), iter(self.after.features())
        return [
            JournalEntry(0, self.timestamp, self.author, self.layer, fid, op,
                         next(before) if b else None, next(after) if a else None, self.message)
            for fid, op, b, a in zip(self.feature_ids.tolist(), self.operations.tolist(),
                                     self.has_before.tolist(), self.has_after.tolist(),
                                     strict=True)
        ]

    def records_json(self) -> tuple[np.ndarray, np.ndarray]:
        """Before and after of every entry as journal JSON (``None`` where absent)."""
        out = []
        for has, batch in ((self.has_before, self.before), (self.has_after, self.after)):
            column = np.full(len(self), None, dtype=object)
            column[has] = batch.records_json()
            out.append(column)
        return out[0], out[1]


class Transaction(ABC):
    """Backend primitives available inside one atomic write."""

    @abstractmethod
    def fetch(self, layer: LayerSpec, ids: Sequence[str] | None) -> dict[str, Feature]:
        """Stored features with these ids (all of them when ``ids`` is None), locked for update."""

    def serialize_checks(self) -> None:
        """Make rule checks run in this transaction one at a time across clients, so that two
        edits checked concurrently cannot jointly break a rule. A backend whose transactions are
        already serialised (SQLite's BEGIN IMMEDIATE) has nothing to do."""
        return None

    def reads(self) -> AbstractContextManager[None]:
        """A block whose store reads (on this thread) go through this transaction, as a rule
        check's must: a backend with a connection pool would otherwise need a second connection
        per writer. Reads through another connection see the last commit, which is the same
        state here (the check is serialised)."""
        return nullcontext()

    @abstractmethod
    def insert(self, layer: LayerSpec, features: Sequence[Feature]) -> None: ...

    @abstractmethod
    def update(self, layer: LayerSpec, features: Sequence[Feature]) -> None: ...

    @abstractmethod
    def delete(self, layer: LayerSpec, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def journal(self, entries: Sequence[JournalEntry]) -> None:
        """Append entries; an entry with a non-zero ``seq`` (a copied journal) keeps it."""

    @abstractmethod
    def set_meta(self, scope: str, values: dict[str, str | None]) -> None:
        """Set (or, with None, remove) metadata keys."""

    # Bulk forms used by Store.write. These defaults work on every backend through the methods
    # above; a backend overrides them when it can write columns faster than Feature objects.

    def fetch_batch(self, layer: LayerSpec, ids: Sequence[str] | None) -> FeatureBatch:
        """:meth:`fetch` as a batch holding every field but the key, in storage order."""
        return FeatureBatch.from_features(list(self.fetch(layer, ids).values()),
                                          [n for n in layer.field_names if n != layer.key])

    def insert_batch(self, layer: LayerSpec, batch: FeatureBatch) -> None:
        self.insert(layer, batch.features())

    def update_batch(self, layer: LayerSpec, batch: FeatureBatch) -> None:
        self.update(layer, batch.features())

    def journal_batch(self, batch: JournalBatch) -> None:
        self.journal(batch.entries())

    def loaded(self, layer: LayerSpec,
               progress: Callable[[str, int, int], None] | None = None) -> None:
        """A whole layer has just been loaded into an empty table (a copy): lay its rows out
        for the reads to come, reporting to ``progress(step, done, total)`` when that takes
        work. Nothing to do for a backend whose rows already follow their numbering (the
        GeoPackage)."""
        return None



_DONE = object()


def _put(slots: queue.Queue, stop: threading.Event, item: Any) -> bool:
    while not stop.is_set():
        try:
            slots.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(items: Iterator[Any], slots: queue.Queue, stop: threading.Event) -> None:
    """The worker of :class:`prefetched` (it holds no reference to its consumer, which the
    garbage collector can then close)."""
    error: BaseException | None = None
    try:
        for item in items:
            if not _put(slots, stop, (item, None)):
                break
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        error = exc
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
    _put(slots, stop, (_DONE, error))


class prefetched(Iterator[Any]):  # noqa: N801 - used as a function returning an iterator
    """The items of ``sources``, each produced by a worker thread of its own up to ``depth``
    ahead of the consumer (one source: in its order; several: interleaved as they come).

    The workers start at once (a reader fills the queue while its consumer prepares); their
    exceptions are raised to the consumer; a consumer that stops early, closes or drops the
    iterator — or a failing source — stops and closes every producer (in the worker, which
    owns it).
    """

    def __init__(self, *sources: Iterator[Any], depth: int = 4) -> None:
        self._slots: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._running = len(sources)
        self._workers = [threading.Thread(target=_produce, args=(items, self._slots, self._stop),
                                          name="ort-geo-prefetch", daemon=True)
                         for items in sources]
        for worker in self._workers:
            worker.start()

    def __iter__(self) -> prefetched:
        return self

    def __next__(self) -> Any:
        while self._running and not self._stop.is_set():
            item, error = self._slots.get()
            if item is not _DONE:
                return item
            self._running -= 1
            if error is not None:
                self.close()
                raise error
        self.close()
        raise StopIteration

    def close(self) -> None:
        """Stop the producers and wait for their threads (at most the item each is producing)."""
        self._stop.set()
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join()

    def __del__(self) -> None:
        if hasattr(self, "_workers"):
            self.close()


#: One batch of a layer for :meth:`Store._grid_sums`: (part, x, y, the value each measure adds
#: per feature). Batches of one part come in a fixed order; parts are added up in part order.
ValueBatch = tuple[int, np.ndarray, np.ndarray, Mapping[str, np.ndarray]]


class Store(ABC):
    """A territory's atlas. Open one with :func:`ort_geo.store.open_store`."""

    catalogue = CATALOGUE
    url: str
    _epsg: int | None = None

    @property
    def epsg(self) -> int:
        """The store's CRS as an EPSG code: the one place every measure and map reads it from."""
        if self._epsg is None:
            self._epsg = self._read_epsg()
        return self._epsg

    @property
    def crs(self) -> str:
        """The store's CRS as ``"EPSG:<code>"`` (for geopandas and pyproj)."""
        return f"EPSG:{self.epsg}"

    # -- backend primitives -------------------------------------------------------------------

    @abstractmethod
    def _read_epsg(self) -> int:
        """The SRS of the stored geometries, as the backend records it."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Transaction]:
        """An atomic write: committed when the block ends, rolled back on any exception."""

    @abstractmethod
    def read(
        self,
        layer: str,
        *,
        bbox: BBox | None = None,
        where: dict[str, Any] | None = None,
        ids: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> gpd.GeoDataFrame:
        """Features as a GeoDataFrame in the store's CRS, in stable storage order.

        ``bbox`` (in the store's CRS) keeps features whose geometry intersects the box; ``where`` keeps
        features whose fields equal the given values (a list value means "any of", a
        :class:`NotIn` value "empty or none of").
        """

    @abstractmethod
    def count(
        self, layer: str, *, bbox: BBox | None = None, where: dict[str, Any] | None = None
    ) -> int: ...

    @abstractmethod
    def extent(self, layer: str) -> BBox | None:
        """Bounds of the layer in the store's CRS, or None when it is empty."""

    @abstractmethod
    def history(self, layer: str, feature_id: str) -> list[JournalEntry]:
        """Every change of one feature, oldest first."""

    @abstractmethod
    def journal(
        self, *, layer: str | None = None, limit: int | None = None, since: str | None = None,
        author: str | None = None,
    ) -> list[JournalEntry]:
        """The change journal, oldest first.

        ``since`` (an ISO 8601 text) keeps the entries whose timestamp text sorts after it: a
        coarse filter done by the backend (see :mod:`ort_geo.timeline` for exact dates);
        ``author`` the entries of one author.
        """

    @abstractmethod
    def get_meta(self, scope: str) -> dict[str, str]:
        """Key/value metadata of a scope (a layer name, ``territory``, ``apikeys``…)."""

    @abstractmethod
    def meta_scopes(self) -> list[str]:
        """Every scope holding metadata, sorted."""

    def set_meta(self, scope: str, values: dict[str, str | None]) -> None:
        """Set (or, with None, remove) metadata keys, atomically."""
        with self._transaction() as tx:
            tx.set_meta(scope, values)

    def close(self) -> None:  # noqa: B027 - backends without resources need nothing
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pages without frames (the API's read path) --------------------------------------------

    def read_batch(
        self,
        layer: str,
        *,
        columns: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        bbox: BBox | None = None,
        area: BaseGeometry | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = False,
    ) -> tuple[FeatureBatch, int | None]:
        """A page of features as plain columns, and how many features match (``count``; else
        None): what a web page of features needs, without a GeoDataFrame.

        ``area`` (a geometry in the store's CRS) keeps the features that intersect it exactly;
        ``bbox`` the features that intersect the box; ``columns`` (the key is always read) and
        ``where`` as in :meth:`read`. The page is taken in storage order after every filter, so
        that backends page inside the database (:meth:`read_page`, which backends override).
        """
        page = self.read_page(layer, columns=columns, where=where, bbox=bbox, area=area,
                              limit=limit, offset=offset, count=count)
        return page.batch, page.matched

    def read_page(
        self,
        layer: str,
        *,
        columns: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        bbox: BBox | None = None,
        area: BaseGeometry | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = False,
        kept: Callable[[list[int]], list[Any]] | None = None,
        revision: Any = UNREAD,
    ) -> Page:
        """:meth:`read_batch`'s page, reading only the rows a caller does not already hold.

        ``kept(rows)`` is given the page's rows as the store numbers them (unique, stable until
        the store changes: the GeoPackage's and PostGIS's ``fid``), in page order, and returns
        for each what the caller keeps for it (a served text, say) or None; the page's batch
        then holds only the features whose value is None. Rows, values, features and count
        come from one snapshot of the store. ``revision``: the store's :meth:`revision` as the
        caller read it before the page (the one its kept values belong to; read here if not
        given), for a backend that remembers pages per revision. This default reads a frame and
        keeps nothing; backends override it."""
        spec = self.spec(layer)
        if area is not None:
            bbox = shapely.bounds(area).tolist() if bbox is None else bbox
        frame = self.read(layer, bbox=bbox, where=where, columns=columns)
        if area is not None:
            frame = frame[frame.intersects(area)]
        matched = len(frame) if count else None
        batch = frame_batch(spec, frame.iloc[offset:None if limit is None else offset + limit])
        return Page(batch.ids.tolist(), [None] * len(batch), batch, matched)

    def cached(self, key: Hashable, compute: Callable[[], _T], *, stale: float = 0.0,
               revision: Any = UNREAD) -> _T:
        """``compute()``, remembered until the store changes (:meth:`revision`, metadata
        included): what a server would otherwise read again on every request (API keys,
        collection extents). A store without a revision (GeoPackage in WAL mode) computes it
        again, or keeps it ``stale`` seconds where the caller accepts that. ``revision``: the
        store's revision as the caller has just read it (one read per request), else read here."""
        if revision is UNREAD:
            revision = self.revision()  # read first: a write during compute() only wastes it
        if revision is None and stale <= 0:
            return compute()
        memo = self.__dict__.setdefault("_memo", {})
        hit = memo.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] == revision and (
                revision is not None or now - hit[2] < stale):
            return hit[1]
        value = compute()
        memo[key] = (revision, value, now)
        return value

    def forget(self, key: Hashable) -> None:
        """Drop what :meth:`cached` remembers under ``key`` (a server's own write, seen at once
        even without a revision)."""
        self.__dict__.get("_memo", {}).pop(key, None)

    # -- vector tiles -------------------------------------------------------------------------

    @abstractmethod
    def revision(self, layer: str | None = None) -> Any:
        """A value that changes with every write of any layer, by the tool or by another client
        (the journal's last entry; triggers journal outside edits): caches compare it. With
        ``layer``, one that changes with every write of that layer only."""

    def mvt(self, layer: str, tile: Any, *, columns: Sequence[str],
            where: dict[str, Any] | None = None) -> bytes:
        """The Mapbox Vector Tile of ``layer`` at ``tile`` (a :class:`ort_geo.vector_tiles.Tile`)
        with ``columns`` as properties, for features matching ``where``; ``b""`` when empty.

        This default reads the spatial index's candidates and builds the tile in Python
        (:func:`ort_geo.vector_tiles.encode_tile`); PostGIS builds it in SQL.
        """
        from ..vector_tiles import encode_tile, storage_bbox

        # Plain values, no data frame: a tile is a few thousand buildings, read many times.
        batch, _ = self.read_batch(layer, columns=list(columns), where=where,
                                   bbox=storage_bbox(tile, self.epsg))
        if not len(batch):
            return b""
        properties = {name: batch.columns[name] for name in columns if name in batch.columns}
        return encode_tile(layer, batch.geometry, properties, tile, self.epsg)

    # -- statistics without features ----------------------------------------------------------

    def iter_points(
        self, layer: str, fields: Sequence[str], *, batch_rows: int = BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """Representative points (columns ``x``, ``y``; NaN without geometry) and ``fields`` of
        every feature, in batches of at most ``batch_rows``, storage order.

        This default reads features; backends override it with columnar reads of the stored
        points.
        """
        frame = self.read(layer, columns=list(fields))
        for start in range(0, max(len(frame), 1), batch_rows):
            part = frame.iloc[start:start + batch_rows]
            x, y = representative_xy(part.geometry.to_numpy())
            out = pd.DataFrame(part.drop(columns=part.geometry.name)).reset_index(drop=True)
            out["x"], out["y"] = x, y
            yield out

    def zone_sums(
        self, layer: str, zones: np.ndarray, measures: Sequence[Measure], *,
        cache: dict[str, Any] | None = None,
    ) -> dict[str, ZoneSums]:
        """Each measure summed over the features of ``layer`` whose representative point each
        zone covers (boundary included; overlapping zones each count), and over the layer.

        Streams the stored points batch by batch through :class:`~ort_geo.assign.PolygonGrid`:
        memory stays bounded whatever the number of features. Calls over the same zones may
        share a ``cache`` dict (the grid is built once; call the largest layer first).
        """
        spec = self.spec(layer)
        fields = [f for f in fields_of(measures) if f in spec.by_name]

        def evaluated(part: int, read: dict[str, Any]) -> Iterator[ValueBatch]:
            for batch in self.iter_points(layer, fields, **read):
                yield (part, batch["x"].to_numpy(np.float64), batch["y"].to_numpy(np.float64),
                       evaluate(measures, batch))

        # Worker threads read the batches (GDAL, SQLite and sockets release the GIL) and
        # evaluate the measures from now on: one per part of the layer.
        with closing(prefetched(*(evaluated(k, read) for k, read in
                                  enumerate(self._point_parts(layer))),
                                depth=PREFETCH_DEPTH)) as batches:
            return self._grid_sums(layer, zones, measures, batches, cache)

    def _point_parts(self, layer: str) -> list[dict[str, Any]]:
        """The :meth:`iter_points` arguments of each part of ``layer`` read by a thread of its
        own (a backend splits a large layer where it can read parts at once)."""
        return [{}]

    def _grid_sums(self, layer: str, zones: np.ndarray, measures: Sequence[Measure],
                   batches: Iterable[ValueBatch], cache: dict[str, Any] | None,
                   hint: int | None = None) -> dict[str, ZoneSums]:
        """The measures summed per zone and in total over ``batches`` (being read already).

        The zone grid (``cache["grid"]``, else built in a thread of its own while the first
        batches come: sized by ``hint`` — points near the zones —, a :meth:`point_sample`, or
        the first batch); this thread sums, keeping the first batches until the grid is there.
        Sums are kept per part and added in part order: float sums do not depend on which
        reader of a parallel read came first.
        """
        cache = {} if cache is None else cache
        zones = np.asarray(zones, dtype=object)
        parts: dict[int, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
        grid: PolygonGrid | None = cache.get("grid")
        waiting: list[ValueBatch] = []

        def add(part: int, x: np.ndarray, y: np.ndarray, values: Mapping[str, np.ndarray]
                ) -> None:
            assert grid is not None
            per_zone = parts[part][0]
            for name, sums in grid.sums(x, y, values).items():
                per_zone[name] = per_zone[name] + sums if name in per_zone else sums

        with ThreadPoolExecutor(1, thread_name_prefix="ort-geo-grid") as pool:
            building = None
            if grid is None and hint is not None:
                building = pool.submit(PolygonGrid, zones, points_hint=hint)
            elif grid is None and (sample := self.point_sample(layer, HINT_SAMPLE)) is not None:
                building = pool.submit(self._zone_grid, layer, zones, *sample)

            def settle(x: np.ndarray, y: np.ndarray) -> PolygonGrid:
                """The grid being built, else one sized by these points."""
                cache["grid"] = building.result() if building is not None \
                    else self._zone_grid(layer, zones, x, y)
                return cache["grid"]

            for part, x, y, values in batches:
                totals = parts.setdefault(part, ({}, {}))[1]
                for name, v in values.items():
                    totals[name] = totals.get(name, 0) + v.sum()
                waiting.append((part, x, y, values))
                if grid is None:
                    if building is not None and not building.done() \
                            and len(waiting) < PREFETCH_DEPTH:
                        continue
                    grid = settle(x, y)  # no sample: the first batch sizes it
                for args in waiting:
                    add(*args)
                waiting = []
            if grid is None and waiting:
                grid = settle(waiting[0][1], waiting[0][2])
            for args in waiting:
                add(*args)
        out = {}
        for m in measures:
            kind = np.int64 if m.field is None or m.integer else np.float64
            found = [parts[k] for k in sorted(parts) if m.name in parts[k][1]]
            if not found:
                out[m.name] = ZoneSums(np.zeros(len(zones), kind), kind(0))
                continue
            per_zone_sum = found[0][0].get(m.name, np.zeros(len(zones), kind))
            total = found[0][1][m.name]
            for per_zone, totals in found[1:]:
                per_zone_sum = per_zone_sum + per_zone.get(m.name, 0)
                total = total + totals[m.name]
            out[m.name] = ZoneSums(per_zone_sum, kind(total))
        return out

    def point_sample(self, layer: str, rows: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The representative points (x, y; NaN where unknown) of some ``rows`` features of
        ``layer``, to size a zone grid before the points stream; None where the backend has no
        cheaper way than the stream itself (the first batch then sizes the grid)."""
        return None

    def _zone_grid(self, layer: str, zones: np.ndarray, x: np.ndarray, y: np.ndarray
                   ) -> PolygonGrid:
        """The zones' grid, sized for the points of ``layer`` (``x``, ``y``: a sample)."""
        return sized_grid(zones, x, y, self.count(layer) if len(x) and len(zones) else 0)

    # -- shared behaviour ---------------------------------------------------------------------

    def spec(self, layer: str) -> LayerSpec:
        return self.catalogue[layer]

    def layer_names(self) -> list[str]:
        return self.catalogue.names

    def get(self, layer: str, feature_id: str) -> Feature:
        spec = self.spec(layer)
        # Plain values, no frame: an edit reads its feature several times (ETag, rules, answer).
        batch, _ = self.read_batch(layer, where={spec.key: str(feature_id)}, limit=1)
        if not len(batch):
            raise FeatureNotFoundError(f"Objet « {feature_id} » introuvable dans la couche {layer}.")
        return batch_feature(spec, batch)

    def write(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        *,
        author: str,
        mode: WriteMode = "upsert",
        message: str = "",
    ) -> WriteSummary:
        """Write a frame of features atomically and journal every change.

        ``upsert`` inserts new ids and updates changed ones; ``replace`` also deletes stored
        features absent from the frame; ``insert`` refuses ids that already exist.
        """
        # Validated before the transaction: bad input never opens one.
        spec = self.spec(layer)
        incoming = validate_frame(spec, frame, epsg=self.epsg)
        with self._transaction() as tx:
            return self._write_validated(tx, spec, incoming, mode, author, message, _now())

    def write_batches(
        self,
        layer: str,
        frames: Iterable[gpd.GeoDataFrame],
        *,
        author: str,
        mode: WriteMode = "upsert",
        message: str = "",
    ) -> WriteSummary:
        """:meth:`write` of frames produced one after the other (a file read in chunks), in ONE
        transaction: all or nothing, memory bounded by a chunk. ``replace`` takes one frame
        (the features to delete are known only once every frame is read)."""
        spec = self.spec(layer)
        total = WriteSummary(layer)
        timestamp = _now()
        with self._transaction() as tx:
            for count, frame in enumerate(frames):
                if mode == "replace" and count:
                    raise InputError("Le mode « replace » s'écrit en une seule fois.")
                incoming = validate_frame(spec, frame, epsg=self.epsg)
                done = self._write_validated(tx, spec, incoming, mode, author, message,
                                             timestamp)
                total = WriteSummary(layer, inserted=total.inserted + done.inserted,
                                     updated=total.updated + done.updated,
                                     unchanged=total.unchanged + done.unchanged,
                                     deleted=total.deleted + done.deleted)
        return total

    def _write_validated(self, tx: Transaction, spec: LayerSpec, incoming: FeatureBatch,
                         mode: WriteMode, author: str, message: str, timestamp: str
                         ) -> WriteSummary:
        layer = spec.name
        others = [n for n in spec.field_names if n != spec.key]
        existing = tx.fetch_batch(spec, None if mode == "replace" else incoming.ids.tolist())
        if mode == "insert" and len(existing):
            ids = ", ".join(sorted(existing.ids.tolist())[:5])
            raise InputError(f"Identifiants déjà présents dans {layer} : {ids}")
        where = pd.Index(existing.ids, dtype=object).get_indexer(incoming.ids)
        stored = np.flatnonzero(where >= 0)
        # Fields absent from the frame keep their stored value (or stay empty).
        columns = {}
        for name in others:
            column = incoming.columns.get(name)
            if column is None:
                column = np.full(len(incoming), None, dtype=object)
                column[stored] = existing.columns[name][where[stored]]
            columns[name] = column
        features = FeatureBatch(incoming.ids, columns, incoming.geometry)
        before = existing.take(where[stored])
        same = same_geometries(before.geometry, features.geometry[stored])
        for name in others:
            same &= np.asarray(before.columns[name] == columns[name][stored], dtype=bool)
        changed = np.zeros(len(features), dtype=bool)
        changed[where < 0] = True
        changed[stored[~same]] = True
        rows = np.flatnonzero(changed)  # inserts and updates, in frame order
        is_update = where[rows] >= 0
        gone = (np.flatnonzero(~pd.Index(existing.ids, dtype=object).isin(incoming.ids))
                if mode == "replace" else np.array([], dtype=int))
        operations = np.array(["update" if u else "insert" for u in is_update.tolist()]
                              + ["delete"] * len(gone), dtype=object)
        journal = JournalBatch(
            timestamp, author, layer, message,
            feature_ids=np.concatenate([features.ids[rows], existing.ids[gone]]),
            operations=operations,
            has_before=operations != "insert",
            before=existing.take(np.concatenate([where[rows[is_update]], gone])),
            has_after=operations != "delete",
            after=features.take(rows),
        )
        tx.insert_batch(spec, features.take(rows[~is_update]))
        tx.update_batch(spec, features.take(rows[is_update]))
        tx.delete(spec, existing.ids[gone].tolist())
        tx.journal_batch(journal)
        return WriteSummary(layer, inserted=int((~is_update).sum()), updated=int(is_update.sum()),
                            unchanged=int(same.sum()), deleted=len(gone))

    def create(self, layer: str, feature: Feature, *, author: str, message: str = "",
               check: EditCheckHook | None = None) -> Feature:
        """Add one feature; its id must be new. ``check`` runs inside the write transaction
        (see :meth:`apply`)."""
        return self._one(layer, ("create", feature.id, feature, None), author, message, check)

    def replace(
        self, layer: str, feature: Feature, *, author: str, if_match: ETagMatch = None,
        message: str = "", check: EditCheckHook | None = None,
    ) -> Feature:
        """Replace one existing feature; with ``if_match``, only if it is still that version."""
        return self._one(layer, ("replace", feature.id, feature, if_match), author, message, check)

    def update(
        self, layer: str, feature_id: str, properties: dict[str, Any], *, geometry: Any = None,
        author: str, if_match: ETagMatch = None, message: str = "",
    ) -> Feature:
        """Change some properties (and optionally the geometry) of one feature."""
        current = self.get(layer, feature_id)
        merged = Feature(feature_id, {**current.properties, **properties},
                         current.geometry if geometry is None else geometry)
        return self._one(layer, ("replace", feature_id, merged, if_match or current.etag),
                         author, message, None)

    def delete(
        self, layer: str, feature_id: str, *, author: str, if_match: ETagMatch = None,
        message: str = "", check: EditCheckHook | None = None,
    ) -> None:
        """Delete one feature; with ``if_match``, only if it is still that version."""
        self.apply(layer, [("delete", feature_id, None, if_match)], author=author,
                   message=message, check=check)

    def _one(self, layer: str, change: Change, author: str, message: str,
             check: EditCheckHook | None) -> Feature:
        """One feature's create or replace: :meth:`apply` with a single change."""
        written = self.apply(layer, [change], author=author, message=message, check=check)[0]
        assert written is not None  # a create or replace always carries its feature
        return written

    def apply(
        self, layer: str, changes: Sequence[Change], *, author: str, message: str = "",
        check: EditCheckHook | None = None, typed: bool = False,
    ) -> list[Feature | None]:
        """Several creates, replaces and deletes of one layer in ONE transaction: all or none.

        Each change is ``(operation, feature_id, feature or None, if_match)``; a stale
        ``if_match`` on any of them is a conflict before any rule. ``check`` (the domain rules,
        :mod:`ort_geo.editing`) runs inside the transaction, after the version checks and
        serialised across clients, so what it saw is what the edit commits onto. One journal
        entry is written per change that changes something. ``typed``: the features are
        already typed by the catalogue (as :func:`ort_geo.editing.check_changes` returns them),
        so they are not typed again.
        """
        spec = self.spec(layer)
        blank = {n: None for n in spec.field_names if n != spec.key}
        prepared: list[Change] = []
        for operation, fid, feature, if_match in changes:
            if operation not in ("create", "replace", "delete"):
                raise InputError(f"Opération inconnue : « {operation} » (create, replace, delete).")
            if (feature is None) != (operation == "delete"):
                raise InputError(f"« {operation} » de « {fid} » : objet attendu"
                                 if feature is None else "Une suppression ne porte pas d'objet.")
            if feature is not None:
                if feature.id != fid:
                    raise InputError("L'identifiant de l'objet ne correspond pas à celui de la "
                                     "requête.")
                if not typed:
                    feature = type_feature(spec, feature, epsg=self.epsg)
                feature = Feature(feature.id, {**blank, **feature.properties}, feature.geometry)
            prepared.append((operation, fid, feature, if_match))
        ids = [c[1] for c in prepared]
        if len(set(ids)) != len(ids):
            raise InputError("Un même objet ne peut changer qu'une fois par envoi.")
        with self._transaction() as tx:
            stored = tx.fetch(spec, ids)
            for operation, fid, _, if_match in prepared:
                before = stored.get(fid)
                if before is None and operation != "create":
                    raise FeatureNotFoundError(f"Objet « {fid} » introuvable dans la couche {layer}.")
                if before is not None and operation == "create":
                    raise InputError(f"L'objet « {fid} » existe déjà dans la couche {layer}.")
                if before is not None and (stale := stale_version(layer, fid, before.etag,
                                                                   if_match)):
                    raise stale
            if check is not None:
                tx.serialize_checks()
                with tx.reads():
                    check()
            now = _now()
            for _op, fid, feature, _ in prepared:
                before = stored.get(fid)
                if feature is None:
                    tx.delete(spec, [fid])
                    tx.journal([_entry(now, author, layer, "delete", before, None, message)])
                elif before is None:
                    tx.insert(spec, [feature])
                    tx.journal([_entry(now, author, layer, "insert", None, feature, message)])
                elif not before.same_content(feature):
                    tx.update(spec, [feature])
                    tx.journal([_entry(now, author, layer, "update", before, feature, message)])
        return [c[2] for c in prepared]


#: The version(s) an edit expects: the ETag the editor read, or several (any one current will
#: do: an HTTP ``If-Match`` list, RFC 9110 §13.1.1); None: not checked.
ETagMatch = str | tuple[str, ...] | None

#: One change of :meth:`Store.apply`: operation ("create", "replace", "delete"), feature id,
#: the feature (None for a delete), the expected ETag(s).
Change = tuple[str, str, Feature | None, ETagMatch]


def stale_version(layer: str, fid: str, etag: str, if_match: ETagMatch) -> ConflictError | None:
    """The conflict of an edit expecting ``if_match`` of a feature whose version is ``etag``
    (None when it names that version, or checks none)."""
    if if_match is None or etag == if_match or (isinstance(if_match, tuple) and etag in if_match):
        return None
    expected = if_match if isinstance(if_match, str) else " ou ".join(if_match)
    return ConflictError(f"L'objet « {fid} » a été modifié entre-temps (version {etag}, attendue "
                         f"{expected}) : rechargez-le avant de le modifier.",
                         layer=layer, feature_id=fid)

#: A rule check run inside an edit's transaction; raises (e.g. ValidationError) to refuse it.
EditCheckHook = Callable[[], None]


def check_bbox(spec: LayerSpec, bbox: BBox | None) -> None:
    """A filter by extent needs geometries: refused on a plain table."""
    if bbox is not None and not spec.spatial:
        raise InputError(f"La couche {spec.name} est une table sans géométrie : pas de "
                         "filtre par emprise.")


def catalogue_gains(catalogue: Catalogue, columns: Mapping[str, set[str]],
                    ) -> tuple[list[LayerSpec], list[tuple[LayerSpec, FieldSpec]]]:
    """What a store made by an older version lacks, given its tables' ``columns``: the layers
    it has no table for, and the fields missing from the tables it has."""
    new = [spec for spec in catalogue if spec.name not in columns]
    added = [(spec, f) for spec in catalogue if spec.name in columns
             for f in spec.fields if f.name not in columns[spec.name]]
    return new, added


def iter_features(spec: LayerSpec, frame: gpd.GeoDataFrame) -> Iterator[Feature]:
    """Features of a frame read from a store (already typed and in the store's CRS)."""
    names = [n for n in spec.field_names if n in frame.columns and n != spec.key]
    for row in frame.itertuples(index=False):
        values = row._asdict()
        props = {n: None if _missing(values[n]) else values[n] for n in names}
        yield Feature(str(values[spec.key]), props, values.get("geometry"))


def batch_feature(spec: LayerSpec, batch: FeatureBatch, index: int = 0) -> Feature:
    """The feature at ``index`` of a batch read from a store, as :func:`iter_features` gives it
    (the key is the id, not a property)."""
    props = {name: values[index] for name, values in batch.columns.items() if name != spec.key}
    return Feature(str(batch.ids[index]), props, batch.geometry[index])


@dataclass(frozen=True)
class Page:
    """A page of features (:meth:`Store.read_page`): its rows as the store numbers them, in
    storage order; what the caller keeps for each (None: not kept); the features of the rows
    not kept (in page order); and how many features match (None when not counted)."""

    rows: list[Any]
    kept: list[Any]
    batch: FeatureBatch
    matched: int | None

    @property
    def read_rows(self) -> list[Any]:
        """The rows of :attr:`batch`'s features."""
        return [r for r, v in zip(self.rows, self.kept, strict=True) if v is None]


def page_count(rows: Sequence[Any], limit: int | None, offset: int) -> int | None:
    """How many rows match, known from a page alone when it is not full (and not past the end);
    None when it takes a count."""
    if (limit is None or len(rows) < limit) and (rows or not offset):
        return offset + len(rows)
    return None


def plain_column(kind: str, values: Sequence[Any]) -> np.ndarray:
    """Plain Python values of a stored column of that catalogue type (as :func:`typed_series`):
    booleans, dates, floats without NaN, None where missing."""
    if kind == "bool":
        values = [None if v is None else bool(v) for v in values]
    elif kind == "date":
        values = [None if v is None else v if type(v) is dt.date
                  else dt.date.fromisoformat(str(v)[:10]) for v in values]
    elif kind == "float":
        values = [None if v is None or v != v else float(v) for v in values]
    return scalars(values)


def frame_batch(spec: LayerSpec, frame: gpd.GeoDataFrame) -> FeatureBatch:
    """A store frame's rows as a :class:`FeatureBatch` of plain values (every column of the
    frame that is a field of the layer, the key included)."""
    names = [n for n in frame.columns if n in spec.by_name]
    columns = {n: plain_column(spec.field(n).type,
                               [None if _missing(v) else v for v in frame[n].tolist()])
               for n in names}
    return FeatureBatch(objects([str(v) for v in frame[spec.key].tolist()]), columns,
                        np.asarray(frame.geometry.to_numpy(), dtype=object))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def features_to_frame(spec: LayerSpec, features: Sequence[Feature],
                      crs: str = STORAGE_CRS) -> gpd.GeoDataFrame:
    """Features as a frame; ``crs`` is the CRS their geometries are in (the store's)."""
    rows = [{spec.key: f.id, **f.properties} for f in features]
    return gpd.GeoDataFrame(rows, geometry=[f.geometry for f in features], crs=crs)


def typed_series(spec: LayerSpec, name: str, values: list[Any]) -> pd.Series:
    """A pandas column with the catalogue type of field ``name`` (nullable dtypes)."""
    kind = spec.field(name).type
    if kind == "int":
        return pd.Series(values, dtype="Int64")
    if kind == "float":
        return pd.Series(values, dtype="float64")
    if kind == "bool":
        return pd.Series([None if v is None else bool(v) for v in values], dtype="boolean")
    if kind == "date":
        return pd.Series([None if v is None else dt.date.fromisoformat(str(v)[:10])
                          for v in values], dtype=object)
    return pd.Series(values, dtype=object)


#: The instant journal entries are stamped with when set (see :func:`journal_clock`).
_CLOCK: ContextVar[dt.datetime | None] = ContextVar("ort_geo_journal_clock", default=None)


@contextmanager
def journal_clock(when: dt.datetime) -> Iterator[None]:
    """Stamp the journal entries written in this block at ``when`` instead of now.

    For records of the past entered afterwards (a seeded demonstration history, a backfilled
    follow-up): the journal's replay (:mod:`ort_geo.timeline`) then places them at their date.
    Entries of one feature must still be written in time order.
    """
    token = _CLOCK.set(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
    try:
        yield
    finally:
        _CLOCK.reset(token)


def _now() -> str:
    fixed = _CLOCK.get()
    when = dt.datetime.now(dt.UTC) if fixed is None else fixed.astimezone(dt.UTC)
    return when.isoformat(timespec="milliseconds")


def _entry(ts: str, author: str, layer: str, op: str, before: Feature | None,
           after: Feature | None, message: str) -> JournalEntry:
    fid = (after or before).id  # type: ignore[union-attr]
    return JournalEntry(0, ts, author, layer, fid, op, before, after, message)  # type: ignore[arg-type]
