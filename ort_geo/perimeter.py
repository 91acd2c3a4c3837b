"""Perimeters: what "within" means for statistics and queries, resolved to polygons in the store's CRS.

A perimeter is given as ``"layer"`` (every feature of a polygon layer), ``"layer:id"`` (one
feature), a vector file brought by the user, a GeoDataFrame/GeoSeries or a shapely geometry
(assumed in the store's CRS, ``Store.epsg``; Lambert-93 without a store). It is resolved to a
frame with ``id``, ``nom`` and ``geometry``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from .errors import FeatureNotFoundError, GeometryError, InputError
from .store.base import STORAGE_CRS, STORAGE_EPSG, Store

Perimeter: TypeAlias = str | Path | BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries

#: Fields used, in this order, to name a zone.
NAME_FIELDS = ("nom", "libelle", "strate", "titre")


def polygon_layers(store: Store) -> list[str]:
    """Layers whose features are zones (statistics and queries can be made per feature)."""
    return [s.name for s in store.catalogue if s.geometry in ("Polygon", "MultiPolygon")
            and not s.accepts_points]


def resolve_perimeter(perimeter: Perimeter, store: Store | None = None) -> gpd.GeoDataFrame:
    """The perimeter's polygons as a frame (id, nom, geometry) in the store's CRS."""
    crs = store.crs if store is not None else STORAGE_CRS
    if isinstance(perimeter, BaseGeometry):
        frame = gpd.GeoDataFrame({"id": ["perimetre"]}, geometry=[perimeter], crs=crs)
    elif isinstance(perimeter, gpd.GeoSeries):
        frame = gpd.GeoDataFrame(geometry=perimeter)
    elif isinstance(perimeter, gpd.GeoDataFrame):
        frame = perimeter
    elif isinstance(perimeter, Path) or (isinstance(perimeter, str) and _looks_like_file(perimeter)):
        frame = _read_file(Path(perimeter), store.epsg if store is not None else STORAGE_EPSG)
    elif isinstance(perimeter, str):
        if store is None:
            raise InputError(f"Périmètre « {perimeter} » : un entrepôt est nécessaire pour le lire.")
        return _from_layer(store, perimeter)
    else:
        raise InputError(f"Périmètre non reconnu : {type(perimeter).__name__}.")
    return _normalise(frame, crs)


_FILE_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip", ".kml", ".fgb", ".csv", ".gml"}


def _looks_like_file(text: str) -> bool:
    return Path(text).exists() or Path(text).suffix.lower() in _FILE_SUFFIXES


def _from_layer(store: Store, text: str) -> gpd.GeoDataFrame:
    name, _, fid = text.partition(":")
    spec = store.spec(name)
    if name not in polygon_layers(store):
        raise InputError(
            f"La couche {name} n'est pas une couche de zones ; choisissez parmi : "
            f"{', '.join(polygon_layers(store))}."
        )
    frame = store.read(name, ids=[fid] if fid else None)
    if fid and frame.empty:
        raise FeatureNotFoundError(f"Objet « {fid} » introuvable dans la couche {name}.")
    label = next((f for f in NAME_FIELDS if f in frame.columns and frame[f].notna().any()), None)
    out = gpd.GeoDataFrame(
        {"id": frame[spec.key].astype(str).to_numpy(),
         "nom": frame[label].astype("string").to_numpy() if label else None},
        geometry=frame.geometry.to_numpy(), crs=store.crs,
    )
    return out


def _read_file(path: Path, epsg: int) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputError(f"Fichier de périmètre introuvable : {path}")
    # CRS inference, swapped axes refused, repair
    from .io import read_vector  # the file readers load only for a file perimeter

    frame, _report = read_vector(path, target=epsg)
    return frame


def _normalise(frame: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    frame = frame.set_crs(crs) if frame.crs is None else frame.to_crs(crs)
    geoms = frame.geometry.to_numpy()
    kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    if not kinds or not kinds <= {3, 6}:  # Polygon, MultiPolygon
        raise GeometryError("Un périmètre doit être fait de polygones.")
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
    ids = _column(frame, ("id", "identifiant", "code")) or [str(i + 1) for i in range(len(frame))]
    names = _column(frame, NAME_FIELDS)
    return gpd.GeoDataFrame({"id": ids, "nom": names}, geometry=geoms, crs=crs)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a repaired geometry (make_valid may add stray lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def _column(frame: gpd.GeoDataFrame, names: tuple[str, ...]) -> list[Any] | None:
    for name in names:
        if name in frame.columns:
            return frame[name].astype("string").tolist()
    return None
