"""Importers of the national building formats into the ``batiments`` layer.

- BD TOPO ``batiment`` (IGN): footprints, usage, dwellings, year — :func:`read_bdtopo`;
- RNB export (Référentiel national des bâtiments): ids, BAN address, parcel — :func:`read_rnb`;
- LOVAC-like dwelling CSV: dwelling and vacancy counts aggregated to buildings —
  :func:`read_dwellings`, :func:`aggregate_dwellings`, :func:`attach_to_footprints`.

:func:`import_buildings` runs one of them against a store in a single transactional write (the
store is unchanged if anything fails) and returns the French report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd

from ..errors import InputError
from ..io import ImportReport
from ..store import Store
from .bdtopo import read_bdtopo
from .lovac import aggregate_dwellings, attach_to_footprints, read_dwellings
from .rnb import read_rnb

Format = Literal["bdtopo", "rnb", "lovac"]
FORMATS: tuple[str, ...] = ("bdtopo", "rnb", "lovac")

__all__ = ["FORMATS", "aggregate_dwellings", "attach_to_footprints", "import_buildings",
           "read_bdtopo", "read_dwellings", "read_rnb"]


def _in_territory(store: Store, frame: gpd.GeoDataFrame, report: ImportReport,
                  keep_outside: bool) -> gpd.GeoDataFrame:
    """Fill ``code_insee`` from the store's communes (by representative point) and, unless
    ``keep_outside``, drop buildings outside them: national files cover a whole département."""
    communes = store.read("communes", columns=["code_insee"])
    if communes.empty or frame.empty:
        return frame
    points = gpd.GeoDataFrame(geometry=frame.geometry.representative_point(), crs=frame.crs)
    found = gpd.sjoin(points, communes, how="left", predicate="within")
    found = found[~found.index.duplicated()]["code_insee"]
    frame = frame.copy()
    current = frame["code_insee"] if "code_insee" in frame else pd.Series(None, index=frame.index)
    frame["code_insee"] = current.where(current.notna(), found)
    outside = found.isna()
    if outside.any() and not keep_outside:
        report.note(f"{int(outside.sum())} bâtiment(s) hors des communes du territoire ignoré(s).")
        frame = frame[~outside.to_numpy()]
    return frame


def import_buildings(store: Store, path: str | Path, fmt: Format, *, author: str,
                     attach: bool = True, max_distance: float = 30.0,
                     keep_outside: bool = False) -> ImportReport:
    """Import a BD TOPO, RNB or LOVAC-like file into ``batiments`` (upsert, one transaction).

    RNB buildings linked to a BD TOPO footprint already stored enrich that footprint (RNB id, BAN
    address, parcel) instead of adding a duplicate. LOVAC-like dwellings are attached to the
    stored footprints when ``attach`` (nearest within ``max_distance`` m); buildings with no
    footprint are stored as points. Buildings outside the store's communes are skipped unless
    ``keep_outside`` (a BD TOPO or RNB file covers a whole département).
    """
    if fmt == "bdtopo":
        frame, report = read_bdtopo(path)
        frame = _in_territory(store, frame, report, keep_outside)
    elif fmt == "rnb":
        frame, report = read_rnb(path)
        stored = set(store.read("batiments", columns=["id"])["id"]) if len(frame) else set()
        linked = frame["bdtopo_id"].isin(stored)
        if linked.any():
            report.note(f"{int(linked.sum())} bâtiment(s) RNB enrichissent une emprise BD TOPO "
                        "déjà présente.")
            frame.loc[linked, "id"] = frame.loc[linked, "bdtopo_id"]
            # Keep the stored footprint: the RNB shape may be a point.
            footprints = store.read("batiments", ids=list(frame.loc[linked, "id"]),
                                    columns=["id"]).set_index("id").geometry
            frame.loc[linked, "geometry"] = frame.loc[linked, "id"].map(footprints).to_numpy()
        frame = _in_territory(store, frame.drop(columns=["bdtopo_id"]), report, keep_outside)
    elif fmt == "lovac":
        dwellings, report = read_dwellings(path)
        frame = aggregate_dwellings(dwellings)
        report.note(f"{len(frame)} bâtiment(s) après regroupement des logements.")
        frame = _in_territory(store, frame, report, keep_outside)
        if attach:
            footprints = store.read("batiments", columns=["id"])
            updates, unmatched = attach_to_footprints(frame, footprints,
                                                      max_distance=max_distance)
            report.note(f"{len(updates)} emprise(s) existante(s) complétée(s) ; "
                        f"{len(unmatched)} bâtiment(s) sans emprise ajouté(s) en points.")
            frame = pd.concat([updates, unmatched], ignore_index=True)
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:2154")
    else:
        raise InputError(f"Format de bâtiments inconnu « {fmt} » (connus : {', '.join(FORMATS)}).")
    report.layer = "batiments"
    keep = [c for c in frame.columns if c in store.spec("batiments").by_name or c == "geometry"]
    report.summary = store.write("batiments", frame[keep], author=author, mode="upsert",
                                 message=f"import {fmt} de {Path(path).name}")
    return report
