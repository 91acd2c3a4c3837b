"""Which buildings, in this perimeter, are vacant or degraded? The staff query of Anah and CeA.

A building is within a perimeter when its representative point is covered by it (the rule of the
statistics, :mod:`ort_geo.stats`; same engine). Filters combine with AND. The result is
building-level, with restricted fields: it is a staff output. ``public=True`` keeps only public
fields and refuses filters on restricted ones (filtering on them would reveal them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .assign import PolygonGrid
from .clock import today
from .errors import AccessDeniedError, InputError
from .io import shapefile_names, write_frame
from .perimeter import Perimeter, resolve_perimeter
from .privacy import public_records, public_view
from .stats import DEGRADED, LONG_TERM_YEARS, representative_xy
from .store.base import Store

ETATS = ("bon", "moyen", "degrade", "tres_degrade")


def buildings_within(
    store: Store,
    within: Perimeter | None = None,
    *,
    vacant: bool | None = None,
    long_term_vacant: bool | None = None,
    etat: str | Sequence[str] | None = None,
    permis_de_louer: bool | None = None,
    built_from: int | None = None,
    built_to: int | None = None,
    reference_year: int | None = None,
    public: bool = False,
) -> gpd.GeoDataFrame:
    """Buildings whose representative point lies in ``within`` (the whole store when None).

    ``within``: ``"layer:id"``, ``"layer"``, a vector file, a GeoDataFrame or a geometry.
    ``vacant``: at least one vacant dwelling (True) or none (False). ``long_term_vacant``:
    vacant since at least two years before ``reference_year`` (default: this year).
    ``etat``: one or several conditions (``"degrade"`` also matches ``"tres_degrade"`` when
    passed as the shortcut ``"degrades"``). ``permis_de_louer``: inside (True) or outside
    (False) any rental-permit zone. ``built_from`` / ``built_to``: construction years, inclusive.
    """
    year = reference_year or today().year
    etats = _etats(etat)
    restricted = [name for name, value in (("vacance", vacant), ("vacance de longue durée",
                  long_term_vacant), ("état du bâti", etats)) if value is not None]
    if public and restricted:
        raise AccessDeniedError(
            "Filtres réservés aux agents habilités (données restreintes) : " + ", ".join(restricted)
        )
    bbox = None
    zones = None
    if within is not None:
        zones = resolve_perimeter(within, store).geometry.to_numpy()
        if not len(zones):
            raise InputError("Le périmètre ne contient aucun polygone.")
        bbox = tuple(shapely.total_bounds(zones))
    frame = store.read("batiments", bbox=bbox)
    x, y = representative_xy(frame.geometry.to_numpy())
    keep = np.ones(len(frame), bool)
    if zones is not None:
        keep &= _covered(zones, x, y)
    # Unknown is not zero: a building whose filtered field is unknown matches neither the
    # filter nor its opposite; how many were left aside is recorded in ``attrs["inconnus"]``.
    unknown: dict[str, int] = {}

    def where_known(label: str, known: np.ndarray, match: np.ndarray) -> np.ndarray:
        missing = int((keep & ~known).sum())
        if missing:
            unknown[label] = max(unknown.get(label, 0), missing)
        return known & match

    if vacant is not None:
        count = _num(frame, "nb_logements_vacants")
        keep &= where_known("vacance", ~np.isnan(count), (count > 0) == vacant)
    if long_term_vacant is not None:
        count, start = _num(frame, "nb_logements_vacants"), _num(frame, "annee_debut_vacance")
        lt = (count > 0) & (start <= year - LONG_TERM_YEARS)
        # Known: vacancy known, and either no vacant dwelling or a known start year.
        known = ~np.isnan(count) & ((count == 0) | ~np.isnan(start))
        keep &= where_known("vacance de longue durée", known, lt == long_term_vacant)
    if etats is not None:
        keep &= where_known("état du bâti", frame["etat"].notna().to_numpy(),
                            frame["etat"].isin(etats).to_numpy())
    if built_from is not None or built_to is not None:
        built = _num(frame, "annee_construction")
        match = np.ones(len(frame), bool)
        if built_from is not None:
            match &= built >= built_from
        if built_to is not None:
            match &= built <= built_to
        keep &= where_known("année de construction", ~np.isnan(built), match)
    if permis_de_louer is not None:
        zones_pdl = store.read("permis_de_louer").geometry.to_numpy()
        keep &= _covered(zones_pdl, x, y) == permis_de_louer
    out = frame[keep].reset_index(drop=True)
    if public:  # public fields of public records only
        out = public_view(store.spec("batiments"), public_records(out))
    out.attrs["inconnus"] = unknown
    return out


def unknown_note(frame: pd.DataFrame) -> str | None:
    """French note on buildings left aside because a filtered field is unknown, if any."""
    unknown = frame.attrs.get("inconnus") or {}
    if not unknown:
        return None
    parts = [f"{label} inconnu{'' if label == 'état du bâti' else 'e'} pour {n} bâtiment(s)"
             for label, n in unknown.items()]
    return ("Non retenus, la donnée filtrée étant inconnue (jamais comptée comme zéro) : "
            + " ; ".join(parts) + ".")


def _etats(etat: str | Sequence[str] | None) -> list[str] | None:
    if etat is None:
        return None
    values = [etat] if isinstance(etat, str) else list(etat)
    out: list[str] = []
    for v in values:
        if v == "degrades":
            out += list(DEGRADED)
        elif v in ETATS:
            out.append(v)
        else:
            raise InputError(f"État inconnu « {v} » ; valeurs admises : "
                             f"{', '.join(ETATS)}, degrades.")
    return out


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").astype("float64").to_numpy()


def _covered(zones: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where some zone covers the point (the statistics' rule)."""
    hit = np.zeros(len(x), bool)
    if len(zones) and len(x):
        points, _ = PolygonGrid(zones, points=(x, y)).pairs(x, y)
        hit[points] = True
    return hit


def export_buildings(frame: gpd.GeoDataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write a query result: GeoPackage, GeoJSON (WGS84), zipped Shapefile or French CSV
    (format from ``fmt`` or the extension; see :func:`ort_geo.io.write_frame`)."""
    spec_names = [c for c in frame.columns if c != frame.geometry.name]
    return write_frame(frame, path, fmt, layer_name="batiments",
                       dbf_names=shapefile_names(spec_names), geometry_type="Polygon")
