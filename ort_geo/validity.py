"""Validity dates: which features are in force during a period.

Sectors, permis de louer zones and actions carry dates (``date_debut``/``date_fin``, or a single
``date_effet``), declared per layer in the catalogue (:attr:`LayerSpec.validity`). A missing start
or end date is open: a sector without ``date_fin`` is in force from its start onwards. Periods are
read in the RFC 3339 / ISO 8601 interval syntax of OGC API – Features (``datetime`` parameter):
an instant (``2024-05-01`` or ``2024-05-01T10:00:00Z``) or ``start/end`` where either side may be
``..`` or empty (open).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .catalogue import LayerSpec
from .errors import InputError

#: The temporal reference system of every interval (OGC API – Features, Gregorian calendar).
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


@dataclass(frozen=True)
class Period:
    """A closed period of days; ``None`` on either side means open."""

    start: dt.date | None
    end: dt.date | None


def _parse_instant(text: str, what: str) -> dt.date:
    value = text.strip()
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"Paramètre {what} : « {text} » n'est pas une date RFC 3339 (ex. 2024-05-01 ou "
            "2024-05-01T00:00:00Z ; intervalle début/fin, « .. » pour une borne ouverte).") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


def parse_period(text: str, what: str = "datetime") -> Period:
    """An OGC ``datetime`` value (instant or interval) as a :class:`Period` of days."""
    if "/" not in text:
        day = _parse_instant(text, what)
        return Period(day, day)
    parts = text.split("/")
    if len(parts) != 2:
        raise InputError(f"Paramètre {what} : un intervalle a deux bornes (début/fin).")
    start, end = (None if p.strip() in ("", "..") else _parse_instant(p, what) for p in parts)
    if start is None and end is None and parts[0].strip() == parts[1].strip() == "":
        raise InputError(f"Paramètre {what} : intervalle vide (utilisez « ../.. »).")
    if start is not None and end is not None and start > end:
        raise InputError(f"Paramètre {what} : le début ({start}) suit la fin ({end}).")
    return Period(start, end)


def _days(values: Any) -> np.ndarray:
    """Dates (date objects, ISO text or NaT/None) as numpy days, NaT where missing."""
    return pd.to_datetime(values, errors="coerce").to_numpy(dtype="datetime64[D]")


def bounds(spec: LayerSpec) -> tuple[str | None, str | None]:
    """The (start, end) fields of a layer's validity; (None, None) when it has none."""
    if not spec.validity:
        return None, None
    start = spec.validity[0]
    end = spec.validity[1] if len(spec.validity) > 1 else None
    return start, end


def in_force(spec: LayerSpec, frame: Mapping[str, Any], period: Period,
             rows: int | None = None) -> np.ndarray:
    """Mask of the rows whose validity overlaps ``period`` (all rows for a layer without dates).

    ``frame`` is a DataFrame, or columns by name (a :class:`~ort_geo.features.FeatureBatch`'s,
    with ``rows`` their length). A feature without a start date has been in force forever, one
    without an end date still is; a feature with a single date (``date_effet``) is in force from
    that date on.
    """
    start_field, end_field = bounds(spec)
    mask = np.ones(len(frame) if rows is None else rows, dtype=bool)
    if start_field is None:
        return mask
    if period.end is not None:
        starts = _days(frame[start_field])
        mask &= np.isnat(starts) | (starts <= np.datetime64(period.end, "D"))
    if period.start is not None and end_field is not None:
        ends = _days(frame[end_field])
        mask &= np.isnat(ends) | (ends >= np.datetime64(period.start, "D"))
    return mask


def extent(spec: LayerSpec, frame: pd.DataFrame) -> list[str | None] | None:
    """The layer's temporal extent as an OGC interval ``[start, end]`` (RFC 3339 timestamps in
    UTC, from the first day's start to the last day's end; ``None`` for an open side), or ``None``
    for a layer without validity dates or without any feature."""
    start_field, end_field = bounds(spec)
    if start_field is None or frame.empty:
        return None
    starts = _days(frame[start_field])
    first = None if np.isnat(starts).any() else f"{starts.min()}T00:00:00Z"
    if end_field is None:
        return [first, None]
    ends = _days(frame[end_field])
    last = None if np.isnat(ends).any() else f"{ends.max()}T23:59:59Z"
    return [first, last]
