"""Statistical secrecy and public views: what may leave the tool without authentication.

Two rules, applied everywhere a public output is made (resident map, public atlas, anonymous API,
``--public`` exports):

* only fields the catalogue marks public are kept, and records known only from a restricted source
  (LOVAC-like dwellings that match no footprint) are left out as a whole;
* a published count derived from restricted fields between 1 and 10 is masked, and any rate
  derived from a masked count is masked too (the rule of LOVAC's open aggregates); complementary
  cells are masked too so that no subtraction gives a masked count back (:mod:`ort_geo.secrecy`).

Every masked cell reads the same mark, "secret": a mark saying "< 11" on primary cells only would
tell an outsider which cells are small, and narrow their intervals to 1–10.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .catalogue import LayerSpec

SECRECY_THRESHOLD = 11
MASK = "secret"
#: The note that explains the mark wherever a masked table is published.
MASK_NOTE = ("Secret statistique : « secret » remplace les effectifs de 1 à 10 issus de données "
             "protégées (vacance, état du bâti, habitat indigne, rez-de-chaussée vacants) et ceux "
             "qui permettraient de les retrouver par différence ; les taux qui en dérivent sont "
             "masqués.")
#: Sources whose records are restricted as a whole: a building known only from one of them (no
#: public footprint) is staff-only.
RESTRICTED_SOURCES: tuple[str, ...] = ("LOVAC (DGFiP, Cerema) — données à diffusion restreinte",)


def is_secret(count: Any) -> bool:
    """True when a count must not be published (1 to 10)."""
    if count is None or pd.isna(count):
        return False
    return 0 < int(count) < SECRECY_THRESHOLD


def mask_count(count: Any) -> Any:
    """The count itself, or the mark when it is between 1 and 10 (primary secrecy only)."""
    return MASK if is_secret(count) else count


def mask_rate(rate: Any, *counts: Any) -> Any:
    """A rate, masked when any count it is derived from is secret."""
    return MASK if any(is_secret(c) for c in counts) else rate


def public_view(spec: LayerSpec, frame: gpd.GeoDataFrame | pd.DataFrame) -> gpd.GeoDataFrame:
    """The frame with every non-public field removed (geometry kept)."""
    drop = [c for c in frame.columns if c in spec.by_name and not spec.by_name[c].public]
    return frame.drop(columns=drop)


def restricted_records(frame: pd.DataFrame) -> np.ndarray:
    """Per row, True for a record known only from a restricted source (never public)."""
    if "source" not in frame.columns:
        return np.zeros(len(frame), bool)
    return frame["source"].isin(RESTRICTED_SOURCES).to_numpy()


_NO_SOURCE = "ort-geo : aucune source publique demandée"


def public_where(layer: str, where: dict[str, Any] | None = None) -> dict[str, Any]:
    """A store ``where`` filter that also leaves out records of restricted sources."""
    from .catalogue import CATALOGUE
    from .store.base import NotIn

    out = dict(where or {})
    if "source" in CATALOGUE[layer].by_name and "source" not in out:
        out["source"] = NotIn(RESTRICTED_SOURCES)
    elif "source" in out:  # a filter on the source itself: keep only public sources among it
        wanted = out["source"] if isinstance(out["source"], list) else [out["source"]]
        # (a value no record carries when only restricted sources were asked for)
        out["source"] = [v for v in wanted if v not in RESTRICTED_SOURCES] or [_NO_SOURCE]
    return out


def public_records(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The rows a public output may show (records of restricted sources left out)."""
    return frame[~restricted_records(frame)].reset_index(drop=True)
