"""IGN BD TOPO® ``batiment`` (v3) → the ``batiments`` layer.

Reads the GeoPackage layer ``batiment`` or the shapefile ``BATIMENT.shp`` (10-character field
names) through :func:`ort_geo.io.read_vector`, so CRS, encoding and geometry checks are the same
as for any import. Footprints are MultiPolygonZ: Z is dropped, and a multi-part footprint keeps its
largest part (reported).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import STORAGE_EPSG
from ..errors import FieldError
from ..io import ImportReport, read_vector
from ..io.read import layer_size

#: Features per chunk of a large file: ~100 MB of footprints and attributes at most.
BATCH_ROWS = 100_000

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
    result, counts = _buildings(frame, include_light, target)
    _note(report, counts, len(result))
    return result, report


def iter_bdtopo(path: str | Path, *, layer: str | None = None, include_light: bool = False,
                target: int = STORAGE_EPSG, batch_rows: int = BATCH_ROWS
                ) -> tuple[ImportReport, Iterator[gpd.GeoDataFrame]]:
    """:func:`read_bdtopo` of a large file in chunks of ``batch_rows`` features (a
    département: 600,000 buildings), only the attributes used: memory bounded by a chunk.

    The report is complete once the chunks are consumed; the first chunk is read here, so a
    file that is not a BD TOPO layer is refused before anything is written.
    """
    total = layer_size(path, layer=layer, prefer_layer="batiment")
    if total is None or total <= batch_rows:
        frame, report = read_bdtopo(path, layer=layer, include_light=include_light, target=target)
        return report, iter([frame])
    wanted = [name for names in COLUMNS.values() for name in names]

    def read(start: int) -> tuple[gpd.GeoDataFrame, ImportReport]:
        return read_vector(path, layer=layer, prefer_layer="batiment", target=target,
                           columns=wanted, skip_features=start, max_features=batch_rows)

    first, report = read(0)
    if _column(first, COLUMNS["id"]) is None:
        raise FieldError("Ce fichier n'est pas une couche BD TOPO « batiment » : "
                         "identifiant « cleabs » (ou « ID ») absent.")
    read_note = f"{report.features} objet(s) lu(s)."

    def chunks() -> Iterator[gpd.GeoDataFrame]:
        counts: dict[str, int] = {}
        kept = 0
        frame, start = first, 0
        while True:
            result, found = _buildings(frame, include_light, target)
            counts = {k: counts.get(k, 0) + v for k, v in found.items()}
            kept += len(result)
            yield result
            start += batch_rows
            if start >= total:
                break
            frame, part = read(start)
            report.features += part.features
            report.repaired += part.repaired
            for message in part.messages:  # repairs; the per-file notes once
                if message not in report.messages and not message.endswith("objet(s) lu(s)."):
                    report.note(message)
        if read_note in report.messages:
            report.messages[report.messages.index(read_note)] = \
                f"{report.features} objet(s) lu(s)."
        _note(report, counts, kept)

    return report, chunks()


def _buildings(frame: gpd.GeoDataFrame, include_light: bool, target: int
               ) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """The ``batiments`` rows of BD TOPO rows, and how many were left out and why."""
    ids = _column(frame, COLUMNS["id"])
    if ids is None:
        raise FieldError("Ce fichier n'est pas une couche BD TOPO « batiment » : "
                         "identifiant « cleabs » (ou « ID ») absent.")
    counts = {"planned": 0, "light": 0, "split": 0, "empty": 0}
    status = _column(frame, COLUMNS["etat_objet"])
    keep = np.ones(len(frame), bool)
    if status is not None:
        planned = status.fillna("En service").isin(["En projet", "En construction"])
        counts["planned"] = int(planned.sum())
        keep &= ~planned.to_numpy()
    light = _column(frame, COLUMNS["legere"])
    if light is not None and not include_light:
        is_light = light.astype(str).str.lower().isin(["true", "1", "oui", "vrai"]).to_numpy()
        counts["light"] = int((is_light & keep).sum())
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
    # object dtype whether or not a chunk holds a ruin: chunks concatenate alike
    out["etat"] = pd.Series(np.where(status == "Ruine", "tres_degrade", None), dtype=object,
                            index=out.index) if status is not None else None
    out["demo"] = False
    out["source"] = SOURCE

    geoms, counts["split"] = _largest_parts(frame.geometry.to_numpy())
    result = gpd.GeoDataFrame(out, geometry=geoms, crs=f"EPSG:{target}")
    empty = result.geometry.isna()
    if empty.any():
        counts["empty"] = int(empty.sum())
        result = result[~empty].reset_index(drop=True)
    return result, counts


def _note(report: ImportReport, counts: dict[str, int], kept: int) -> None:
    if counts["planned"]:
        report.note(f"{counts['planned']} bâtiment(s) en projet ou en construction ignoré(s).")
    if counts["light"]:
        report.note(f"{counts['light']} construction(s) légère(s) ignorée(s).")
    if counts["split"]:
        report.note(f"{counts['split']} emprise(s) en plusieurs parties : la plus grande est "
                    "conservée.")
    if counts["empty"]:
        report.note(f"{counts['empty']} bâtiment(s) sans emprise ignoré(s).")
    report.note(f"{kept} bâtiment(s) BD TOPO retenu(s).")


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
