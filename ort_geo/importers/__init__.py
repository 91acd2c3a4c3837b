"""Importers of the national building formats into the ``batiments`` layer.

- BD TOPO ``batiment`` (IGN): footprints, usage, dwellings, year — :func:`read_bdtopo`;
- RNB export (Référentiel national des bâtiments): ids, BAN address, parcel — :func:`read_rnb`;
- LOVAC-like dwelling CSV: dwelling and vacancy counts aggregated to buildings —
  :func:`read_dwellings`, :func:`aggregate_dwellings`, :func:`attach_to_footprints`.

:func:`import_buildings` runs one of them against a store in a single transactional write (the
store is unchanged if anything fails) and returns the French report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd

from ..errors import InputError
from ..io import ImportReport
from ..store import Store
from . import rnb
from .bdtopo import iter_bdtopo, read_bdtopo
from .lovac import aggregate_dwellings, attach_to_footprints, read_dwellings
from .rnb import read_rnb

Format = Literal["bdtopo", "rnb", "lovac"]
FORMATS: tuple[str, ...] = ("bdtopo", "rnb", "lovac")

__all__ = ["FORMATS", "aggregate_dwellings", "attach_to_footprints", "import_buildings",
           "iter_bdtopo", "read_bdtopo", "read_dwellings", "read_rnb"]


def _in_territory(store: Store, frame: gpd.GeoDataFrame, report: ImportReport,
                  keep_outside: bool, communes: gpd.GeoDataFrame | None = None
                  ) -> gpd.GeoDataFrame:
    """Fill ``code_insee`` from the store's communes (by representative point) and, unless
    ``keep_outside``, drop buildings outside them: national files cover a whole département."""
    frame, outside = _located(store.read("communes", columns=["code_insee"])
                              if communes is None else communes, frame, keep_outside)
    if outside:
        report.note(f"{outside} bâtiment(s) hors des communes du territoire ignoré(s).")
    return frame


def _located(communes: gpd.GeoDataFrame, frame: gpd.GeoDataFrame, keep_outside: bool
             ) -> tuple[gpd.GeoDataFrame, int]:
    """:func:`_in_territory`'s work: the frame and how many buildings it left out."""
    if communes.empty or frame.empty:
        return frame, 0
    points = gpd.GeoDataFrame(geometry=frame.geometry.representative_point(), crs=frame.crs)
    found = gpd.sjoin(points, communes, how="left", predicate="within")
    found = found[~found.index.duplicated()]["code_insee"]
    frame = frame.copy()
    current = frame["code_insee"] if "code_insee" in frame else pd.Series(None, index=frame.index)
    frame["code_insee"] = current.where(current.notna(), found)
    outside = found.isna()
    if outside.any() and not keep_outside:
        return frame[~outside.to_numpy()], int(outside.sum())
    return frame, 0


def _stale_vacancy(footprints: gpd.GeoDataFrame, updates: gpd.GeoDataFrame,
                   communes: set[str]) -> gpd.GeoDataFrame:
    """Stored buildings of the file's communes still marked vacant but absent from the new
    vintage: a LOVAC file lists every vacant dwelling of its communes, so they are vacant no more.
    """
    was_vacant = footprints["nb_logements_vacants"].fillna(0) > 0
    covered = footprints["code_insee"].isin(communes)
    stale = footprints[was_vacant & covered & ~footprints["id"].isin(set(updates["id"]))]
    return gpd.GeoDataFrame({"id": stale["id"], "nb_logements_vacants": 0,
                             "annee_debut_vacance": None}, geometry=stale.geometry.values,
                            crs=footprints.crs)


def import_buildings(store: Store, path: str | Path, fmt: Format, *, author: str,
                     attach: bool = True, max_distance: float = 30.0,
                     keep_outside: bool = False,
                     progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import a BD TOPO, RNB or LOVAC-like file into ``batiments`` (upsert, one transaction).

    RNB buildings linked to a BD TOPO footprint already stored enrich that footprint (RNB id, BAN
    address, parcel) instead of adding a duplicate. LOVAC-like dwellings are attached to the
    stored footprints when ``attach`` (nearest within ``max_distance`` m); buildings with no
    footprint are stored as points. Buildings outside the store's communes are skipped unless
    ``keep_outside`` (a BD TOPO or RNB file covers a whole département). A BD TOPO file is
    read and written in chunks (memory bounded whatever its size), still in one transaction;
    ``progress`` receives a French line after each chunk.
    """
    if fmt == "bdtopo":
        return _import_bdtopo(store, path, author=author, keep_outside=keep_outside,
                              progress=progress)
    if fmt == "rnb":
        frame, report = read_rnb(path, target=store.epsg)
        stored = set(store.read("batiments", columns=["id"])["id"]) if len(frame) else set()
        linked = frame["bdtopo_id"].isin(stored)
        if linked.any():
            report.note(f"{int(linked.sum())} bâtiment(s) RNB enrichissent une emprise BD TOPO "
                        "déjà présente.")
            frame.loc[linked, "id"] = frame.loc[linked, "bdtopo_id"]
            # Keep the stored footprint: the RNB shape may be a point.
            stored_rows = store.read("batiments", ids=list(frame.loc[linked, "id"]),
                                     columns=["id", "source"]).set_index("id")
            ids = frame.loc[linked, "id"]
            frame.loc[linked, "geometry"] = ids.map(stored_rows.geometry).to_numpy()
            # Both sources are credited; the BD TOPO footprint's other fields are untouched.
            frame.loc[linked, "source"] = [
                f"{old} ; {rnb.SOURCE}" if old and rnb.SOURCE not in old else (old or rnb.SOURCE)
                for old in ids.map(stored_rows["source"])]
        frame = _in_territory(store, frame.drop(columns=["bdtopo_id"]), report, keep_outside)
    elif fmt == "lovac":
        dwellings, report = read_dwellings(path, epsg=store.epsg)
        frame = aggregate_dwellings(dwellings, epsg=store.epsg)
        report.note(f"{len(frame)} bâtiment(s) après regroupement des logements.")
        frame = _in_territory(store, frame, report, keep_outside)
        if attach:
            footprints = store.read("batiments", columns=["id", "code_insee",
                                                          "nb_logements_vacants"])
            updates, unmatched = attach_to_footprints(frame, footprints,
                                                      max_distance=max_distance)
            report.note(f"{len(updates)} emprise(s) existante(s) complétée(s) ; "
                        f"{len(unmatched)} bâtiment(s) sans emprise ajouté(s) en points.")
            stale = _stale_vacancy(footprints, updates, set(frame["code_insee"].dropna()))
            if len(stale):
                report.note(f"{len(stale)} bâtiment(s) absents du nouveau fichier : vacance "
                            "remise à zéro (millésime précédent).")
            changes = pd.concat([updates, stale], ignore_index=True).set_index("id")
            # Start from the stored rows, so the fields LOVAC does not carry keep their values
            # (a column present in the written frame replaces the stored value, even when empty).
            rows = store.read("batiments", ids=list(changes.index)).set_index("id")
            for column in changes.columns.drop("geometry"):
                known = changes[column].notna() | (column == "annee_debut_vacance")
                rows.loc[known[known].index, column] = changes.loc[known, column]
            frame = pd.concat([rows.reset_index(), unmatched], ignore_index=True)
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=store.crs)
    else:
        raise InputError(f"Format de bâtiments inconnu « {fmt} » (connus : {', '.join(FORMATS)}).")
    report.layer = "batiments"
    keep = [c for c in frame.columns if c in store.spec("batiments").by_name or c == "geometry"]
    report.summary = store.write("batiments", frame[keep], author=author, mode="upsert",
                                 message=f"import {fmt} de {Path(path).name}")
    return report


def _import_bdtopo(store: Store, path: str | Path, *, author: str, keep_outside: bool,
                   progress: Callable[[str], None] | None) -> ImportReport:
    """BD TOPO chunk by chunk: read, mapped, located in the communes, written and journaled,
    all chunks in ONE transaction."""
    report, chunks = iter_bdtopo(path, target=store.epsg)
    communes = store.read("communes", columns=["code_insee"])
    keep = [c for c in store.spec("batiments").by_name]
    outside = written = 0

    def frames() -> Iterator[gpd.GeoDataFrame]:
        nonlocal outside, written
        for chunk in chunks:
            chunk, left = _located(communes, chunk, keep_outside)
            outside += left
            written += len(chunk)
            yield chunk[[c for c in chunk.columns if c in keep or c == "geometry"]]
            if progress is not None:
                progress(f"{report.features:,} bâtiment(s) lu(s), {written:,} écrit(s)"
                         .replace(",", "\u202f"))

    summary = store.write_batches("batiments", frames(), author=author, mode="upsert",
                                  message=f"import bdtopo de {Path(path).name}")
    if outside:
        report.note(f"{outside} bâtiment(s) hors des communes du territoire ignoré(s).")
    report.layer = "batiments"
    report.summary = summary
    return report
