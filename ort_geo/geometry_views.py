"""Typed views of mixed-geometry layers, for clients that give a layer one geometry type.

``actions`` holds points, lines and areas in one layer (a fiche action may be a building, a street
or a block). QGIS types a web layer by its first feature and drops the others; GDAL reads them all
but as an untyped layer. Each mixed layer is therefore also offered as three views — its points,
its lines and its areas — each of a single multi-part type (single parts promoted), read-only, with
the same identifiers and fields. The mixed layer stays the one that is edited.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from .catalogue import CATALOGUE, LayerSpec
from .features import FeatureBatch


@dataclass(frozen=True)
class GeometryView:
    """The features of ``layer`` whose geometry is one of ``types``, as ``geometry``."""

    name: str
    layer: str
    title: str
    geometry: str
    types: tuple[str, ...]


_FAMILIES = (
    ("points", "ponctuelles", "MultiPoint", ("Point", "MultiPoint")),
    ("lignes", "linéaires", "MultiLineString", ("LineString", "MultiLineString")),
    ("surfaces", "surfaciques", "MultiPolygon", ("Polygon", "MultiPolygon")),
)
_TYPE_IDS = {"Point": 0, "LineString": 1, "Polygon": 3, "MultiPoint": 4,
             "MultiLineString": 5, "MultiPolygon": 6}
_PROMOTE = {"Point": shapely.multipoints, "LineString": shapely.multilinestrings,
            "Polygon": shapely.multipolygons}


def geometry_views(spec: LayerSpec) -> list[GeometryView]:
    """The typed views of a mixed-geometry layer (none for a layer of one geometry type)."""
    if spec.geometry != "Any":
        return []
    return [GeometryView(f"{spec.name}_{suffix}", spec.name, f"{spec.title} ({label})", kind, types)
            for suffix, label, kind, types in _FAMILIES]


def all_views() -> list[GeometryView]:
    """Every typed view of the catalogue, in catalogue order."""
    return [view for spec in CATALOGUE for view in geometry_views(spec)]


def view_frame(frame: gpd.GeoDataFrame, view: GeometryView) -> gpd.GeoDataFrame:
    """The rows of a layer frame that belong to ``view``, with single parts promoted to multi."""
    geoms = frame.geometry.to_numpy()
    keep = in_view(geoms, view)
    out = frame[keep].copy()
    if out.empty:
        return out
    return out.set_geometry(gpd.GeoSeries(promoted(geoms[keep], view), index=out.index,
                                          crs=frame.crs))


def view_batch(batch: FeatureBatch, view: GeometryView) -> FeatureBatch:
    """The features of a layer batch that belong to ``view``, single parts promoted to multi."""
    out = batch.take(in_view(batch.geometry, view))
    out.geometry = promoted(out.geometry, view)
    return out


def in_view(geoms: np.ndarray, view: GeometryView) -> np.ndarray:
    """Mask of the geometries of one of the view's types."""
    return np.isin(shapely.get_type_id(np.asarray(geoms, dtype=object)),
                   [_TYPE_IDS[t] for t in view.types])


def promoted(geoms: np.ndarray, view: GeometryView) -> np.ndarray:
    """The view's geometries with single parts made multi-part (a new array)."""
    geoms = np.asarray(geoms, dtype=object).copy()
    single = view.types[0]
    is_single = shapely.get_type_id(geoms) == _TYPE_IDS[single]
    if is_single.any():
        geoms[is_single] = [_PROMOTE[single]([g]) for g in geoms[is_single]]
    return geoms
