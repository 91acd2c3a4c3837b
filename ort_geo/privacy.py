"""Statistical secrecy and public views: what may leave the tool without authentication.

Two rules, applied everywhere a public output is made (resident map, public atlas, anonymous API,
``--public`` exports):

* only fields the catalogue marks public are kept;
* a published count of buildings or dwellings between 1 and 10 is shown as "< 11", and any rate
  derived from a masked count is masked too (the rule of LOVAC's open aggregates).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from .catalogue import LayerSpec

SECRECY_THRESHOLD = 11
MASK = "< 11"


def is_secret(count: Any) -> bool:
    """True when a count must not be published (1 to 10)."""
    if count is None or pd.isna(count):
        return False
    return 0 < int(count) < SECRECY_THRESHOLD


def mask_count(count: Any) -> Any:
    """The count itself, or "< 11" when it is between 1 and 10."""
    return MASK if is_secret(count) else count


def mask_rate(rate: Any, *counts: Any) -> Any:
    """A rate, masked when any count it is derived from is secret."""
    return MASK if any(is_secret(c) for c in counts) else rate


def public_view(spec: LayerSpec, frame: gpd.GeoDataFrame | pd.DataFrame) -> gpd.GeoDataFrame:
    """The frame with every non-public field removed (geometry kept)."""
    drop = [c for c in frame.columns if c in spec.by_name and not spec.by_name[c].public]
    return frame.drop(columns=drop)
