"""Sanity checks of every geometry a file or a request can carry, before anything uses it.

Two entry points, one per kind of input, each refusing with a French :class:`GeometryError` that
names the feature:

* :func:`geojson_geometry` — a GeoJSON geometry object as parsed from JSON (API bodies, GeoJSON
  files): its structure is checked *before* shapely sees it (known type, positions of 2 or 3
  finite numbers, at least 2 positions per line, closed rings of at least 4 positions, no empty
  part, no nesting beyond what the type allows, a vertex budget), then it is built;
* :func:`check_frame` — geometries already decoded (GDAL, shapely): finite coordinates, no empty
  part, a vertex budget per feature, and, once in the storage CRS, coordinates inside France.

:func:`load_json` parses JSON text without ever raising anything but :class:`InputError` (deep
nesting would exhaust Python's recursion). Limits are module constants, so the API and the
importer share them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .errors import GeometryError, InputError, TooLargeError, with_detail

#: Vertices one API request may carry (all geometries of the body together).
MAX_REQUEST_VERTICES = 200_000
#: Vertices one imported feature may have (a commune outline has ~10,000; more is absurd).
MAX_FEATURE_VERTICES = 1_000_000
#: JSON nesting beyond this is refused before parsing (a MultiPolygon needs 4 levels + wrappers).
MAX_JSON_DEPTH = 64

#: Lambert-93's domain (metropolitan France and its sea), with a generous margin, in metres.
LAMBERT93_ENVELOPE = (-400_000.0, 5_900_000.0, 1_600_000.0, 7_400_000.0)
#: Lon/lat boxes of French territories (metropole and the five overseas départements), with a
#: margin: anything outside every box is "far outside any French territory".
FRENCH_TERRITORIES = {
    "France métropolitaine": (-10.5, 40.5, 11.0, 52.0),
    "Guadeloupe et Martinique": (-63.5, 13.5, -59.5, 17.0),
    "Guyane": (-55.5, 1.5, -51.0, 6.5),
    "La Réunion": (54.5, -22.0, 56.5, -20.0),
    "Mayotte": (44.5, -13.5, 46.0, -12.0),
}

_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "MultiLineString": 3, "Polygon": 3,
          "MultiPolygon": 4}
TYPES = (*_DEPTH, "GeometryCollection")


class VertexBudget:
    """Vertices left for one request or one feature; refuses when spent."""

    def __init__(self, limit: int, what: str = "la requête") -> None:
        self.limit, self.left, self.what = limit, limit, what

    def spend(self, count: int, label: str) -> None:
        self.left -= count
        if self.left < 0:
            raise TooLargeError(
                f"{label} : trop de sommets ({self.limit:,} au plus pour {self.what}) ; "
                "simplifiez la géométrie ou découpez l'envoi.".replace(",", "\u202f"))


def load_json(text: bytes | str, what: str = "Corps") -> Any:
    """JSON text -> Python objects, refusing (InputError) malformed, too deep or non-JSON
    numbers (NaN, Infinity) with a French message; never RecursionError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{what} illisible : le JSON doit être encodé en UTF-8.") from None
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise InputError(f"{what} refusé : imbrication JSON trop profonde ({depth} niveaux, "
                         f"{MAX_JSON_DEPTH} au plus).")

    def constant(name: str) -> float:
        raise InputError(f"{what} refusé : « {name} » n'est pas un nombre JSON (coordonnées "
                         "finies attendues).")

    try:
        return json.loads(text, parse_constant=constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, InputError):
            raise
        where = (f" (ligne {exc.lineno}, colonne {exc.colno})"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise with_detail(InputError(f"{what} illisible : JSON invalide{where}."), exc) from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def check_json_file(path: str, name: str, max_bytes: int = 512 * 1024 * 1024) -> None:
    """Refuse a GeoJSON file nested beyond :data:`MAX_JSON_DEPTH`, naming the feature (GDAL
    would fail on it without saying where, or exhaust its stack)."""
    import os

    if os.path.getsize(path) > max_bytes:
        return  # too big to scan here: GDAL streams it
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
    if _max_depth(text) <= MAX_JSON_DEPTH:
        return
    # Error path only: blank strings out keeping offsets, find where the limit is passed, and
    # count the features that start before it.
    blank = _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)
    depth = np.cumsum(_BRACKETS[np.frombuffer(blank.encode("latin-1", "replace"), np.uint8)],
                      dtype=np.int32)
    offset = int(np.argmax(depth > MAX_JSON_DEPTH))
    number = len(re.findall(r'"type"\s*:\s*"Feature"', text[:offset]))
    where = f"objet {number}" if number else "le fichier"
    raise GeometryError(f"Géométries refusées dans « {name} » : {where} : imbrication trop "
                        f"profonde (plus de {MAX_JSON_DEPTH} niveaux) ; rien n'a été importé.")


def _max_depth(text: str) -> int:
    """Maximal nesting of brackets outside strings (vectorised: no recursion, fast on 50 MB)."""
    raw = np.frombuffer(_STRING.sub("", text).encode("utf-8", "replace"), dtype=np.uint8)
    return int(np.cumsum(_BRACKETS[raw], dtype=np.int32).max()) if len(raw) else 0


_BRACKETS = np.zeros(256, np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1


# -- GeoJSON objects ---------------------------------------------------------------------------

def geojson_geometry(data: Any, label: str, budget: VertexBudget | None = None) -> BaseGeometry:
    """A checked GeoJSON geometry object -> shapely (coordinates as given, no CRS change)."""
    budget = budget or VertexBudget(MAX_REQUEST_VERTICES)
    _check_geometry(data, label, budget, in_collection=False)
    try:
        geom = shapely.geometry.shape(data)
    except Exception as exc:  # noqa: BLE001 - anything shapely still refuses
        raise with_detail(GeometryError(f"{label} : géométrie GeoJSON illisible."), exc) \
            from None
    if geom.is_empty:
        raise GeometryError(f"{label} : géométrie vide.")
    return geom


def _check_geometry(data: Any, label: str, budget: VertexBudget, in_collection: bool) -> None:
    if not isinstance(data, dict):
        raise GeometryError(f"{label} : géométrie GeoJSON attendue (un objet avec « type » et "
                            f"« coordinates »), reçu {_kind(data)}.")
    kind = data.get("type")
    if kind == "GeometryCollection":
        if in_collection:
            raise GeometryError(f"{label} : collections de géométries imbriquées refusées.")
        parts = data.get("geometries")
        if not isinstance(parts, list) or not parts:
            raise GeometryError(f"{label} : « geometries » doit être une liste non vide.")
        for i, part in enumerate(parts):
            _check_geometry(part, f"{label}, géométrie {i + 1}", budget, in_collection=True)
        return
    if not isinstance(kind, str) or kind not in _DEPTH:
        shown = kind if isinstance(kind, str) and len(kind) < 40 else _kind(kind)
        raise GeometryError(f"{label} : type de géométrie inconnu « {shown} » (admis : "
                            f"{', '.join(TYPES)}).")
    if "coordinates" not in data:
        raise GeometryError(f"{label} : « coordinates » manquant.")
    _check_coords(data["coordinates"], kind, label, budget)


def _check_coords(coords: Any, kind: str, label: str, budget: VertexBudget) -> None:
    if kind == "Point":
        _position(coords, label)
        budget.spend(1, label)
        return
    if not isinstance(coords, list) or not coords:
        raise GeometryError(f"{label} : {kind} sans coordonnées (partie vide).")
    if kind == "MultiPoint":
        for p in coords:
            _position(p, label)
        budget.spend(len(coords), label)
    elif kind == "LineString":
        _line(coords, label, budget)
    elif kind == "Polygon":
        _polygon(coords, label, budget)
    elif kind == "MultiLineString":
        for i, part in enumerate(coords):
            _line(part, f"{label}, partie {i + 1}", budget)
    else:  # MultiPolygon
        for i, part in enumerate(coords):
            _polygon(part, f"{label}, partie {i + 1}", budget)


def _position(p: Any, label: str) -> None:
    if not isinstance(p, list) or not 2 <= len(p) <= 3:
        raise GeometryError(f"{label} : position [x, y] attendue, reçu {_kind(p)}.")
    for v in p:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise GeometryError(f"{label} : coordonnée non numérique ({_kind(v)}).")
        if not math.isfinite(v):
            raise GeometryError(f"{label} : coordonnée non finie ({v}).")


def _positions(coords: Any, label: str, budget: VertexBudget, least: int, rule: str) -> None:
    """A list of at least ``least`` positions (``rule`` says so in the error), each checked."""
    if not isinstance(coords, list) or len(coords) < least:
        raise GeometryError(f"{label} : {rule} (reçu {_count(coords)}).")
    budget.spend(len(coords), label)
    for p in coords:
        _position(p, label)


def _line(coords: Any, label: str, budget: VertexBudget) -> None:
    _positions(coords, label, budget, 2, "une ligne a au moins 2 positions")


def _polygon(rings: Any, label: str, budget: VertexBudget) -> None:
    if not isinstance(rings, list) or not rings:
        raise GeometryError(f"{label} : polygone sans anneau (partie vide).")
    for j, ring in enumerate(rings):
        where = label if j == 0 else f"{label}, trou {j}"
        _positions(ring, where, budget, 4,
                   "un anneau a au moins 4 positions, la dernière égale à la première")
        if ring[0][:2] != ring[-1][:2]:
            raise GeometryError(f"{where} : anneau non fermé (la dernière position doit répéter "
                                "la première).")


def _kind(value: Any) -> str:
    names = {dict: "un objet", list: "une liste", str: "un texte", bool: "un booléen",
             type(None): "null", int: "un nombre", float: "un nombre"}
    return names.get(type(value), type(value).__name__)


def _count(value: Any) -> str:
    return f"{len(value)} position(s)" if isinstance(value, list) else _kind(value)


# -- decoded geometries ------------------------------------------------------------------------

def check_frame(geoms: Sequence[BaseGeometry] | np.ndarray, labels: Sequence[str], *,
                where: str, max_vertices: int = MAX_FEATURE_VERTICES) -> None:
    """Refuse non-finite coordinates, empty parts and absurd vertex counts (any CRS)."""
    geoms = np.asarray(geoms, dtype=object)
    problems: dict[int, str] = {}
    present = ~shapely.is_missing(geoms)
    coords, index = shapely.get_coordinates(geoms[present], include_z=True, return_index=True)
    rows = np.flatnonzero(present)
    bad = ~np.isfinite(coords[:, :2]).all(axis=1)
    if len(coords) and bad.any():
        for i in np.unique(index[bad]):
            problems[int(rows[i])] = "coordonnée non finie (NaN ou infini)"
    counts = shapely.get_num_coordinates(geoms)
    for i in np.flatnonzero(counts > max_vertices):
        problems.setdefault(int(i), f"{int(counts[i]):,} sommets ({max_vertices:,} au plus)"
                            .replace(",", "\u202f"))
    multi = np.flatnonzero(np.isin(shapely.get_type_id(geoms), (4, 5, 6, 7)))
    if len(multi):
        parts, owner = shapely.get_parts(geoms[multi], return_index=True)
        for i in np.unique(owner[shapely.is_empty(parts)]):
            problems.setdefault(int(multi[i]), "partie vide dans une géométrie multiple")
    if problems:
        raise GeometryError(_listing(f"Géométries refusées dans « {where} »", problems, labels))


def check_in_france(geoms: Sequence[BaseGeometry] | np.ndarray, labels: Sequence[str], *,
                    where: str, epsg: int = 2154) -> None:
    """Refuse geometries (in ``epsg``, the store's CRS: Lambert-93 or an overseas UTM) far
    outside the territory's projection domain."""
    from .crs import crs_label

    geoms = np.asarray(geoms, dtype=object)
    bounds = shapely.bounds(geoms)
    x0, y0, x1, y1 = LAMBERT93_ENVELOPE if epsg == 2154 else _envelope(epsg)
    with np.errstate(invalid="ignore"):
        out = ((bounds[:, 0] < x0) | (bounds[:, 1] < y0) | (bounds[:, 2] > x1)
               | (bounds[:, 3] > y1))
    problems = {int(i): "coordonnées loin de tout territoire français (hors du domaine de "
                        f"{crs_label(epsg).split(' (')[0]})" for i in np.flatnonzero(out)}
    if problems:
        raise GeometryError(_listing(f"Géométries refusées dans « {where} »", problems, labels))


@cache
def _envelope(epsg: int) -> tuple[float, float, float, float]:
    """A projected CRS's area of use in its own metres, with a 100 km margin."""
    from pyproj import Transformer

    from .crs import area_of

    x0, y0, x1, y1 = Transformer.from_crs(4326, epsg, always_xy=True).transform_bounds(
        *area_of(epsg), densify_pts=21)
    return x0 - 1e5, y0 - 1e5, x1 + 1e5, y1 + 1e5


def check_plausible(geoms: Sequence[BaseGeometry] | np.ndarray, labels: Sequence[str], *,
                    where: str, geographic: bool | None) -> None:
    """Before a CRS is resolved: refuse features whose coordinates cannot be French in any CRS.

    ``geographic``: True when the coordinates are declared lon/lat, None when undeclared (then
    small numbers are read as lon/lat, large ones as projected metres), False when projected
    (nothing to say yet: :func:`check_in_france` runs after reprojection).
    """
    if geographic is False:
        return
    geoms = np.asarray(geoms, dtype=object)
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        degrees = (np.abs(b[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(b[:, [1, 3]]) <= 90).all(
            axis=1)
        inside = np.zeros(len(geoms), bool)
        for x0, y0, x1, y1 in FRENCH_TERRITORIES.values():
            inside |= (b[:, 0] >= x0) & (b[:, 2] <= x1) & (b[:, 1] >= y0) & (b[:, 3] <= y1)
            # latitude and longitude swapped: France still, the CRS check words that error
            inside |= (b[:, 1] >= x0) & (b[:, 3] <= x1) & (b[:, 0] >= y0) & (b[:, 2] <= y1)
        # Numbers beyond degrees under a lon/lat label are a CRS contradiction, which
        # resolve_crs words better (it suggests --scr); only absurd magnitudes are refused here.
        metres = (np.abs(b) < 1e8).all(axis=1)
        bad = np.where(degrees, ~inside, ~metres)
    problems = {int(i): "coordonnées loin de tout territoire français" for i in np.flatnonzero(bad)}
    if problems:
        raise GeometryError(_listing(f"Géométries refusées dans « {where} »", problems, labels))


def lonlat_territory(bounds: tuple[float, float, float, float]) -> str | None:
    """The French territory whose lon/lat box holds ``bounds``, or None."""
    minx, miny, maxx, maxy = bounds
    for name, (x0, y0, x1, y1) in FRENCH_TERRITORIES.items():
        if x0 <= minx and maxx <= x1 and y0 <= miny and maxy <= y1:
            return name
    return None


def _listing(head: str, problems: dict[int, str], labels: Sequence[str], shown: int = 15) -> str:
    items = [f"{labels[i] if i < len(labels) else f'objet {i + 1}'} : {text}"
             for i, text in sorted(problems.items())]
    more = f"\n  … et {len(items) - shown} autre(s)" if len(items) > shown else ""
    return (f"{head} ({len(items)}) : rien n'a été importé ni modifié.\n  "
            + "\n  ".join(items[:shown]) + more)


__all__ = ["MAX_REQUEST_VERTICES", "MAX_FEATURE_VERTICES", "MAX_JSON_DEPTH", "VertexBudget",
           "load_json", "geojson_geometry", "check_frame", "check_in_france", "lonlat_territory"]
