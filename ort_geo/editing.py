"""Single-feature edits checked against the domain rules before they are committed.

The store already refuses what the catalogue forbids (types, geometry kinds, unknown fields) and
stale versions (``if_match``). The domain rules of :mod:`ort_geo.rules` (the same as
``ort-geo validate``) look at a whole territory, so an edit is checked on a :class:`CandidateView`:
the store as it would be after the edit, without writing anything. Only violations the edit would
introduce refuse it — an unrelated, pre-existing problem does not block every other edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import shapely

from .errors import ValidationError
from .features import Feature
from .store.base import STORAGE_CRS, Store, features_to_frame

Operation = Literal["create", "replace", "update", "delete"]


class CandidateView:
    """A read-only view of a store with one feature of one layer changed (or removed)."""

    def __init__(self, store: Store, layer: str, feature_id: str, after: Feature | None) -> None:
        self._store, self._layer, self._id, self._after = store, layer, feature_id, after

    def __getattr__(self, name: str) -> Any:  # everything else is the store's
        return getattr(self._store, name)

    def read(self, layer: str, *, bbox=None, where=None, ids=None, columns=None, limit=None,
             offset: int = 0) -> gpd.GeoDataFrame:
        if layer != self._layer:
            return self._store.read(layer, bbox=bbox, where=where, ids=ids, columns=columns,
                                    limit=limit, offset=offset)
        spec = self._store.spec(layer)
        frame = self._store.read(layer)
        frame = frame[frame[spec.key] != self._id]
        if self._after is not None:
            added = features_to_frame(spec, [self._after])
            frame = gpd.GeoDataFrame(pd.concat([frame, added[frame.columns]], ignore_index=True),
                                     geometry="geometry", crs=STORAGE_CRS)
        frame = _filtered(frame, spec.key, bbox, where, ids)
        if columns is not None:
            frame = frame[[spec.key, *[c for c in columns if c != spec.key], "geometry"]]
        end = None if limit is None else offset + limit
        return frame.iloc[offset:end].reset_index(drop=True)

    def count(self, layer: str, *, bbox=None, where=None) -> int:
        return len(self.read(layer, bbox=bbox, where=where))

    def get(self, layer: str, feature_id: str) -> Feature:
        if layer == self._layer and feature_id == self._id and self._after is not None:
            return self._after
        return Store.get(self, layer, feature_id)  # type: ignore[arg-type]


def _filtered(frame: gpd.GeoDataFrame, key: str, bbox, where, ids) -> gpd.GeoDataFrame:
    keep = pd.Series(True, index=frame.index)
    for name, value in (where or {}).items():
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        keep &= frame[name].isin(values)
    if ids is not None:
        keep &= frame[key].isin([str(i) for i in ids])
    if bbox is not None:
        keep &= frame.intersects(shapely.box(*bbox))
    return frame[keep]


def rule_violations(store) -> list[str]:
    """The domain rules' findings on a store (or a candidate view), as messages."""
    try:
        from . import rules  # the territory rules (ort-geo validate), issue 3
    except ImportError:
        return []

    territory = rules.territory_of(store)
    if territory is None:
        return []
    return [str(v) for v in rules.validate(store, territory)]


def checked_edit(
    store: Store, layer: str, operation: Operation, feature: Feature | None, *,
    author: str, feature_id: str | None = None, properties: dict[str, Any] | None = None,
    geometry: Any = None, if_match: str | None = None, message: str = "",
) -> Feature | None:
    """Create, replace, update or delete one feature, refusing edits that break a domain rule.

    ``update`` merges ``properties`` (and ``geometry`` when given) into the stored feature.
    """
    fid = feature.id if feature is not None else str(feature_id)
    if operation == "update":
        current = store.get(layer, fid)
        after: Feature | None = Feature(fid, {**current.properties, **(properties or {})},
                                        current.geometry if geometry is None else geometry)
    else:
        after = feature
    if operation != "delete" and after is not None:
        # Type-check first (the store's own validation) so rules see clean values.
        from .validation import frame_to_features

        after = frame_to_features(store.spec(layer), features_to_frame(store.spec(layer), [after]))[0]
    introduced = _new(rule_violations(store), rule_violations(CandidateView(store, layer, fid, after)))
    if introduced:
        raise ValidationError("Modification refusée, elle enfreindrait les règles du territoire :\n  "
                              + "\n  ".join(introduced))
    if operation == "create":
        return store.create(layer, after, author=author, message=message)  # type: ignore[arg-type]
    if operation == "delete":
        store.delete(layer, fid, author=author, if_match=if_match, message=message)
        return None
    return store.replace(layer, after, author=author, if_match=if_match,  # type: ignore[arg-type]
                         message=message)


def _new(before: Sequence[str], after: Sequence[str]) -> list[str]:
    known = set(before)
    return [v for v in after if v not in known]
