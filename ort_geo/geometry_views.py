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
import shapely

from .catalogue import CATALOGUE, LayerSpec


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
    kinds = frame.geometry.geom_type
    out = frame[kinds.isin(view.types).to_numpy()].copy()
    if out.empty:
        return out
    single = view.types[0]
    is_single = (out.geometry.geom_type == single).to_numpy()
    if is_single.any():
        geoms = out.geometry.to_numpy().copy()
        geoms[is_single] = [_PROMOTE[single]([g]) for g in geoms[is_single]]
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=frame.crs))
    return out
