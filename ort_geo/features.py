"""Feature values: one record of a layer, its canonical form and its version tag (ETag)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

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
    if a is None or b is None:
        return a is None and b is None
    if shapely.equals_exact(a, b, 0):
        return True
    if a.geom_type != b.geom_type or (
            shapely.get_num_coordinates(a) != shapely.get_num_coordinates(b)):
        return False
    if shapely.hausdorff_distance(a, b) > tolerance:
        return False
    # The same vertices in another order draw another shape: its area or length gives it away.
    slack = 2 * tolerance * (a.length + shapely.get_num_coordinates(a) * tolerance)
    return abs(a.area - b.area) <= slack and abs(a.length - b.length) <= slack
