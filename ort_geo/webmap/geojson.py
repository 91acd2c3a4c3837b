"""Layers as web GeoJSON: simplified, in WGS84, coordinates rounded, properties in French.

RFC 7946: longitude/latitude order, polygons' exterior rings counter-clockwise. Simplification
happens in Lambert-93 metres (a tolerance means the same everywhere), rounding on a 1e-5 degree
grid (about 1 m, below what a screen shows at street zoom) with ``shapely.set_precision``, which
keeps geometries valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from ..catalogue import LayerSpec
from ..display import format_value

WGS84 = "EPSG:4326"
#: Default simplification tolerance in metres (the store's projected CRS).
SIMPLIFY_M = 2.0
#: Coordinate grid in degrees.
PRECISION_DEG = 1e-5
DECIMALS = 5


def web_geometries(frame: gpd.GeoDataFrame, *, tolerance: float = SIMPLIFY_M) -> gpd.GeoSeries:
    """Geometries simplified in metres, reprojected to WGS84, rounded and RFC 7946-oriented."""
    geoms = frame.geometry
    if tolerance > 0:
        geoms = geoms.simplify(tolerance, preserve_topology=True)
    geoms = geoms.to_crs(WGS84)
    values = shapely.set_precision(geoms.values, PRECISION_DEG)
    # set_precision snaps to the grid in binary floating point (48.24612000000001); rounding the
    # decimals again makes the JSON text short.
    values = shapely.transform(values, lambda xy: np.round(xy, DECIMALS))
    values = shapely.orient_polygons(values, exterior_cw=False)
    return gpd.GeoSeries(values, index=frame.index, crs=WGS84)


def feature_collection(
    spec: LayerSpec,
    frame: gpd.GeoDataFrame,
    fields: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    tolerance: float = SIMPLIFY_M,
    extra: dict[str, Sequence[Any]] | None = None,
    labels: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``fields`` (displayed in French) plus raw ``extra`` columns.

    Only the named fields leave the frame: callers choose what a map may show. ``labels`` maps a
    field's raw values to the words shown instead of :func:`~ort_geo.display.format_value`'s;
    ``ids`` become the features' ``id``. Features whose geometry becomes empty are dropped.
    """
    geoms = web_geometries(frame, tolerance=tolerance)
    features = []
    records = frame[list(fields)].to_dict("records") if fields else [{}] * len(frame)
    extra = extra or {}
    labels = labels or {}
    for i, (geom, record) in enumerate(zip(geoms, records, strict=True)):
        if geom is None or geom.is_empty:
            continue
        props: dict[str, Any] = {}
        for name in fields:
            value = record[name]
            shown = labels.get(name, {}).get(str(value)) or format_value(spec.field(name), value)
            if shown is not None:
                props[name] = shown
        for name, values in extra.items():
            props[name] = values[i]
        feature: dict[str, Any] = {"type": "Feature", "geometry": geom.__geo_interface__,
                                   "properties": props}
        if ids is not None:
            feature["id"] = ids[i]
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def bounds(frame: gpd.GeoDataFrame) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of a frame, as Leaflet wants them."""
    west, south, east, north = frame.to_crs(WGS84).total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]
