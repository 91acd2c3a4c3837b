"""Time: the store as it stood at a date, replayed from its change journal.

The journal (:meth:`Store.journal`) records every change of every feature with its ``before``
and ``after`` state. This module is the one place that reads it back in time, for both backends:

* :func:`versions` — the versions of one feature (date, author, message, before/after), numbered
  from 1 like ``ort-geo history``; :func:`feature_version`, :func:`version_at` and
  :func:`feature_at` give one of them;
* :func:`layer_at` — a layer as it stood at a date, typed exactly like :meth:`Store.read`;
* :func:`store_at` — a read-only view of the whole store at a date: any code that reads a store
  (``sector_stats``, ``buildings_within``, ``validate``…) computes "as of" that date unchanged;
* :func:`changes` — the net changes of features between two dates.

Dates. ``when`` may be a :class:`datetime.date` (the end of that day: every change made that day
counts), a :class:`datetime.datetime` (that instant, included), an ISO 8601 text (``2025-12-31``,
``2025-12-31T18:00``, ``2025-12-31T17:00Z``), a French ``31/12/2025``, or None for now. Journal
timestamps are UTC instants; days and times without an offset are those of Paris, as everywhere a
user reads or types a date (:mod:`ort_geo.clock`).

How a date is reached. The current layer is read, then each feature changed after ``when`` is put
back to the ``before`` of its first later change (entries ordered by timestamp, then sequence).
This reads only the journal entries after the date, and features that predate the journal (e.g. a
store filled before it had one) are kept as they are. On a store whose journal holds every change
since it was created, this equals replaying every entry up to ``when`` from an empty store —
which is what the tests compare it with. A journal must be written in time order per feature
(backdated entries must come before the later ones of the same feature).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .clock import PARIS
from .errors import FeatureNotFoundError, InputError, StoreError
from .features import Feature
from .measures import Measure
from .store.base import (
    BBox,
    JournalEntry,
    Store,
    Transaction,
    ZoneSums,
    representative_xy,
    typed_series,
)

When = dt.date | dt.datetime | str | None

__all__ = [
    "FeatureChange", "StoreAt", "Version", "When", "changes", "feature_at", "feature_version",
    "layer_at", "parse_when", "store_at", "version_at", "versions",
]


# -- dates ------------------------------------------------------------------------------------

_FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_when(when: When) -> dt.datetime:
    """The instant ``when`` stands for, as an aware UTC datetime (see the module's "Dates")."""
    if when is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(when, dt.datetime):
        return (when.replace(tzinfo=PARIS) if when.tzinfo is None else when).astimezone(dt.UTC)
    if isinstance(when, dt.date):
        return dt.datetime.combine(when, dt.time.max, tzinfo=PARIS).astimezone(dt.UTC)
    text = str(when).strip()
    french = _FRENCH_DATE.match(text)
    try:
        if french:
            day, month, year = (int(g) for g in french.groups())
            return parse_when(dt.date(year, month, day))
        if len(text) == 10:
            return parse_when(dt.date.fromisoformat(text))
        return parse_when(dt.datetime.fromisoformat(text))
    except ValueError:
        raise InputError(f"Date invalide : « {text} » (attendu AAAA-MM-JJ, JJ/MM/AAAA ou "
                         "AAAA-MM-JJTHH:MM).") from None
    except OverflowError:  # the first or last hours of the calendar, moved to UTC
        raise InputError(f"Date hors limites : « {text} ».") from None


def entry_time(entry: JournalEntry) -> dt.datetime:
    """The instant of a journal entry (UTC)."""
    return _timestamp(entry.timestamp)


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise StoreError(f"Horodatage illisible dans le journal : « {text} ».") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _coarse(instant: dt.datetime) -> str:
    """A text bound every journal timestamp after ``instant`` sorts above, whatever its offset."""
    if instant.date() <= dt.date.min + dt.timedelta(days=1):  # "au 0001-01-01": no day before
        return dt.date.min.isoformat()
    return (instant - dt.timedelta(days=1)).date().isoformat()


def _after(store: Store, instant: dt.datetime, layer: str | None = None) -> list[JournalEntry]:
    """Entries strictly after ``instant``, ordered by time then sequence."""
    entries = [e for e in store.journal(layer=layer, since=_coarse(instant))
               if entry_time(e) > instant]
    return sorted(entries, key=lambda e: (entry_time(e), e.seq))


def _ordered(entries: Iterable[JournalEntry]) -> list[JournalEntry]:
    return sorted(entries, key=lambda e: (entry_time(e), e.seq))


# -- one feature ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    """One version of a feature: the state one journal entry left it in."""

    number: int  #: 1 for the first journaled change, as in ``ort-geo history``
    seq: int
    timestamp: str
    author: str
    message: str
    operation: Literal["insert", "update", "delete"]
    before: Feature | None  #: the previous state (None before a creation)
    feature: Feature | None  #: the state of this version (None for a deletion)

    @property
    def deleted(self) -> bool:
        return self.feature is None

    @property
    def etag(self) -> str | None:
        """The ETag the feature had in this version (None for a deletion)."""
        return None if self.feature is None else self.feature.etag


def versions(store: Store, layer: str, feature_id: str) -> list[Version]:
    """Every version of one feature, oldest first (empty when it was never journaled)."""
    store.spec(layer)
    return [Version(n, e.seq, e.timestamp, e.author, e.message, e.operation, e.before, e.after)
            for n, e in enumerate(_ordered(store.history(layer, str(feature_id))), 1)]


def feature_version(store: Store, layer: str, feature_id: str, number: int) -> Version:
    """Version ``number`` (from 1) of a feature; a French error when it does not exist."""
    found = versions(store, layer, feature_id)
    if not found:
        raise FeatureNotFoundError(f"Aucune version enregistrée pour l'objet « {feature_id} » "
                                   f"de la couche {layer}.")
    if not 1 <= int(number) <= len(found):
        raise FeatureNotFoundError(f"L'objet « {feature_id} » de la couche {layer} n'a pas de "
                                   f"version {number} (versions 1 à {len(found)}).")
    return found[int(number) - 1]


def version_at(store: Store, layer: str, feature_id: str, when: When) -> Version | None:
    """The version of a feature in force at ``when`` (None before its first journaled change;
    a version whose ``feature`` is None when it was deleted then)."""
    instant = parse_when(when)
    found = [v for v in versions(store, layer, feature_id) if _timestamp(v.timestamp) <= instant]
    return found[-1] if found else None


def feature_at(store: Store, layer: str, feature_id: str, when: When) -> Feature | None:
    """The feature as it stood at ``when`` (None when it did not exist then)."""
    instant = parse_when(when)
    entries = _ordered(store.history(layer, str(feature_id)))
    later = [e for e in entries if entry_time(e) > instant]
    if later:
        return later[0].before
    if entries:
        return entries[-1].after
    try:  # never journaled: it has always been as it is
        return store.get(layer, str(feature_id))
    except FeatureNotFoundError:
        return None


# -- whole layers -----------------------------------------------------------------------------

def _rewind(entries: Sequence[JournalEntry]) -> dict[str, dict[str, Feature | None]]:
    """Per layer and feature changed after a date, its state at that date (``entries`` ordered)."""
    out: dict[str, dict[str, Feature | None]] = {}
    for e in entries:
        out.setdefault(e.layer, {}).setdefault(e.feature_id, e.before)
    return out


def records_frame(store: Store, layer: str, features: Sequence[Feature],
                  columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """Features as a frame typed like :meth:`Store.read` (key first, then ``columns``)."""
    spec = store.spec(layer)
    names = spec.selected_names(columns)
    data = {}
    for name in names:
        values = ([f.id for f in features] if name == spec.key
                  else [f.properties.get(name) for f in features])
        data[name] = typed_series(spec, name, values)
    geoms = np.array([f.geometry for f in features], dtype=object)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=store.crs), crs=store.crs)


def patched_layer(store: Store, layer: str, states: dict[str, Feature | None],
             columns: Sequence[str] | None) -> gpd.GeoDataFrame:
    """The current layer with the features of ``states`` put in those states (None: absent),
    typed like ``store.read(layer, columns=columns)``."""
    spec = store.spec(layer)
    current = store.read(layer, columns=columns)
    if not states:
        return current
    keys = current[spec.key].astype(str).to_numpy()
    position = {k: i for i, k in enumerate(keys.tolist())}
    kept = ~pd.Index(keys).isin(list(states))
    restored = [f for f in states.values() if f is not None]
    rows = records_frame(store, layer, restored, columns)
    # Changed features keep their place; features deleted since come last, in id order.
    order = np.concatenate([
        np.flatnonzero(kept),
        [position.get(f.id, len(keys) + i) for i, f in enumerate(restored)],
    ]).astype(float)
    frame = pd.concat([current[kept], rows], ignore_index=True) if len(rows) else current[kept]
    frame = frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=store.crs)


def layer_at(store: Store, layer: str, when: When,
             columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """The layer as it stood at ``when``, typed like ``store.read(layer, columns=columns)``."""
    store.spec(layer)
    instant = parse_when(when)
    return patched_layer(store, layer, _rewind(_after(store, instant, layer)).get(layer, {}), columns)


# -- the whole store ----------------------------------------------------------------------------

class StoreAt(Store):
    """A read-only view of a store as it stood at an instant (see :func:`store_at`).

    Reads give the features of that date; the journal and histories stop at it; metadata (the
    territory, API keys) is today's, as it is not journaled. Writing raises :class:`StoreError`.
    """

    def __init__(self, store: Store, when: When) -> None:
        self.base = store
        self.when = parse_when(when)
        self.catalogue = store.catalogue
        self.url = store.url
        self._states: dict[str, dict[str, Feature | None]] | None = None

    def __repr__(self) -> str:
        return f"StoreAt({self.base!r}, {self.when.isoformat()})"

    def _read_epsg(self) -> int:
        return self.base.epsg

    def states(self, layer: str) -> dict[str, Feature | None]:
        """Features of ``layer`` changed after the date, with their state at the date."""
        if self._states is None:  # one journal read serves every layer
            self._states = _rewind(_after(self.base, self.when))
        return self._states.get(layer, {})

    def revision(self, layer: str | None = None) -> Any:
        return (self.when, self.base.revision(layer))  # a fixed date: only a rewritten past changes it

    def _transaction(self) -> AbstractContextManager[Transaction]:
        raise StoreError(f"L'état de l'entrepôt au {self.when:%d/%m/%Y} se consulte, il ne "
                         "se modifie pas.")

    def read(self, layer: str, *, bbox: BBox | None = None, where: dict[str, Any] | None = None,
             ids: Sequence[str] | None = None, columns: Sequence[str] | None = None,
             limit: int | None = None, offset: int = 0) -> gpd.GeoDataFrame:
        spec = self.spec(layer)
        states = self.states(layer)
        if not states:  # nothing changed since: the backend filters itself
            return self.base.read(layer, bbox=bbox, where=where, ids=ids, columns=columns,
                                  limit=limit, offset=offset)
        wanted = None if columns is None else list(columns)
        needed = None if wanted is None else list(dict.fromkeys([*wanted, *(where or {})]))
        frame = patched_layer(self.base, layer, states, needed)
        keep = np.ones(len(frame), dtype=bool)
        for name, value in (where or {}).items():
            spec.field(name)
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            column = frame[name]
            if any(v is None for v in values):
                keep &= column.isna().to_numpy()
            else:
                keep &= column.astype(object).isin(values).to_numpy(dtype=bool)
        if ids is not None:
            keep &= frame[spec.key].astype(str).isin([str(i) for i in ids]).to_numpy()
        if bbox is not None:
            keep &= shapely.intersects(frame.geometry.to_numpy(), shapely.box(*bbox))
        frame = frame[keep]
        end = None if limit is None else offset + limit
        frame = frame.iloc[offset:end]
        if needed is not None and wanted is not None:
            frame = frame[[spec.key, *[c for c in wanted if c != spec.key], "geometry"]]
        return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry",
                                crs=self.crs)

    # Statistics: the backend's fast paths while nothing changed since; else the base class's
    # defaults, which go through :meth:`read`.

    def iter_points(self, layer: str, fields: Sequence[str], **kwargs: Any,
                    ) -> Iterator[pd.DataFrame]:
        """The backend's stored points of the features unchanged since the date, then the
        points of the others as they stood at the date (sums do not depend on order)."""
        states = self.states(layer)
        if not states:
            yield from self.base.iter_points(layer, fields, **kwargs)
            return
        key, wanted = self.spec(layer).key, list(fields)
        asked = wanted if key in wanted else [*wanted, key]
        changed = list(states)
        for batch in self.base.iter_points(layer, asked, **kwargs):
            kept = batch[~batch[key].astype(str).isin(changed).to_numpy()]
            yield (kept if key in wanted else kept.drop(columns=[key])).reset_index(drop=True)
        restored = [f for f in states.values() if f is not None]
        if restored:
            frame = records_frame(self.base, layer, restored, wanted)
            x, y = representative_xy(frame.geometry.to_numpy())
            out = pd.DataFrame(frame.drop(columns="geometry"))
            if key not in wanted:
                out = out.drop(columns=[key])
            out["x"], out["y"] = x, y
            yield out.reset_index(drop=True)

    def zone_sums(self, layer: str, zones: np.ndarray, measures: Sequence[Measure],
                  **kwargs: Any) -> dict[str, ZoneSums]:
        if not self.states(layer):
            return self.base.zone_sums(layer, zones, measures, **kwargs)
        return super().zone_sums(layer, zones, measures, **kwargs)

    def count(self, layer: str, *, bbox: BBox | None = None,
              where: dict[str, Any] | None = None) -> int:
        states = self.states(layer)
        if not states:
            return self.base.count(layer, bbox=bbox, where=where)
        if bbox is None and not where:  # today's count, corrected by the features changed since
            key, ids = self.spec(layer).key, list(states)
            now = sum(self.base.count(layer, where={key: ids[i:i + 900]})  # SQL parameters
                      for i in range(0, len(ids), 900))
            then = sum(f is not None for f in states.values())
            return self.base.count(layer) - now + then
        return len(self.read(layer, bbox=bbox, where=where, columns=list(where or ())))

    def extent(self, layer: str) -> BBox | None:
        if not self.states(layer):
            return self.base.extent(layer)
        geoms = self.read(layer, columns=[]).geometry.to_numpy()
        geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
        return None if not len(geoms) else tuple(shapely.total_bounds(geoms).tolist())  # type: ignore[return-value]

    def history(self, layer: str, feature_id: str) -> list[JournalEntry]:
        return [e for e in self.base.history(layer, feature_id) if entry_time(e) <= self.when]

    def journal(self, *, layer: str | None = None, limit: int | None = None,
                since: str | None = None, author: str | None = None) -> list[JournalEntry]:
        entries = [e for e in self.base.journal(layer=layer, since=since, author=author)
                   if entry_time(e) <= self.when]
        return entries if limit is None else entries[:limit]

    def get_meta(self, scope: str) -> dict[str, str]:
        return self.base.get_meta(scope)

    def meta_scopes(self) -> list[str]:
        return self.base.meta_scopes()


def store_at(store: Store, when: When) -> StoreAt:
    """The store as it stood at ``when``, read-only: pass it to any function that reads a store.

    ``sector_stats(store_at(store, "2025-12-31"), "secteurs_ort")`` gives the statistics as of the
    end of 2025, on either backend.
    """
    if isinstance(store, StoreAt):
        store = store.base
    return StoreAt(store, when)


# -- changes between two dates ----------------------------------------------------------------

@dataclass(frozen=True)
class FeatureChange:
    """The net change of one feature between two dates."""

    layer: str
    feature_id: str
    kind: Literal["insert", "update", "delete"]
    before: Feature | None  #: the feature at the first date (None: it did not exist)
    after: Feature | None  #: the feature at the second date (None: it no longer exists)
    entries: tuple[JournalEntry, ...]  #: the journal entries in between, in order

    @property
    def authors(self) -> list[str]:
        return list(dict.fromkeys(e.author for e in self.entries))


def changes(store: Store, since: When, until: When = None, *,
            layers: Sequence[str] | None = None) -> list[FeatureChange]:
    """Features whose state at ``until`` (default: now) differs from their state at ``since``.

    Ordered by layer then feature id. A feature created then deleted in between, or changed and
    changed back, is not a change.
    """
    start, end = parse_when(since), parse_when(until)
    if end < start:
        raise InputError("La date de fin précède la date de début.")
    wanted = None if layers is None else set(layers)
    for name in wanted or ():
        store.spec(name)
    grouped: dict[tuple[str, str], list[JournalEntry]] = {}
    for e in _after(store, start):
        if entry_time(e) <= end and (wanted is None or e.layer in wanted):
            grouped.setdefault((e.layer, e.feature_id), []).append(e)
    out = []
    for (layer, fid), entries in sorted(grouped.items()):
        before, after = entries[0].before, entries[-1].after
        if before is None and after is None:
            continue
        if before is not None and after is not None:
            if before.same_content(after):
                continue
            kind = "update"
        else:
            kind = "insert" if before is None else "delete"
        out.append(FeatureChange(layer, fid, kind, before, after, tuple(entries)))  # type: ignore[arg-type]
    return out

