"""Buildings as vector tiles: a PMTiles archive written by GDAL (through pyogrio).

The staff map embeds the archive; the browser decodes only the tiles in view, so a town of tens of
thousands of buildings opens as fast as a village. Tiles are cut from zoom 14 (below, a building is
a pixel or less) to zoom 15, and over-zoomed beyond.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pyogrio

from ..errors import UnsupportedError

LAYER = "batiments"
MIN_ZOOM = 14
MAX_ZOOM = 15


def has_pmtiles_driver() -> bool:
    return "PMTiles" in pyogrio.list_drivers(write=True)


def buildings_pmtiles(frame: gpd.GeoDataFrame, fields: Sequence[str], *, min_zoom: int = MIN_ZOOM,
                      max_zoom: int = MAX_ZOOM) -> bytes:
    """A PMTiles archive (bytes) of ``frame``'s geometries and ``fields``, layer ``batiments``.

    Booleans become "Oui"/"Non" (MVT has no portable boolean); other values keep their type.
    """
    if not has_pmtiles_driver():
        raise UnsupportedError(
            "Le GDAL de pyogrio n'a pas le pilote PMTiles (GDAL ≥ 3.8 requis) : mettez pyogrio à "
            "jour (pip install --upgrade pyogrio).")
    data = frame[[*fields, frame.geometry.name]].copy()
    for name in fields:
        if data[name].dtype == bool or str(data[name].dtype) == "boolean":
            data[name] = data[name].map({True: "Oui", False: "Non"}).astype(object)
    data = data[~(data.geometry.isna() | data.geometry.is_empty)]
    with tempfile.TemporaryDirectory(prefix="ort-geo-tiles-") as tmp:
        path = Path(tmp) / "batiments.pmtiles"
        pyogrio.write_dataframe(
            data, path, driver="PMTiles", layer=LAYER,
            dataset_options={"MINZOOM": min_zoom, "MAXZOOM": max_zoom, "NAME": "batiments"},
        )
        return path.read_bytes()
