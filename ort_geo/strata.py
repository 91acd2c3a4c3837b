"""The three strata of a territorial design: a low, a middle and a high band of the territory.

A convention may describe its territory in three strata (in the first territory: ligne de vie,
terrasses de mi-hauteur, hauts); their names come from the manifest. They are derived by a
*declared* method, recorded on every feature and in the layer metadata:

- ``distance``: bands of distance from an axis line (a valley floor, a main road),
  ``distances = (low, middle)`` in metres;
- ``altitude``: bands of altitude read from any DEM rasterio opens (GeoTIFF, SRTM ``.hgt``…, in
  any CRS, reprojected by rasterio), ``altitudes = (low, middle)`` in metres: below the first is
  the low band, between the two the middle one, above the second the high one.

A territory with neither a DEM nor an axis has no strata; maps and the atlas then go without.

Both return a ``strates``-layer frame in the store's CRS (``crs``) clipped to the territory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .errors import CRSError, InputError, raster_reason, with_detail
from .territory import STRATA_LABELS

STRATA = ("ligne_de_vie", "terrasses", "hauts")
LABELS = STRATA_LABELS
#: Parts smaller than this (m²) are raster or clipping noise, not strata.
MIN_PART_AREA = 100.0


def _frame(geoms: dict[str, BaseGeometry], method: str, params: str, source: str,
           crs: str, labels: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    names = {**LABELS, **(labels or {})}
    rows, shapes = [], []
    for name in STRATA:
        geom = _multipolygon(geoms[name])
        if geom is None:
            continue
        rows.append({"id": name, "strate": name, "libelle": names[name], "methode": method,
                     "parametres": params, "source": source})
        shapes.append(geom)
    return gpd.GeoDataFrame(rows, geometry=shapes, crs=crs)


def _multipolygon(geom: BaseGeometry) -> shapely.MultiPolygon | None:
    geom = shapely.make_valid(geom)
    polygons = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"
                and p.area >= MIN_PART_AREA]
    return shapely.MultiPolygon(polygons) if polygons else None


def by_distance(axis: BaseGeometry, territory: BaseGeometry,
                distances: tuple[float, float] = (300.0, 420.0), *,
                crs: str = "EPSG:2154", labels: Mapping[str, str] | None = None,
                axis_name: str = "axe de la vallée") -> gpd.GeoDataFrame:
    """Strata as bands of distance (m) from an axis line, clipped to the territory (both in
    ``crs``, a projected CRS in metres). ``axis_name`` says what the axis is."""
    near, mid = distances
    inner = axis.buffer(near, quad_segs=16)
    outer = axis.buffer(mid, quad_segs=16)
    geoms = {
        "ligne_de_vie": inner.intersection(territory),
        "terrasses": outer.difference(inner).intersection(territory),
        "hauts": territory.difference(outer),
    }
    names = {**LABELS, **(labels or {})}
    params = (f"distance à l'axe ({axis_name}) : {names['ligne_de_vie']} ≤ {near:g} m, "
              f"{names['terrasses']} ≤ {mid:g} m")
    return _frame(geoms, "distance", params, axis_name, crs, labels)


def by_altitude(dem: str | Path, territory: BaseGeometry,
                altitudes: tuple[float, float] = (300.0, 420.0), *,
                crs: str = "EPSG:2154", labels: Mapping[str, str] | None = None
                ) -> gpd.GeoDataFrame:
    """Strata as altitude bands (m) of a DEM, polygonised with rasterio and clipped.

    ``territory`` is in ``crs`` (the store's); the DEM may be in any CRS rasterio knows.
    """
    import rasterio  # a core dependency, imported here because it is slow to load
    import rasterio.errors
    import rasterio.features
    import rasterio.mask

    low, high = altitudes
    path = Path(dem)
    if not path.exists():
        raise InputError(f"Modèle numérique de terrain introuvable : {path}")
    def unreadable(exc: Exception) -> InputError:
        return with_detail(InputError(f"Modèle numérique de terrain illisible ({path}) : "
                                      f"{raster_reason(exc)}."), exc)

    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise unreadable(exc) from None
    with src:
        if src.crs is None:
            raise CRSError(f"Le MNT {path.name} n'a pas de système de coordonnées.")
        local = gpd.GeoSeries([territory], crs=crs).to_crs(src.crs).iloc[0]
        # Read only the window around the territory; pixels outside it are masked.
        try:
            data, transform = rasterio.mask.mask(src, [local], crop=True, filled=False,
                                                 all_touched=True)
        except ValueError as exc:
            raise InputError(f"Le MNT {path.name} ne couvre pas le territoire.") from exc
        except rasterio.errors.RasterioIOError as exc:  # a header that opens, data cut short
            raise unreadable(exc) from None
        band = data[0]
        valid = ~np.ma.getmaskarray(band)
        if src.nodata is not None:
            valid &= band.data != src.nodata
        classes = np.full(band.shape, 255, dtype=np.uint8)
        values = band.data.astype("float64")
        classes[valid & (values < low)] = 0
        classes[valid & (values >= low) & (values < high)] = 1
        classes[valid & (values >= high)] = 2
        shapes: dict[int, list[BaseGeometry]] = {0: [], 1: [], 2: []}
        for geom, value in rasterio.features.shapes(classes, mask=classes != 255,
                                                    transform=transform):
            shapes[int(value)].append(shapely.geometry.shape(geom))
        dem_crs = src.crs
    merged = gpd.GeoSeries([shapely.union_all(shapes[i]) for i in range(3)], crs=dem_crs)
    merged = merged.to_crs(crs)
    geoms = {name: merged.iloc[i].intersection(territory) for i, name in enumerate(STRATA)}
    names = {**LABELS, **(labels or {})}
    params = (f"altitude (MNT {path.name}) : {names['ligne_de_vie']} < {low:g} m, "
              f"{names['terrasses']} < {high:g} m, {names['hauts']} au-delà")
    return _frame(geoms, "altitude", params, f"MNT {path.name}", crs, labels)


def shares_below(strata: gpd.GeoDataFrame, communes: gpd.GeoDataFrame,
                 names: tuple[str, ...] = ("ligne_de_vie", "terrasses")) -> dict[str, float]:
    """Share (%) of each commune's area covered by the given strata (e.g. below 420 m)."""
    covered = shapely.union_all(strata[strata["strate"].isin(names)].geometry.values)
    return {
        str(row.code_insee): 100.0 * row.geometry.intersection(covered).area / row.geometry.area
        for row in communes.itertuples()
    }
