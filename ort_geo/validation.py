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
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from .catalogue import FieldSpec, LayerSpec
from .crs import STORAGE_EPSG, crs_label
from .errors import CRSError, FieldError, GeometryError
from .features import Feature, FeatureBatch, objects

MAX_REPORTED = 15
_TRUE = {"1", "true", "vrai", "oui", "o", "yes", "y", "t", "x"}
_FALSE = {"0", "false", "faux", "non", "n", "no", "f", ""}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def slug(text: str) -> str:
    """Lower-case ASCII with underscores: 'Autorisation préalable' -> 'autorisation_prealable'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


#: What text must not hold: a lone UTF-16 surrogate ("\ud800" in JSON) cannot be stored as
#: UTF-8; a NUL cuts the text short in every C client (GDAL, QGIS, psql).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
#: French reasons for a value Python itself refuses (its messages are English).
_KIND_REASONS = {"int": "n'est pas un entier", "float": "n'est pas un nombre",
                 "date": "n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)"}


def coerce_value(field: FieldSpec, value: Any) -> Any:
    """The catalogue-typed value, or ValueError with a French reason."""
    try:
        return _coerce(field, value)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(("n'", "est")):
            raise  # ours, already French
        raise ValueError(_KIND_REASONS.get(field.type, "a un type incorrect")) from None


def _coerce(field: FieldSpec, value: Any) -> Any:
    if _is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    kind = field.type
    if kind == "str":
        if isinstance(value, (dict, list, tuple, set)):  # JSON objects and arrays are not text
            raise ValueError("n'est pas un texte")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        if _BAD_TEXT.search(text):
            raise ValueError("n'est pas un texte valide (caractère nul ou demi-paire UTF-16)")
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
        if math.isinf(out):
            raise ValueError("n'est pas un nombre fini")
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


def frame_to_features(spec: LayerSpec, frame: gpd.GeoDataFrame, *,
                      epsg: int = STORAGE_EPSG) -> list[Feature]:
    """Validate a frame against the catalogue and return its features (in the store's CRS,
    ``epsg``)."""
    return validate_frame(spec, frame, epsg=epsg).features()


#: Property values :func:`type_feature` types itself; any other makes it build the frame.
_PLAIN = (str, int, float, bool, dt.date, type(None))


def type_feature(spec: LayerSpec, feature: Feature, *, epsg: int = STORAGE_EPSG) -> Feature:
    """One feature (geometry in the store's CRS) typed and checked by the catalogue: what
    :func:`frame_to_features` makes of a one-row frame of it, without building the frame — an
    edit types one feature, and pandas costs more than the checks. Cell by cell through
    :func:`coerce_value`, the one source of truth; values of other kinds (numpy, lists…) and a
    property named like the geometry column go through the frame (``tests/test_validation_fast``
    compares both on arbitrary values)."""
    geometry = feature.geometry
    # A stored feature's numbers come as numpy scalars: the frame holds them as plain ones.
    props = {k: v.item() if isinstance(v, (np.integer, np.floating, np.bool_)) else v
             for k, v in feature.properties.items()}
    if "geometry" in props or spec.key in props or not all(
            type(v) in _PLAIN for v in props.values()) or not (
            geometry is None or isinstance(geometry, BaseGeometry)):
        from .store.base import features_to_frame

        return frame_to_features(spec, features_to_frame(spec, [feature], crs=f"EPSG:{epsg}"),
                                 epsg=epsg)[0]
    if not spec.spatial and geometry is not None and not shapely.is_empty(geometry):
        raise GeometryError(f"La couche {spec.name} est une table sans géométrie : "
                            "1 ligne(s) en portent une.")
    columns = [spec.key, *props]
    unknown = [c for c in columns if c not in spec.by_name]
    if unknown:
        raise FieldError(
            f"Champs inconnus de la couche {spec.name} : {', '.join(unknown)}. "
            f"Champs du catalogue : {', '.join(spec.field_names)}."
        )
    absent = [f.name for f in spec.fields if f.required and f.name not in columns]
    if absent:
        raise FieldError(f"Champs obligatoires absents de {spec.name} : {', '.join(absent)}.")
    key = coerce_value(spec.by_name[spec.key], feature.id)
    if key is None:
        raise FieldError(f"Couche {spec.name} : 1 objet(s) sans identifiant « {spec.key} ».")
    ids = objects([str(key)])
    if not spec.spatial:
        geoms = np.full(1, None, dtype=object)
    else:
        geoms, problems = _check_geometries(spec, ids, np.array([geometry], dtype=object))
        if problems:
            raise GeometryError(_report(f"Géométries refusées dans {spec.name}", problems))
    values: dict[str, np.ndarray] = {}
    field_problems: list[str] = []
    for name in columns[1:]:
        f = spec.by_name[name]
        raw = props[name]
        value = None
        try:
            value = coerce_value(f, raw)
        except (ValueError, TypeError, OverflowError) as exc:
            reason = str(exc) if str(exc).startswith(("n'", "est")) else "a un type incorrect"
            field_problems.append(f"{ids[0]} : champ {f.name} = « {raw} » {reason}")
        else:
            if f.required and value is None:
                field_problems.append(f"{ids[0]} : champ obligatoire {f.name} vide")
        values[name] = objects([value])
    if field_problems:
        raise FieldError(_report(f"Valeurs refusées dans {spec.name}", field_problems))
    return FeatureBatch(ids, values, geoms).features()[0]


def validate_frame(spec: LayerSpec, frame: gpd.GeoDataFrame, *,
                   epsg: int = STORAGE_EPSG) -> FeatureBatch:
    """Validate a frame against the catalogue and return it as a batch (geometries must be in the
    store's CRS, ``epsg``).

    Column by column: values are coerced in bulk and only unusual or faulty cells go through
    :func:`coerce_value`, so errors read the same whichever path found them. A non-spatial table
    (``spec.spatial`` false) takes a plain DataFrame and refuses geometries.
    """
    if not spec.spatial:
        frame = _non_spatial(spec, frame)
    elif frame.crs is None or frame.crs.to_epsg() != epsg:
        raise CRSError(
            f"Les géométries doivent être en {crs_label(epsg)}, le SCR de l'entrepôt, avant "
            f"stockage (reçu : {frame.crs.to_string() if frame.crs is not None else 'aucun SCR'})."
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
    key_values, _ = _coerce_column(spec.by_name[spec.key], frame[spec.key], raise_errors=True)
    keys = pd.Series(key_values, dtype=object)
    missing = int(keys.isna().sum())
    if missing:
        problems.append(f"{missing} objet(s) sans identifiant « {spec.key} »")
    duplicated = sorted(set(keys[keys.duplicated() & keys.notna()]))
    if duplicated:
        problems.append(f"identifiants en double : {', '.join(map(str, duplicated[:10]))}")
    if problems:
        raise FieldError(f"Couche {spec.name} : " + " ; ".join(problems) + ".")
    ids = objects([str(k) for k in key_values])

    if not spec.spatial:
        geoms, geometry_problems = np.full(len(ids), None, dtype=object), list[str]()
    else:
        geoms, geometry_problems = _check_geometries(spec, ids, frame.geometry)
    if geometry_problems:
        raise GeometryError(_report(f"Géométries refusées dans {spec.name}", geometry_problems))

    values: dict[str, np.ndarray] = {}
    field_problems: list[tuple[int, int, str]] = []
    for order, f in enumerate(spec.by_name[c] for c in columns if c != spec.key):
        values[f.name], errors = _coerce_column(f, frame[f.name])
        field_problems += [(row, order, f"{ids[row]} : {text}") for row, text in errors]
        if f.required:
            empty = np.flatnonzero(pd.isna(values[f.name]))
            done = {row for row, _ in errors}
            field_problems += [(row, order, f"{ids[row]} : champ obligatoire {f.name} vide")
                               for row in empty.tolist() if row not in done]
    if field_problems:
        field_problems.sort(key=lambda p: (p[0], p[1]))
        raise FieldError(_report(f"Valeurs refusées dans {spec.name}",
                                 [text for _, _, text in field_problems]))
    return FeatureBatch(ids, values, geoms)


def _non_spatial(spec: LayerSpec, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """A table's rows as a frame with an empty geometry column; a present geometry is refused."""
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        if present.any():
            raise GeometryError(f"La couche {spec.name} est une table sans géométrie : "
                                f"{int(present.sum())} ligne(s) en portent une.")
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    frame = pd.DataFrame(frame).drop(columns=[c for c in ("geometry",) if c in frame.columns])
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([None] * len(frame),
                                                          index=frame.index, crs="EPSG:2154"))


#: Shapely type ids of geometry type names.
_TYPE_IDS = {"Point": 0, "LineString": 1, "Polygon": 3, "MultiPoint": 4, "MultiLineString": 5,
             "MultiPolygon": 6}


def _check_geometries(spec: LayerSpec, ids: np.ndarray,
                      series: gpd.GeoSeries | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Geometries normalised to the layer's kind, and the problems, in row order."""
    geoms = np.asarray(getattr(series, "values", series), dtype=object)
    absent = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    invalid = ~absent & ~shapely.is_valid(geoms)
    problems: list[tuple[int, str]] = [(i, f"{ids[i]} : géométrie vide ou absente")
                                       for i in np.flatnonzero(absent).tolist()]
    problems += [(i, f"{ids[i]} : géométrie invalide ({shapely.is_valid_reason(geoms[i])})")
                 for i in np.flatnonzero(invalid).tolist()]
    types = shapely.get_type_id(geoms)
    usable = ~absent & ~invalid
    declared = _TYPE_IDS.get(spec.geometry, -1)
    kept = np.isin(types, [_TYPE_IDS[k] for k in spec.accepted_geometries])
    out = geoms.copy()
    if spec.geometry in ("Polygon", "MultiPolygon"):
        # The common promotions in bulk; multi-part polygons and the rest go one by one below.
        other = _TYPE_IDS["MultiPolygon" if spec.geometry == "Polygon" else "Polygon"]
        convert = np.flatnonzero(usable & (types == other) & (
            shapely.get_num_geometries(geoms) == 1 if spec.geometry == "Polygon" else True))
        if len(convert):
            out[convert] = (shapely.get_geometry(geoms[convert], 0) if spec.geometry == "Polygon"
                            else shapely.multipolygons(geoms[convert],
                                                       indices=np.arange(len(convert))))
        kept[types == other] = False
        kept[convert] = True
        done = np.zeros(len(geoms), dtype=bool)
        done[convert] = True
    else:
        done = np.zeros(len(geoms), dtype=bool)
        kept[types != declared] &= spec.geometry == "Any"
    single = np.flatnonzero(usable & ~done & ~kept)
    for i in single.tolist():
        try:
            out[i] = normalise_geometry(spec, geoms[i])
        except ValueError as exc:
            problems.append((i, f"{ids[i]} : {exc}"))
    problems.sort(key=lambda p: p[0])
    return out, [text for _, text in problems]


def _coerce_column(field: FieldSpec, series: pd.Series, *,
                   raise_errors: bool = False) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The column coerced to the field's type and its faulty cells as (row, French reason).

    A bulk path handles the usual dtypes; every cell it is unsure of (other types, anything that
    may be an error) goes through :func:`coerce_value`, the one source of truth.
    """
    values, unsure = _bulk_coerce(field, series)
    errors: list[tuple[int, str]] = []
    rows = np.flatnonzero(unsure)
    for row, raw in zip(rows.tolist(), series.iloc[rows].tolist(), strict=True):
        try:
            values[row] = coerce_value(field, raw)
        except (ValueError, TypeError, OverflowError) as exc:
            if raise_errors:
                raise
            reason = str(exc) if str(exc).startswith(("n'", "est")) else "a un type incorrect"
            values[row] = None
            errors.append((row, f"champ {field.name} = « {raw} » {reason}"))
    return values, errors


def _bulk_coerce(field: FieldSpec, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Coerced values and the mask of cells left to :func:`coerce_value`."""
    n = len(series)
    values = np.full(n, None, dtype=object)
    dtype = series.dtype
    kind = field.type
    is_int = pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    is_float = pd.api.types.is_float_dtype(dtype)
    missing = series.isna().to_numpy()
    unsure = ~missing
    if is_int or is_float:
        numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        exact = np.abs(numbers) < 2.0**53  # beyond, floats and ints part ways: coerce_value decides
    if kind in ("str", "enum") and _all_kind(series, missing, "string"):
        raw = series.to_numpy(dtype=object)[~missing]
        text = objects(list(map(str.strip, raw)))
        text[text == ""] = None
        values[~missing] = text
        unsure = np.zeros(n, dtype=bool)
        if kind == "enum":
            unsure[~missing] = ~(pd.isna(text) | pd.Series(text).isin(field.choices).to_numpy())
        if _BAD_TEXT.search("\n".join(raw)):  # one scan of the column; rarely true
            unsure[~missing] |= [_BAD_TEXT.search(t) is not None for t in raw]
    elif kind == "str" and is_int:
        sure = ~missing & exact
        values[sure] = [str(v) for v in numbers[sure].astype("int64").tolist()]
        unsure = ~missing & ~exact
    elif kind in ("int", "float") and (is_int or (is_float and kind == "float")):
        sure = ~missing & exact
        values[sure] = (numbers[sure].astype("int64") if kind == "int" else numbers[sure]).tolist()
        unsure = ~missing & ~exact
    elif kind == "int" and is_float:
        whole = ~missing & exact & (numbers == np.trunc(numbers))
        values[whole] = numbers[whole].astype("int64").tolist()
        unsure = ~missing & ~whole
    elif kind == "bool" and (pd.api.types.is_bool_dtype(dtype) or is_int or is_float):
        flags = series.to_numpy(dtype="float64", na_value=np.nan)
        binary = ~missing & ((flags == 0) | (flags == 1))
        values[binary] = (flags[binary] == 1).tolist()
        unsure = ~missing & ~binary
    elif kind == "bool" and series.dtype == object and _all_kind(series, missing, "boolean"):
        values[~missing] = [bool(v) for v in series[~missing].tolist()]
        unsure = np.zeros(n, dtype=bool)
    if kind in ("int", "float") and (is_int or is_float):
        if field.minimum is not None:
            unsure |= ~missing & (numbers < field.minimum)
        if field.maximum is not None:
            unsure |= ~missing & (numbers > field.maximum)
    # Cells pandas calls missing that coerce_value would not (e.g. numpy NaT) go there too.
    odd = np.flatnonzero(missing)
    if len(odd) and series.dtype == object:
        unsure[odd] = [not _is_missing(v) for v in series.iloc[odd].tolist()]
    return values, unsure


def _all_kind(series: pd.Series, missing: np.ndarray, kind: str) -> bool:
    """Whether every present value of an object or text column is of ``kind`` (pandas' name)."""
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        return False
    return pd.api.types.infer_dtype(series[~missing], skipna=False) in (kind, "empty")


def _report(title: str, problems: list[str]) -> str:
    lines = problems[:MAX_REPORTED]
    more = len(problems) - len(lines)
    tail = f"\n  … et {more} autre(s)" if more > 0 else ""
    return f"{title} ({len(problems)}) :\n  " + "\n  ".join(lines) + tail
