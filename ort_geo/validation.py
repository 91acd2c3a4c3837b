"""Checks and coercions every feature passes before it is stored.

The store calls :func:`frame_to_features` on every write, so no backend can hold a value the
catalogue does not allow. Errors name the feature, the field and the value, in French.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .catalogue import FieldSpec, LayerSpec
from .errors import CRSError, FieldError, GeometryError
from .features import Feature

MAX_REPORTED = 15
_TRUE = {"1", "true", "vrai", "oui", "o", "yes", "y", "t", "x"}
_FALSE = {"0", "false", "faux", "non", "n", "no", "f", ""}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except Exception:  # pragma: no cover
        return False


def slug(text: str) -> str:
    """Lower-case ASCII with underscores: 'Autorisation préalable' -> 'autorisation_prealable'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def coerce_value(field: FieldSpec, value: Any) -> Any:
    """The catalogue-typed value, or ValueError with a French reason."""
    if _is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    kind = field.type
    if kind == "str":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        return text or None
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("n'est pas un entier")
        if isinstance(value, str):
            value = value.strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
            if not value:
                return None
        number = float(value)
        if not number.is_integer():
            raise ValueError("n'est pas un entier")
        out: Any = int(number)
    elif kind == "float":
        if isinstance(value, str):
            value = value.strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
            if not value:
                return None
        out = float(value)
        if math.isnan(out):
            return None
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return None if text == "" else False
        raise ValueError("n'est pas un booléen (oui/non)")
    elif kind == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        if not text:
            return None
        match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if match:
            day, month, year = map(int, match.groups())
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text[:10])
    else:  # enum
        text = str(value).strip()
        if not text:
            return None
        if text in field.choices:
            return text
        normalised = slug(text)
        if normalised in field.choices:
            return normalised
        raise ValueError(f"n'est pas une valeur admise ({', '.join(field.choices)})")
    if field.minimum is not None and out < field.minimum:
        raise ValueError(f"est inférieur au minimum {field.minimum:g}")
    if field.maximum is not None and out > field.maximum:
        raise ValueError(f"est supérieur au maximum {field.maximum:g}")
    return out


def normalise_geometry(spec: LayerSpec, geom: BaseGeometry) -> BaseGeometry:
    """Promote or merge a geometry to the layer's declared kind; ValueError when impossible."""
    if shapely.has_z(geom):  # stores are 2D (GeoPackage z=0, PostGIS 2D columns)
        geom = shapely.force_2d(geom)
    kind = geom.geom_type
    if kind not in spec.accepted_geometries:
        allowed = ", ".join(spec.accepted_geometries)
        raise ValueError(f"géométrie {kind} non admise (attendu : {allowed})")
    if spec.geometry == "MultiPolygon" and kind == "Polygon":
        return shapely.MultiPolygon([geom])
    if spec.geometry == "Polygon" and kind == "MultiPolygon":
        if len(geom.geoms) != 1:
            raise ValueError("multipolygone de plusieurs parties : un seul polygone attendu")
        return geom.geoms[0]
    if spec.geometry == "LineString" and kind == "MultiLineString":
        merged = shapely.line_merge(geom)
        if merged.geom_type != "LineString":
            raise ValueError("multiligne non connexe : découpez-la en plusieurs tronçons")
        return merged
    return geom


def frame_to_features(spec: LayerSpec, frame: gpd.GeoDataFrame) -> list[Feature]:
    """Validate a frame against the catalogue and return its features (EPSG:2154 required)."""
    if frame.crs is None or frame.crs.to_epsg() != 2154:
        raise CRSError(
            f"Les géométries doivent être en Lambert-93 (EPSG:2154) avant stockage "
            f"(reçu : {frame.crs.to_string() if frame.crs is not None else 'aucun SCR'})."
        )
    columns = [c for c in frame.columns if c != frame.geometry.name]
    unknown = [c for c in columns if c not in spec.by_name]
    if unknown:
        raise FieldError(
            f"Champs inconnus de la couche {spec.name} : {', '.join(unknown)}. "
            f"Champs du catalogue : {', '.join(spec.field_names)}."
        )
    if spec.key not in columns:
        raise FieldError(f"La couche {spec.name} exige l'identifiant « {spec.key} ».")
    absent = [f.name for f in spec.fields if f.required and f.name not in columns]
    if absent:
        raise FieldError(f"Champs obligatoires absents de {spec.name} : {', '.join(absent)}.")
    problems: list[str] = []
    keys = frame[spec.key].map(lambda v: coerce_value(spec.by_name[spec.key], v))
    missing = int(keys.isna().sum())
    if missing:
        problems.append(f"{missing} objet(s) sans identifiant « {spec.key} »")
    duplicated = sorted(set(keys[keys.duplicated() & keys.notna()]))
    if duplicated:
        problems.append(f"identifiants en double : {', '.join(map(str, duplicated[:10]))}")
    if problems:
        raise FieldError(f"Couche {spec.name} : " + " ; ".join(problems) + ".")

    geoms = np.asarray(frame.geometry.values, dtype=object)
    field_specs = [spec.by_name[c] for c in columns if c != spec.key]
    values = {f.name: frame[f.name].tolist() for f in field_specs}
    features: list[Feature] = []
    geometry_problems: list[str] = []
    field_problems: list[str] = []
    for i, fid in enumerate(keys.tolist()):
        geom = geoms[i]
        if geom is None or geom.is_empty:
            geometry_problems.append(f"{fid} : géométrie vide ou absente")
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            geometry_problems.append(f"{fid} : géométrie invalide ({reason})")
            continue
        try:
            geom = normalise_geometry(spec, geom)
        except ValueError as exc:
            geometry_problems.append(f"{fid} : {exc}")
            continue
        props: dict[str, Any] = {}
        for f in field_specs:
            raw = values[f.name][i]
            try:
                props[f.name] = coerce_value(f, raw)
            except (ValueError, TypeError, OverflowError) as exc:
                reason = str(exc) if str(exc).startswith(("n'", "est")) else "a un type incorrect"
                field_problems.append(f"{fid} : champ {f.name} = « {raw} » {reason}")
                continue
            if props[f.name] is None and f.required:
                field_problems.append(f"{fid} : champ obligatoire {f.name} vide")
        features.append(Feature(str(fid), props, geom))
    if geometry_problems:
        raise GeometryError(_report(f"Géométries refusées dans {spec.name}", geometry_problems))
    if field_problems:
        raise FieldError(_report(f"Valeurs refusées dans {spec.name}", field_problems))
    return features


def _report(title: str, problems: list[str]) -> str:
    lines = problems[:MAX_REPORTED]
    more = len(problems) - len(lines)
    tail = f"\n  … et {more} autre(s)" if more > 0 else ""
    return f"{title} ({len(problems)}) :\n  " + "\n  ".join(lines) + tail
