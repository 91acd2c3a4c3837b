"""IGN BD TOPO® ``batiment`` (v3) → the ``batiments`` layer.

Reads the GeoPackage layer ``batiment`` or the shapefile ``BATIMENT.shp`` (10-character field
names) through :func:`ort_geo.io.read_vector`, so CRS, encoding and geometry checks are the same
as for any import. Footprints are MultiPolygonZ: Z is dropped, and a multi-part footprint keeps its
largest part (reported).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import STORAGE_EPSG
from ..errors import FieldError
from ..io import ImportReport, read_vector

SOURCE = "IGN BD TOPO® (batiment), Licence Ouverte 2.0"

#: Our field ← the BD TOPO attribute, GeoPackage name first, then its shapefile name.
COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("cleabs", "id"),
    "usage": ("usage_1", "usage1"),
    "nb_logements": ("nombre_de_logements", "nb_logts"),
    "annee_construction": ("date_d_apparition", "date_app"),
    "rnb_id": ("identifiants_rnb", "id_rnb"),
    "etat_objet": ("etat_de_l_objet", "etat"),
    "legere": ("construction_legere", "leger"),
}


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.Series | None:
    lower = {c.lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return frame[lower[name]]
    return None


def read_bdtopo(path: str | Path, *, layer: str | None = None, include_light: bool = False,
                target: int = STORAGE_EPSG) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """A ``batiments`` frame (in ``target``, the store's CRS; no ``code_insee`` yet) and the
    French report.

    Buildings under construction or planned are skipped; light constructions (sheds, shelters)
    too unless ``include_light``. Ruins are kept with ``etat = tres_degrade``.
    """
    frame, report = read_vector(path, layer=layer, prefer_layer="batiment", target=target)
    ids = _column(frame, COLUMNS["id"])
    if ids is None:
        raise FieldError("Ce fichier n'est pas une couche BD TOPO « batiment » : "
                         "identifiant « cleabs » (ou « ID ») absent.")
    status = _column(frame, COLUMNS["etat_objet"])
    keep = np.ones(len(frame), bool)
    if status is not None:
        planned = status.fillna("En service").isin(["En projet", "En construction"])
        if planned.any():
            report.note(f"{int(planned.sum())} bâtiment(s) en projet ou en construction ignoré(s).")
        keep &= ~planned.to_numpy()
    light = _column(frame, COLUMNS["legere"])
    if light is not None and not include_light:
        is_light = light.astype(str).str.lower().isin(["true", "1", "oui", "vrai"]).to_numpy()
        if (is_light & keep).any():
            report.note(f"{int((is_light & keep).sum())} construction(s) légère(s) ignorée(s).")
        keep &= ~is_light
    frame = frame[keep].reset_index(drop=True)

    out = pd.DataFrame({"id": _column(frame, COLUMNS["id"]).astype(str)})
    usage = _column(frame, COLUMNS["usage"])
    out["usage"] = usage if usage is not None else None
    dwellings = _column(frame, COLUMNS["nb_logements"])
    out["nb_logements"] = pd.to_numeric(dwellings, errors="coerce").astype("Int64") \
        if dwellings is not None else None
    appeared = _column(frame, COLUMNS["annee_construction"])
    out["annee_construction"] = _years(appeared) if appeared is not None else None
    rnb = _column(frame, COLUMNS["rnb_id"])
    # identifiants_rnb may list several ids ("ABCD...|EFGH..."): keep the first.
    out["rnb_id"] = rnb.astype("string").str.split(r"[|/,; ]").str[0] if rnb is not None else None
    status = _column(frame, COLUMNS["etat_objet"])
    out["etat"] = np.where(status == "Ruine", "tres_degrade", None) if status is not None else None
    out["demo"] = False
    out["source"] = SOURCE

    geoms, split = _largest_parts(frame.geometry.to_numpy())
    if split:
        report.note(f"{split} emprise(s) en plusieurs parties : la plus grande est conservée.")
    result = gpd.GeoDataFrame(out, geometry=geoms, crs=f"EPSG:{target}")
    empty = result.geometry.isna()
    if empty.any():
        report.note(f"{int(empty.sum())} bâtiment(s) sans emprise ignoré(s).")
        result = result[~empty].reset_index(drop=True)
    report.note(f"{len(result)} bâtiment(s) BD TOPO retenu(s).")
    return result, report


def _years(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.extract(r"(\d{4})", expand=False)
    years = pd.to_numeric(text, errors="coerce").astype("Int64")
    return years.where((years >= 1000) & (years <= 2100))


def _largest_parts(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """The largest polygon of each footprint (None for an empty one) and how many were split."""
    flat = shapely.force_2d(geoms)
    parts, index = shapely.get_parts(flat, return_index=True)
    areas = shapely.area(parts)
    order = np.lexsort((-areas, index))  # by feature, largest part first
    owners, first = np.unique(index[order], return_index=True)
    chosen = np.full(len(geoms), None, dtype=object)
    chosen[owners] = parts[order][first]
    counts = np.bincount(index, minlength=len(geoms))
    return chosen, int((counts > 1).sum())
