"""GeoJSON in and out of the API, and the CRSs of OGC API – Features Part 2.

The store keeps its territory's projected CRS (``Store.epsg``: Lambert-93, or UTM overseas). Web
clients get RFC 7946 GeoJSON (CRS84, lon/lat) unless they ask for another supported CRS with
``crs``: EPSG:4326 (served in its own axis order, latitude first, as Part 2 requires) or the
store's own CRS. Every function that converts takes ``storage``, the store's EPSG code.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from ort_geo import geomcheck
from ort_geo.crs import STORAGE_EPSG, area_of, crs_label
from ort_geo.errors import CRSError, GeometryError, InputError, SwappedAxesError
from ort_geo.features import Feature, FeatureBatch, _plain
from ort_geo.revision_cache import RevisionCache

STORAGE_CRS = f"EPSG:{STORAGE_EPSG}"


@dataclass(frozen=True)
class ApiCRS:
    """A CRS the API serves: its OGC URI, its EPSG code and its axis order."""

    uri: str
    epsg: int
    lat_first: bool
    decimals: int

    @property
    def header(self) -> str:
        return f"<{self.uri}>"


CRS84 = ApiCRS("http://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326, False, 7)
EPSG4326 = ApiCRS("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, True, 7)


def projected(epsg: int) -> ApiCRS:
    """A store's projected CRS as the API names it (centimetre precision)."""
    return ApiCRS(f"http://www.opengis.net/def/crs/EPSG/0/{epsg}", epsg, False, 2)


LAMBERT93 = projected(STORAGE_EPSG)
SUPPORTED = (CRS84, EPSG4326, LAMBERT93)


def supported(storage: int = STORAGE_EPSG) -> tuple[ApiCRS, ...]:
    """The CRSs served for a store in ``storage``: CRS84, EPSG:4326 and the store's own."""
    return (CRS84, EPSG4326, projected(storage))


def _aliases(storage: int) -> dict[str, ApiCRS]:
    own = projected(storage)
    return {
        "crs84": CRS84, "ogc:crs84": CRS84, "urn:ogc:def:crs:ogc:1.3:crs84": CRS84,
        "epsg:4326": EPSG4326, "urn:ogc:def:crs:epsg::4326": EPSG4326,
        f"epsg:{storage}": own, f"urn:ogc:def:crs:epsg::{storage}": own,
    }


def _region(storage: int) -> tuple[float, float, float, float]:
    """Where the store's CRS applies, in lon/lat, with a margin of half a degree."""
    west, south, east, north = area_of(storage)
    return west - 0.5, south - 0.5, east + 0.5, north + 0.5


def parse_crs(value: str | None, what: str = "crs", *, storage: int = STORAGE_EPSG) -> ApiCRS:
    """The supported CRS named by an OGC URI (or a short form); CRS84 when absent."""
    if value is None or not value.strip():
        return CRS84
    text = value.strip().strip("<>")
    for crs in supported(storage):
        if text == crs.uri:
            return crs
    found = _aliases(storage).get(text.lower())
    if found is None:
        admitted = ", ".join(c.uri for c in supported(storage))
        raise CRSError(f"Paramètre {what} : SCR « {value} » non pris en charge (admis : {admitted}).")
    return found


@functools.cache
def _transformer(src: int, dst: int) -> Transformer:
    """One transformer per pair of codes, reused by every request (pyproj's are thread-safe)."""
    return Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst), always_xy=True)


#: Longest edge piece of a degree box projected to the store's CRS. A parallel becomes a curve
#: of radius over 6,000 km in the conic and transverse Mercator projections of the stores: a
#: chord of 0.002° (at most 220 m) departs from it by less than a millimetre.
_SEGMENT_DEGREES = 0.002


@dataclass(frozen=True)
class BBoxQuery:
    """A bbox in the store's CRS: the envelope the store searches, and, for a box given in
    degrees, the exact area it covers (a CRS84 box is a curved quadrilateral once projected)."""

    envelope: tuple[float, float, float, float]
    area: BaseGeometry | None = None


@functools.lru_cache(maxsize=1024)
def parse_bbox(value: str, crs: ApiCRS, *, storage: int = STORAGE_EPSG) -> BBoxQuery:
    """``minx,miny,maxx,maxy`` (or 6 numbers with heights) in ``crs`` -> a query in the store's
    CRS (``storage``). Remembered (a pure function of its text): map clients ask the same boxes
    again and again, and the projection is a tenth of a page's work."""
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise InputError(f"Paramètre bbox : « {value} » n'est pas une liste de nombres.") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(map(math.isfinite, numbers)):
        raise InputError("Paramètre bbox : 4 nombres attendus (xmin,ymin,xmax,ymax).")
    if crs.lat_first:
        numbers = [numbers[1], numbers[0], numbers[3], numbers[2]]
    minx, miny, maxx, maxy = numbers
    if minx > maxx or miny > maxy:
        raise InputError("Paramètre bbox : le minimum dépasse le maximum (ordre xmin,ymin,xmax,ymax).")
    if crs.epsg != 4326:
        return BBoxQuery((minx, miny, maxx, maxy))
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError("Paramètre bbox : longitudes entre -180 et 180, latitudes entre -90 "
                         "et 90 attendues.")
    # Clip to where the store's CRS is defined, then project the outline with densified edges.
    region = _region(storage)
    minx, miny = max(minx, region[0]), max(miny, region[1])
    maxx, maxy = min(maxx, region[2]), min(maxy, region[3])
    if minx > maxx or miny > maxy:
        return BBoxQuery((0.0, 0.0, 0.0, 0.0), shapely.Point(0, 0))  # outside: nothing
    # Edges cut in 32, or in pieces of _SEGMENT_DEGREES for a small box (a town's page):
    # fewer vertices make every test against the area cheaper, on both backends.
    piece = max(maxx - minx, maxy - miny, 32 * _SEGMENT_DEGREES) / 32
    fx, fy = _outline(math.ceil((maxx - minx) / piece) or 1, math.ceil((maxy - miny) / piece) or 1)
    x, y = _transformer(4326, storage).transform(minx + fx * (maxx - minx),
                                                 miny + fy * (maxy - miny))
    # A box's projected outline: its envelope is its vertices' (no GEOS call for it).
    return BBoxQuery((float(x.min()), float(y.min()), float(x.max()), float(y.max())),
                     shapely.polygons(np.column_stack((x, y))))


@functools.cache
def _outline(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """A unit box's outline, counterclockwise from (1, 0) as :func:`shapely.box` draws it, with
    ``nx`` pieces on the horizontal edges and ``ny`` on the vertical ones: fractions of the
    width and height, ring closed."""
    up, across = np.arange(ny) / ny, np.arange(nx) / nx
    fx = np.concatenate([np.ones(ny), 1 - across, np.zeros(ny), across, [1.0]])
    fy = np.concatenate([up, np.ones(nx), 1 - up, np.zeros(nx), [0.0]])
    fx.flags.writeable = fy.flags.writeable = False  # shared by every request
    return fx, fy


def extent_crs84(bbox: Sequence[float] | None, *, storage: int = STORAGE_EPSG
                 ) -> list[float] | None:
    """An extent in the store's CRS (``storage``) as a CRS84 bbox."""
    if bbox is None:
        return None
    x0, y0, x1, y1 = bbox
    minx, miny, maxx, maxy = _transformer(storage, 4326).transform_bounds(x0, y0, x1, y1,
                                                                          densify_pts=21)
    # Rounded outwards, so the extent still contains every feature.
    return [math.floor(minx * 1e6) / 1e6, math.floor(miny * 1e6) / 1e6,
            math.ceil(maxx * 1e6) / 1e6, math.ceil(maxy * 1e6) / 1e6]


def geometries_json(geoms: gpd.GeoSeries, crs: ApiCRS) -> list[str]:
    """Each geometry as a GeoJSON text in ``crs`` (rounded to the CRS's useful precision)."""
    storage = crs.epsg if geoms.crs is None else geoms.crs.to_epsg()
    return ["null" if g is None else g
            for g in geometry_texts(np.asarray(geoms.values, dtype=object), storage, crs)]


def geometry_texts(geoms: np.ndarray, storage: int, crs: ApiCRS) -> list[str | None]:
    """Geometries in the store's CRS (``storage``) as GeoJSON texts in ``crs`` (None for a
    missing one): projected, rounded and put in the served axis order in one pass over the
    coordinates."""
    return [None if g is None else g if isinstance(g, str) else g.decode()
            for g in _geojson(geoms, storage, crs)]


def _geojson(geoms: np.ndarray, storage: int, crs: ApiCRS) -> list[str | bytes | None]:
    """:func:`geometry_texts`, as GEOS's texts or as bytes (for orjson.Fragment)."""
    scale = 10.0 ** crs.decimals
    flip = slice(None, None, -1) if crs.lat_first else slice(None)
    if crs.epsg == storage:
        def move(c: np.ndarray) -> np.ndarray:
            return np.round(c[:, flip] * scale) / scale
    else:
        to = _transformer(storage, crs.epsg)

        def move(c: np.ndarray) -> np.ndarray:
            x, y = to.transform(c[:, 0], c[:, 1])
            return np.round(np.column_stack((x, y))[:, flip] * scale) / scale
    arr = shapely.transform(geoms, move)
    # RFC 7946 §3.1.6: exterior rings counterclockwise, holes clockwise (in the axis order served).
    arr = shapely.orient_polygons(arr, exterior_cw=False)
    if len(arr) >= _BULK:
        return _texts(arr)
    return shapely.to_geojson(arr).tolist()


#: From this many geometries on, :func:`_texts` writes them (GEOS below: its fixed cost, some
#: twenty array operations, outweighs its saving per geometry for fewer). 100 buildings: GEOS
#: 226 µs, _texts 157 µs, in a page with the projection 522 -> 492 µs (same run).
_BULK = 48
#: GeoJSON name, opening brackets and separator before a new part of each shapely type id that
#: :func:`_texts` writes (not 2, LinearRing, nor 7, collections: GEOS writes those).
_TYPES = {0: ("Point", 0, b""), 1: ("LineString", 1, b""), 3: ("Polygon", 2, b""),
          4: ("MultiPoint", 1, b","), 5: ("MultiLineString", 2, b"],["),
          6: ("MultiPolygon", 3, b"]],[[")}
_HEAD = np.array([b""] * 8, dtype=object)
_CLOSE = np.array([b""] * 8, dtype=object)
_PART_SEP = np.array([b""] * 8, dtype=object)
for _id, (_name, _depth, _sep) in _TYPES.items():
    _HEAD[_id] = b'{"type":"' + _name.encode() + b'","coordinates":' + b"[" * _depth
    _CLOSE[_id] = b"]" * _depth + b"}"
    _PART_SEP[_id] = _sep
_SINGLE = np.array([0, 1, 2, 3, 0, 1, 3, 7])  # a multi-geometry's part type


def _texts(geoms: np.ndarray) -> list[str | bytes | None]:
    """GeoJSON texts of geometries as they are served (projected, rounded, oriented), written
    all at once: every coordinate formatted by one orjson call, each geometry's text cut out
    of it — the same GeoJSON as GEOS's writer once parsed (tests/web_api/test_api_geojson.py).
    GEOS still writes what this does not: collections, empty geometries or parts, 3D."""
    kind = shapely.get_type_id(geoms)
    odd = (kind == 2) | (kind == 7) | shapely.is_empty(geoms) | shapely.has_z(geoms)
    plain = (kind >= 0) & ~odd
    if plain.all():  # the usual page: no copy
        done = _write(geoms, kind)
        if isinstance(done, list):
            return done  # type: ignore[return-value]
    while True:
        done = _write(geoms[plain], kind[plain])
        if isinstance(done, list):
            break
        odd[np.flatnonzero(plain)[done]] = True  # those with an empty part
        plain[np.flatnonzero(plain)[done]] = False
    out: list[str | bytes | None] = [None] * len(geoms)
    for i, text in zip(np.flatnonzero(plain).tolist(), done, strict=True):
        out[i] = text
    if odd.any():
        where = np.flatnonzero(odd)
        for i, text in zip(where.tolist(), shapely.to_geojson(geoms[where]).tolist(),
                           strict=True):
            out[i] = text
    return out


def _write(geoms: np.ndarray, kind: np.ndarray) -> list[bytes] | np.ndarray:
    """The texts of non-empty 2D geometries of ``kind`` (0, 1, 3-6); or, when some have an
    empty part, their positions."""
    if not len(geoms):
        return []
    # Parts (a single geometry is its own part), then paths: rings of polygons, other parts.
    if (kind >= 4).any():
        parts, part_geom = shapely.get_parts(geoms, return_index=True)
    else:
        parts, part_geom = geoms, np.arange(len(geoms))
    polygon = _SINGLE[kind[part_geom]] == 3
    if polygon.any() and shapely.get_num_interior_rings(parts[polygon]).any():
        rings, ring_part = shapely.get_rings(parts[polygon], return_index=True)
        others = np.flatnonzero(~polygon)
        paths = np.concatenate([rings, parts[others]])
        path_part = np.concatenate([np.flatnonzero(polygon)[ring_part], others])
        order = np.argsort(path_part, kind="stable")
        paths, path_part = paths[order], path_part[order]
    else:
        paths, path_part = parts, np.arange(len(parts))
    xy, coord_path = shapely.get_coordinates(paths, return_index=True)
    counts = np.bincount(coord_path, minlength=len(paths))
    if not counts.all():
        return np.unique(part_geom[path_part[counts == 0]])
    end = np.cumsum(counts)
    # Coordinate k is text[opens[k + 1]:opens[k + 2] - 1]: its "[x,y]" without the comma.
    text = orjson.dumps(xy, option=orjson.OPT_SERIALIZE_NUMPY)
    opens = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 91)
    opens[0] = len(text)  # the array's own "[" stands for the end of the text
    cut_from = opens[end - counts + 1].tolist()
    cut_to = (opens.take(end + 1, mode="wrap") - 1).tolist()
    if len(paths) == len(geoms):  # one path each (buildings): no separators
        return [head + text[a:b] + close for head, a, b, close in zip(
            _HEAD[kind].tolist(), cut_from, cut_to, _CLOSE[kind].tolist(), strict=True)]
    path_geom = part_geom[path_part]
    path_kind = kind[path_geom]
    first = np.ones(len(paths), dtype=bool)
    first[1:] = path_geom[1:] != path_geom[:-1]
    new_part = np.ones(len(paths), dtype=bool)
    new_part[1:] = path_part[1:] != path_part[:-1]
    last = np.ones(len(paths), dtype=bool)
    last[:-1] = first[1:]
    before = np.where(first, _HEAD[path_kind],
                      np.where(new_part, _PART_SEP[path_kind], b"],[")).tolist()
    after = np.where(last, _CLOSE[path_kind], b"").tolist()
    pieces = [b + text[i:j] + a for b, i, j, a in zip(before, cut_from, cut_to, after,
                                                      strict=True)]
    bounds = np.flatnonzero(first).tolist() + [len(paths)]
    return [b"".join(pieces[i:j]) for i, j in zip(bounds[:-1], bounds[1:], strict=True)]


def features_json(frame: gpd.GeoDataFrame, key: str, fields: Sequence[str], crs: ApiCRS) -> list[str]:
    """Each row of a store frame as a GeoJSON Feature text with only ``fields`` as properties."""
    geoms = geometries_json(frame.geometry, crs)
    columns = {name: [_plain(v) for v in frame[name].tolist()] for name in fields}
    ids = frame[key].tolist()
    return [orjson.dumps({"type": "Feature", "id": str(fid), "geometry": orjson.Fragment(geoms[i]),
                          "properties": {name: columns[name][i] for name in fields}}).decode()
            for i, fid in enumerate(ids)]


def batch_features(batch: FeatureBatch, fields: Sequence[str], crs: ApiCRS, *,
                   storage: int) -> list[dict[str, Any]]:
    """A store batch (geometries in ``storage``) as GeoJSON Features with only ``fields`` as
    properties, for :func:`feature_collection`."""
    geoms = _geojson(batch.geometry, storage, crs)
    # Rows as dicts made by C loops (map/zip), not by a Python expression per feature.
    columns = [batch.columns[name].tolist() for name in fields]
    rows = zip(*columns, strict=True) if columns else itertools.repeat((), len(batch))
    properties = map(dict, map(zip, itertools.repeat(fields), rows))
    return [{"type": "Feature", "id": fid,
             "geometry": None if geom is None else orjson.Fragment(geom), "properties": props}
            for fid, geom, props in zip(batch.ids.tolist(), geoms, properties, strict=True)]


def features_text(batch: FeatureBatch, fields: Sequence[str], crs: ApiCRS, *,
                  storage: int) -> bytes:
    """:func:`batch_features` as the text of a GeoJSON array."""
    return orjson.dumps(batch_features(batch, fields, crs, storage=storage))


#: Served feature texts kept per server process (bytes of GeoJSON): a town's buildings, or the
#: neighbourhoods a national server's users are looking at.
TEXTS_BYTES = 64 << 20


class FeatureTexts(RevisionCache[bytes]):
    """Served GeoJSON feature texts of one store by (layer, fields, CRS) and feature id
    (:class:`ort_geo.revision_cache.RevisionCache`): a page reads only the features it has
    not served since the store last changed."""

    def __init__(self, max_bytes: int = TEXTS_BYTES) -> None:
        super().__init__(max_bytes, len)


def feature_texts(batch: FeatureBatch, fields: Sequence[str], crs: ApiCRS, *,
                  storage: int) -> list[bytes]:
    """:func:`batch_features`, each as its own GeoJSON text."""
    if not len(batch):
        return []  # a page served from kept texts: no array work for nothing
    return list(map(orjson.dumps, batch_features(batch, fields, crs, storage=storage)))


def feature_collection(features: Sequence[str | dict[str, Any]], extra: dict[str, Any]) -> bytes:
    """A FeatureCollection document from its features (GeoJSON texts, or objects from
    :func:`batch_features`) and its other members."""
    return orjson.dumps({"type": "FeatureCollection", **extra, "features": [
        orjson.Fragment(f) if isinstance(f, str) else f for f in features]})


# -- reading GeoJSON bodies ---------------------------------------------------------------------

def parse_geometry(data: Any, crs: ApiCRS, label: str = "Géométrie",
                   budget: geomcheck.VertexBudget | None = None, *,
                   storage: int = STORAGE_EPSG) -> BaseGeometry:
    """A GeoJSON geometry object in ``crs`` -> a shapely geometry in the store's CRS
    (``storage``).

    The structure is checked first (:func:`ort_geo.geomcheck.geojson_geometry`: types, finite
    positions, closed rings, no empty part, the request's vertex budget), then the coordinates
    must lie on the territory; ``label`` names the feature in errors."""
    geom = geomcheck.geojson_geometry(data, label, budget)
    if crs.lat_first:
        geom = shapely.transform(geom, lambda c: c[:, ::-1])
    if crs.epsg == storage:
        geomcheck.check_in_france([geom], [label], where="corps de la requête", epsg=storage)
        return geom
    minx, miny, maxx, maxy = geom.bounds
    region = _region(storage)
    if not _inside(region, minx, miny, maxx, maxy):
        if _inside(region, miny, minx, maxy, maxx):
            raise SwappedAxesError(
                "Coordonnées hors du territoire : latitude et longitude semblent inversées "
                "(GeoJSON attend longitude, latitude)."
            )
        raise CRSError(
            f"{label} : coordonnées hors de la zone du territoire ({crs_label(storage)}) : "
            "indiquez leur SCR dans l'en-tête Content-Crs (admis : "
            f"{', '.join(c.uri for c in supported(storage))})."
        )
    to_storage = _transformer(4326, storage)
    return shapely.transform(geom, lambda c: np.column_stack(to_storage.transform(c[:, 0], c[:, 1])))


def _inside(region: tuple[float, float, float, float], minx: float, miny: float, maxx: float,
            maxy: float) -> bool:
    return region[0] <= minx and maxx <= region[2] and region[1] <= miny and maxy <= region[3]


#: What an id given in a body must not hold: "/" (its URL /items/{id} would not reach it),
#: control characters and lone UTF-16 surrogates (JSON "\ud800", which no store can encode).
_BAD_ID = re.compile("[\x00-\x1f\x7f/\ud800-\udfff]")


def checked_id(fid: str) -> str:
    """An id given in a body, refused (InputError) when no URL could name it."""
    if not fid.strip() or _BAD_ID.search(fid):
        raise InputError("Identifiant invalide : un texte non vide, sans « / » ni caractère de "
                         "contrôle, est attendu (il doit pouvoir figurer dans l'URL de l'objet).")
    return fid


def parse_feature(data: Any, crs: ApiCRS, key: str, feature_id: str | None = None, *,
                  spatial: bool = True, storage: int = STORAGE_EPSG) -> Feature:
    """A GeoJSON Feature body -> a Feature (geometry in the store's CRS, ``storage``); the id
    may come from the URL.

    For a table without geometry (``spatial=False``) the geometry must be null or absent."""
    if not isinstance(data, dict) or data.get("type") != "Feature":
        raise InputError("Corps attendu : un objet GeoJSON de type « Feature ».")
    props = data.get("properties") or {}
    if not isinstance(props, dict):
        raise InputError("« properties » doit être un objet JSON.")
    props = dict(props)
    ids = {str(v) for v in (data.get("id"), props.pop(key, None), feature_id) if v is not None}
    if len(ids) > 1:
        raise InputError(f"Identifiants contradictoires : {', '.join(sorted(ids))}.")
    if not ids:
        raise InputError(f"Identifiant manquant : donnez « id » ou la propriété « {key} ».")
    fid = checked_id(ids.pop())
    geometry = data.get("geometry")
    if not spatial:
        if geometry is not None:
            raise GeometryError("Cette table n'a pas de géométrie : « geometry » doit être null.")
        return Feature(fid, props, None)
    if geometry is None:
        raise GeometryError(f"Objet « {fid} » : géométrie absente, chaque objet doit être "
                            "localisé.")
    return Feature(fid, props, parse_geometry(geometry, crs, f"Objet « {fid} »",
                                              storage=storage))


def parse_perimeter(data: Any, crs: ApiCRS, *, storage: int = STORAGE_EPSG) -> BaseGeometry:
    """A perimeter posted as GeoJSON (geometry, Feature or FeatureCollection) in the store's
    CRS."""
    budget = geomcheck.VertexBudget(geomcheck.MAX_REQUEST_VERTICES)
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise GeometryError("Périmètre vide : la collection ne contient aucun objet.")
        parts = []
        for i, feature in enumerate(features):
            if not isinstance(feature, dict):
                raise GeometryError(f"Objet {i + 1} de la collection : objet GeoJSON attendu.")
            label = f"Objet {i + 1}" + (f" (id={feature['id']})" if isinstance(
                feature.get("id"), str | int) else "")
            parts.append(parse_geometry(feature.get("geometry"), crs, label, budget,
                                        storage=storage))
        geom = shapely.union_all(parts)
    elif isinstance(data, dict) and data.get("type") == "Feature":
        geom = parse_geometry(data.get("geometry"), crs, "Objet du périmètre", budget,
                              storage=storage)
    else:
        geom = parse_geometry(data, crs, "Périmètre", budget, storage=storage)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise GeometryError(f"Un périmètre doit être fait de polygones (reçu {geom.geom_type}).")
    return geom
