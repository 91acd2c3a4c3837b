"""LOVAC-like dwelling files → building-level dwelling and vacancy counts (restricted data).

LOVAC (logements vacants, DGFiP Fichiers fonciers + 1767BISCOM) is distributed by the Cerema to
collectivités, State services and the Anah only: one row per dwelling. We accept a CSV with its
column names (``;`` or ``,`` separated, UTF-8 or Latin-1):

- ``ff_idlocal`` (dwelling id, required);
- location: ``ff_x``/``ff_y`` (Lambert-93) or ``longitude``/``latitude`` (WGS84), required;
- building key: ``ff_idbat`` when present, else the parcel ``ff_idpar`` and the location;
- ``ff_idpar`` (parcel), ``ff_jannath`` (year built), ``debutvacance`` (first year of vacancy);
- commune: ``ff_idcom``/``geo_code``/``insee``, or ``ccodep`` + ``commune``;
- occupancy: ``ff_ccthp`` (``V`` = vacant) when present; without it every row is a vacant dwelling
  (LOVAC proper), so only vacant counts are known.

:func:`aggregate_dwellings` groups dwellings into building points; :func:`attach_to_footprints`
carries the counts onto stored footprints (nearest within a distance). Every field written here
is private in the catalogue: it never reaches a public output.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..crs import STORAGE_EPSG, crs_label
from ..errors import FieldError, InputError
from ..io import ImportReport, decode_text
from ..io.table import parse_csv
from ..privacy import RESTRICTED_SOURCES

# Records of this source alone are staff-only as a whole (ort_geo.privacy.restricted_records).
SOURCE = RESTRICTED_SOURCES[0]
_ID = "ff_idlocal"


def read_dwellings(path: str | Path, *, epsg: int = STORAGE_EPSG) -> tuple[pd.DataFrame, ImportReport]:
    """The dwelling rows, normalised: id, x, y (in ``epsg``, the store's CRS), building key,
    parcel, commune…

    ``ff_x``/``ff_y`` are read in ``epsg``: the Fichiers fonciers locate dwellings in the
    département's official projection (Lambert-93, or the local UTM overseas).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Fichier introuvable : {path}")
    report = ImportReport(source=path.name, format="CSV LOVAC")
    text, report.encoding = decode_text(path.read_bytes(), path.name)
    first = text.splitlines()[0] if text else ""
    sep = ";" if first.count(";") >= first.count(",") else ","
    frame = parse_csv(text, sep, path.name)
    frame.columns = [c.strip().lower() for c in frame.columns]
    if _ID not in frame.columns:
        raise FieldError(f"{path.name} n'est pas un fichier de logements de type LOVAC : colonne "
                         f"« {_ID} » absente (colonnes : {', '.join(frame.columns)}).")
    out = pd.DataFrame({"local": frame[_ID].str.strip()})
    if {"ff_x", "ff_y"} <= set(frame.columns):
        x, y, crs = _numbers(frame["ff_x"]), _numbers(frame["ff_y"]), f"EPSG:{epsg}"
    elif {"longitude", "latitude"} <= set(frame.columns):
        x, y, crs = _numbers(frame["longitude"]), _numbers(frame["latitude"]), "EPSG:4326"
    else:
        raise FieldError(f"{path.name} : coordonnées absentes (ff_x/ff_y en {crs_label(epsg)} "
                         "ou longitude/latitude).")
    located = x.notna() & y.notna()
    if not located.all():
        report.note(f"{int((~located).sum())} logement(s) sans coordonnées ignoré(s).")
    points = gpd.GeoSeries.from_xy(x[located], y[located], crs=crs).to_crs(epsg)
    out = out[located].copy()
    frame = frame[located]
    out["x"], out["y"] = points.x.to_numpy(), points.y.to_numpy()
    out["idpar"] = frame["ff_idpar"].str.strip().replace("", None) if "ff_idpar" in frame else None
    out["idbat"] = frame["ff_idbat"].str.strip().replace("", None) if "ff_idbat" in frame else None
    out["code_insee"] = _communes(frame)
    out["annee"] = _years(frame.get("ff_jannath"))
    out["debut"] = _years(frame.get("debutvacance"))
    if "ff_ccthp" in frame:
        out["vacant"] = frame["ff_ccthp"].str.strip().str.upper().eq("V").to_numpy()
        report.note("Occupation lue dans ff_ccthp (V = vacant).")
    else:
        out["vacant"] = True
        report.note("Pas de colonne ff_ccthp : chaque ligne est un logement vacant (LOVAC).")
    if out["local"].duplicated().any():
        dup = out.loc[out["local"].duplicated(), "local"].iloc[0]
        raise FieldError(f"{path.name} : logement « {dup} » présent plusieurs fois.")
    report.features = len(out)
    report.crs = crs
    report.note(f"{len(out)} logement(s) lu(s), dont {int(out['vacant'].sum())} vacant(s).")
    return out.reset_index(drop=True), report


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.str.replace(",", ".", regex=False).str.strip(), errors="coerce")


def _years(values: pd.Series | None) -> pd.Series | None:
    if values is None:
        return None
    years = pd.to_numeric(values.str.strip(), errors="coerce").astype("Int64")
    return years.where((years >= 1000) & (years <= 2100)).to_numpy()


def _communes(frame: pd.DataFrame) -> np.ndarray | None:
    for name in ("ff_idcom", "geo_code", "insee", "code_insee"):
        if name in frame:
            return frame[name].str.strip().str.zfill(5).to_numpy()
    if {"ccodep", "commune"} <= set(frame.columns):
        return (frame["ccodep"].str.strip().str.zfill(2)
                + frame["commune"].str.strip().str.zfill(3)).to_numpy()
    return None


def aggregate_dwellings(dwellings: pd.DataFrame, *, epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    """One point per building: dwellings, vacant dwellings, earliest vacancy, year, parcel.

    Buildings are keyed by ``ff_idbat`` when known, else by parcel and location (1 m). When the
    file only lists vacant dwellings, ``nb_logements`` stays empty (unknown).
    """
    d = dwellings.copy()
    located = d["x"].round(0).astype(int).astype(str) + "_" + d["y"].round(0).astype(int).astype(str)
    parcel = d["idpar"].fillna("") if "idpar" in d else ""
    key = (parcel + "@" + located) if isinstance(parcel, pd.Series) else located
    if "idbat" in d:
        key = d["idbat"].fillna(key)
    d["key"] = key
    all_vacant = bool(d["vacant"].all())
    d["debut_vacant"] = d["debut"].where(d["vacant"]) if "debut" in d else np.nan
    grouped = d.groupby("key", sort=True)
    agg = grouped.agg(
        x=("x", "mean"), y=("y", "mean"), logements=("local", "size"),
        vacants=("vacant", "sum"), debut=("debut_vacant", "min"), annee=("annee", "min"),
        idpar=("idpar", "first"), code_insee=("code_insee", "first"),
    )
    frame = pd.DataFrame({
        "id": ["lovac-" + k for k in agg.index],
        "idpar": agg["idpar"].to_numpy(),
        "code_insee": agg["code_insee"].to_numpy(),
        "annee_construction": agg["annee"].astype("Int64").to_numpy(),
        "nb_logements": None if all_vacant else agg["logements"].to_numpy(),
        "nb_logements_vacants": agg["vacants"].astype(int).to_numpy(),
        "annee_debut_vacance": agg["debut"].astype("Int64").to_numpy(),
        "demo": False,
        "source": SOURCE,
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(agg["x"], agg["y"]),
                            crs=f"EPSG:{epsg}")


def attach_to_footprints(buildings: gpd.GeoDataFrame, footprints: gpd.GeoDataFrame, *,
                         max_distance: float = 30.0
                         ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(updates for matched footprints, unmatched building points).

    Each aggregated building goes to the footprint that contains it, or the nearest one within
    ``max_distance`` m (Fichiers fonciers locate dwellings at the parcel, not the building). Several
    aggregated buildings landing on one footprint are summed.
    """
    if footprints.empty or buildings.empty:
        return buildings.iloc[0:0], buildings
    joined = gpd.sjoin_nearest(buildings, footprints[["id", "geometry"]].rename(
        columns={"id": "footprint"}), how="left", max_distance=max_distance)
    joined = joined[~joined.index.duplicated(keep="first")]
    matched = joined["footprint"].notna()
    hits = joined[matched]
    summed = hits.groupby("footprint").agg(
        nb_logements=("nb_logements", "sum"), nb_logements_vacants=("nb_logements_vacants", "sum"),
        annee_debut_vacance=("annee_debut_vacance", "min"))
    updates = footprints.set_index("id").loc[summed.index, ["geometry"]].copy()
    updates["nb_logements_vacants"] = summed["nb_logements_vacants"].astype(int)
    updates["annee_debut_vacance"] = summed["annee_debut_vacance"].astype("Int64")
    # The dwellings count of a footprint is a public field: it comes from public sources (BD
    # TOPO), never from LOVAC, whose counts stay in its restricted fields.
    # Named here: .loc names the index after its indexer ("footprint") with pandas 2.
    updates = gpd.GeoDataFrame(updates.rename_axis("id").reset_index(), geometry="geometry",
                               crs=footprints.crs)
    unmatched = buildings[~matched.reindex(buildings.index, fill_value=False).to_numpy()]
    return updates, unmatched
