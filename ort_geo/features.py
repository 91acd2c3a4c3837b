"""Feature values: one record of a layer, its canonical form and its version tag (ETag)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy/pandas scalars, dates and NaN normalised."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Feature:
    """A feature of a layer: its key, its properties (catalogue fields) and its geometry."""

    id: str
    properties: dict[str, Any] = field(default_factory=dict)
    geometry: BaseGeometry | None = None

    def to_record(self) -> dict[str, Any]:
        """Canonical JSON-ready form, as kept in the journal (geometry as WKT, EPSG:2154)."""
        return {
            "id": self.id,
            "properties": {k: _plain(v) for k, v in sorted(self.properties.items())},
            "geometry": None if self.geometry is None else shapely.to_wkt(self.geometry, rounding_precision=-1),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Feature:
        geom = record.get("geometry")
        return cls(
            id=record["id"],
            properties=dict(record.get("properties") or {}),
            geometry=None if geom is None else shapely.from_wkt(geom),
        )

    @property
    def etag(self) -> str:
        """A strong version tag: changes whenever any property or the geometry changes."""
        payload = json.dumps(self.to_record(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def same_content(self, other: Feature) -> bool:
        """Same id and properties, and the same geometry up to :data:`GEOMETRY_TOLERANCE`."""
        mine, theirs = self.to_record(), other.to_record()
        if mine["id"] != theirs["id"] or mine["properties"] != theirs["properties"]:
            return False
        return same_geometry(self.geometry, other.geometry)


#: Geometries this close (storage units: metres) are one version. Re-importing an export must not
#: create versions: GeoJSON keeps 7 decimals of a degree (< 1 cm), the CSV 1 cm, and Shapefile
#: writers rewind rings clockwise.
GEOMETRY_TOLERANCE = 0.01


def same_geometry(a: BaseGeometry | None, b: BaseGeometry | None,
                  tolerance: float = GEOMETRY_TOLERANCE) -> bool:
    """True when both are absent, or of one type, with as many vertices, none of them moved by more
    than ``tolerance`` (ring orientation, starting vertex and part order do not matter)."""
    return bool(same_geometries(objects([a]), objects([b]), tolerance)[0])


def same_geometries(a: np.ndarray, b: np.ndarray,
                    tolerance: float = GEOMETRY_TOLERANCE) -> np.ndarray:
    """:func:`same_geometry` of two aligned geometry arrays, element by element."""
    missing_a, missing_b = shapely.is_missing(a), shapely.is_missing(b)
    same = missing_a & missing_b
    both = ~missing_a & ~missing_b
    exact = np.zeros(len(a), dtype=bool)
    exact[both] = shapely.equals_exact(a[both], b[both], 0)
    same |= exact
    # Close but not identical: same type and vertex count, Hausdorff distance within tolerance.
    rest = np.flatnonzero(both & ~exact)
    if len(rest):
        ra, rb = a[rest], b[rest]
        close = (shapely.get_type_id(ra) == shapely.get_type_id(rb)) & (
            shapely.get_num_coordinates(ra) == shapely.get_num_coordinates(rb))
        close[close] = shapely.hausdorff_distance(ra[close], rb[close]) <= tolerance
        # The same vertices in another order draw another shape: its area or length gives it away.
        ca, cb = ra[close], rb[close]
        length_a = shapely.length(ca)
        slack = 2 * tolerance * (length_a + shapely.get_num_coordinates(ca) * tolerance)
        close[close] = ((np.abs(shapely.area(ca) - shapely.area(cb)) <= slack)
                        & (np.abs(length_a - shapely.length(cb)) <= slack))
        same[rest] = close
    return same


def objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of ``values`` (never split into a 2-d array, whatever they hold)."""
    return np.fromiter(values, dtype=object, count=len(values))


def scalars(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of scalar ``values`` (faster than :func:`objects`, for a column read
    from a database: text, numbers, dates, None)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass
class FeatureBatch:
    """Many features of one layer, column by column: the bulk form of a list of :class:`Feature`.

    ``ids`` and every column of ``columns`` (one per property) are object arrays of plain Python
    values, ``None`` when empty; ``geometry`` an object array of shapely geometries. Bulk writes
    validate, diff, store and journal batches without one Python object per feature.
    """

    ids: np.ndarray
    columns: dict[str, np.ndarray]
    geometry: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_features(cls, features: Sequence[Feature], names: Sequence[str]) -> FeatureBatch:
        return cls(objects([f.id for f in features]),
                   {n: objects([f.properties.get(n) for f in features]) for n in names},
                   objects([f.geometry for f in features]))

    @classmethod
    def concat(cls, batches: Sequence[FeatureBatch]) -> FeatureBatch:
        """The features of ``batches`` (the same columns) one after the other."""
        return cls(np.concatenate([b.ids for b in batches]),
                   {n: np.concatenate([b.columns[n] for b in batches])
                    for n in batches[0].columns},
                   np.concatenate([b.geometry for b in batches]))

    def take(self, index: Any) -> FeatureBatch:
        """The features at ``index`` (integer positions or a boolean mask)."""
        return FeatureBatch(self.ids[index], {k: v[index] for k, v in self.columns.items()},
                            self.geometry[index])

    def features(self) -> list[Feature]:
        names = list(self.columns)
        cols = [self.columns[n].tolist() for n in names]
        return [Feature(fid, dict(zip(names, values, strict=True)), geom)
                for fid, geom, *values in zip(self.ids.tolist(), self.geometry.tolist(), *cols,
                                              strict=True)]

    def records_json(self) -> np.ndarray:
        """``json.dumps(feature.to_record(), ensure_ascii=False)`` of every feature, in bulk."""
        parts, columns = [], [_json_values(self.ids)]
        for name in sorted(self.columns):
            values = self.columns[name]
            if pd.isna(values).all():  # written once in the template rather than on every row
                parts.append(encode_basestring(name).replace("%", "%%") + ": null")
            else:
                parts.append(encode_basestring(name).replace("%", "%%") + ": %s")
                columns.append(_json_values(values))
        wkt = shapely.to_wkt(self.geometry, rounding_precision=-1)
        if shapely.is_missing(self.geometry).any():
            columns.append(_json_values(objects(wkt)))
            geometry = "%s"
        else:  # WKT holds nothing JSON must escape
            columns.append(wkt)
            geometry = '"%s"'
        template = '{"id": %s, "properties": {' + ", ".join(parts) + '}, "geometry": ' + geometry + "}"
        return objects([template % row for row in zip(*(c.tolist() for c in columns), strict=True)])


def _json_values(values: np.ndarray) -> np.ndarray:
    """The JSON text of every value, exactly as ``json.dumps(_plain(v), ensure_ascii=False)``."""
    out = np.full(len(values), "null", dtype=object)
    present = ~pd.isna(values)
    kept = values[present]
    kind = pd.api.types.infer_dtype(kept, skipna=False)
    if kind == "string":
        out[present] = [encode_basestring(v) for v in kept]
    elif kind == "integer":
        out[present] = [str(int(v)) for v in kept]
    elif kind == "boolean":
        out[present] = np.where(kept.astype(bool), "true", "false")
    elif len(kept):
        out[present] = [json.dumps(_plain(v), ensure_ascii=False) for v in kept]
    return out
