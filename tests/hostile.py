"""A generator of hostile geometries (hypothesis strategies), for every way one gets in.

Each case is a *defect* drawn from the categories of issue 11 — non-finite coordinates, unclosed
or too-short rings, empty parts, deep or unknown GeoJSON nesting, wrong types or geometry types,
coordinates far outside any French territory, absurd sizes — planted in an otherwise plausible
feature near Sainte-Marie-aux-Mines. Every case must be refused with a French message naming
the feature; none may be accepted, crash, or change a store.

* :func:`geojson_geometries` — GeoJSON geometry objects (Python, as JSON would give them);
* :func:`geojson_bodies` — API bodies: a geometry, a Feature or a FeatureCollection with it;
* :func:`hostile_files` — a file of each import format (GeoJSON and CSV text written by hand;
  GeoPackage, FlatGeobuf, Shapefile, KML written by GDAL from hand-made WKB);
* :func:`lying_zip` — a zipped GeoJSON whose headers lie about its inflated size.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st
from pyogrio.errors import FeatureError

#: A plausible polygon in lon/lat, around Sainte-Marie-aux-Mines' town hall.
LON, LAT = 7.183, 48.246
SIZE = 0.002


def _square(lon: float = LON, lat: float = LAT, size: float = SIZE) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
            [lon, lat]]


# -- the defects -------------------------------------------------------------------------------

non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
far_lonlat = st.one_of(
    st.tuples(st.floats(-179, -70), st.floats(-80, 80)),    # the Americas, not the Antilles
    st.tuples(st.floats(60, 179), st.floats(-80, 80)),      # Asia, Oceania
    st.tuples(st.floats(-10, 40), st.floats(60, 89)),       # the Arctic
    st.tuples(st.floats(1e8, 1e300), st.floats(1e8, 1e300)),  # absurd magnitudes
)


@dataclass(frozen=True)
class Case:
    """One hostile geometry: its category and the GeoJSON object (lon/lat)."""

    category: str
    geometry: Any


@st.composite
def _nan_polygon(draw) -> Case:
    ring = _square()
    i = draw(st.integers(0, 3))
    ring[i] = [draw(non_finite), ring[i][1]] if draw(st.booleans()) else [ring[i][0],
                                                                          draw(non_finite)]
    if i == 0:
        ring[-1] = list(ring[0])
    return Case("non_finite", {"type": "Polygon", "coordinates": [ring]})


@st.composite
def _unclosed(draw) -> Case:
    ring = _square()[:-1]
    extra = draw(st.integers(0, 3))
    ring += [[LON + 0.0001 * k, LAT - 0.0001 * (k + 1)] for k in range(extra)]
    return Case("unclosed_ring", {"type": "Polygon", "coordinates": [ring]})


@st.composite
def _short(draw) -> Case:
    n = draw(st.integers(0, 3))
    kind = draw(st.sampled_from(["Polygon", "LineString"]))
    if kind == "LineString":
        return Case("short", {"type": "LineString", "coordinates": _square()[:min(n, 1)]})
    ring = _square()[:n]
    if n >= 2:
        ring[-1] = ring[0]
    return Case("short_ring", {"type": "Polygon", "coordinates": [ring]})


@st.composite
def _empty_part(draw) -> Case:
    empty = draw(st.sampled_from([[], [[]]]))
    parts = [[_square()], empty]
    if draw(st.booleans()):
        parts.reverse()
    return Case("empty_part", {"type": "MultiPolygon", "coordinates": parts})


@st.composite
def _deep(draw) -> Case:
    depth = draw(st.integers(5, 3000))
    inner: Any = [LON, LAT]
    for _ in range(depth):
        inner = [inner]
    return Case("deep_nesting", {"type": "Polygon", "coordinates": inner})


@st.composite
def _unknown(draw) -> Case:
    kind = draw(st.one_of(
        st.sampled_from(["Polygone", "polygon", "Feature", "Circle", "", "MultiSurface"]),
        st.text(max_size=12).filter(lambda t: t not in (
            "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
            "GeometryCollection")),
        st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
    nested_gc = {"type": "GeometryCollection", "geometries": [
        {"type": "GeometryCollection", "geometries": [{"type": "Polygon",
                                                       "coordinates": [_square()]}]}]}
    return draw(st.sampled_from([Case("unknown_type", {"type": kind, "coordinates": [_square()]}),
                                 Case("nested_collection", nested_gc)]))


@st.composite
def _wrong_values(draw) -> Case:
    bad = draw(st.one_of(st.text(max_size=5), st.booleans(), st.none(),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                         st.lists(st.floats(allow_nan=False), min_size=4, max_size=6),
                         st.lists(st.floats(allow_nan=False), max_size=1)))
    ring = _square()
    ring[draw(st.integers(1, 3))] = bad
    coords: Any = draw(st.sampled_from([[ring], "coordonnées", 12, None, {"x": 1}]))
    return Case("wrong_values", {"type": "Polygon", "coordinates": coords if draw(st.booleans())
                                 else [ring]})


@st.composite
def _far(draw) -> Case:
    lon, lat = draw(far_lonlat)
    size = min(SIZE, abs(lon) * 1e-3 + 1e-6)
    return Case("far_outside", {"type": "Polygon", "coordinates": [_square(lon, lat, size)]})


@st.composite
def _absurd_size(draw) -> Case:
    n = draw(st.integers(210_000, 260_000))
    # A circle of n vertices: valid, in France, but far beyond one request's vertex budget.
    ring = [[LON + SIZE * math.cos(2 * math.pi * k / n), LAT + SIZE * math.sin(2 * math.pi * k / n)]
            for k in range(n)]
    ring.append(ring[0])
    return Case("absurd_size", {"type": "Polygon", "coordinates": [ring]})


def geojson_geometries(*, sizes: bool = True) -> st.SearchStrategy[Case]:
    """Every category of hostile GeoJSON geometry (``sizes``: include the 200,000+ vertex one)."""
    kinds = [_nan_polygon(), _unclosed(), _short(), _empty_part(), _deep(), _unknown(),
             _wrong_values(), _far()]
    if sizes:
        kinds.append(_absurd_size())
    return st.one_of(kinds)


@st.composite
def geojson_bodies(draw, *, sizes: bool = False) -> tuple[str, Any]:
    """An API body carrying one hostile geometry: (category, JSON-ready object)."""
    case = draw(geojson_geometries(sizes=sizes))
    wrap = draw(st.sampled_from(["geometry", "feature", "collection"]))
    feature = {"type": "Feature", "id": "hostile-1", "properties": {"nom": "Hostile"},
               "geometry": case.geometry}
    if wrap == "geometry":
        return case.category, case.geometry
    if wrap == "feature":
        return case.category, feature
    good = {"type": "Feature", "id": "ok", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [_square()]}}
    return case.category, {"type": "FeatureCollection", "features": [good, feature]}


def dumps(body: Any) -> bytes:
    """JSON as a careless client writes it (NaN and Infinity allowed, as Python's json does)."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return json.dumps(body, allow_nan=True).encode()
    finally:
        sys.setrecursionlimit(limit)


# -- files of each import format -----------------------------------------------------------------

FORMATS = ("geojson", "csv", "gpkg", "fgb", "shp", "kml")


def _wkb_polygon(rings: list[list[tuple[float, float]]]) -> bytes:
    out = struct.pack("<BII", 1, 3, len(rings))
    for ring in rings:
        out += struct.pack("<I", len(ring)) + b"".join(struct.pack("<dd", x, y) for x, y in ring)
    return out


def _wkb_multipolygon(polys: list[list[list[tuple[float, float]]]]) -> bytes:
    return struct.pack("<BII", 1, 6, len(polys)) + b"".join(_wkb_polygon(p) for p in polys)


def _wkb_point(x: float, y: float) -> bytes:
    return struct.pack("<BIdd", 1, 1, x, y)


def _ring(lon: float = LON, lat: float = LAT, size: float = SIZE) -> list[tuple[float, float]]:
    return [tuple(p) for p in _square(lon, lat, size)]  # type: ignore[misc]


@st.composite
def _wkb_cases(draw) -> tuple[str, bytes]:
    """Hostile WKB for the binary formats: what GDAL will write for us without judging it."""
    kind = draw(st.sampled_from(["non_finite", "unclosed_ring", "short_ring", "empty_part",
                                 "far_outside", "wrong_type"]))
    if kind == "non_finite":
        ring = _ring()
        i = draw(st.integers(1, 3))
        ring[i] = (draw(non_finite), ring[i][1])
        return kind, _wkb_polygon([ring])
    if kind == "unclosed_ring":
        return kind, _wkb_polygon([_ring()[:-1]])
    if kind == "short_ring":
        n = draw(st.integers(1, 3))
        ring = _ring()[:n]
        ring[-1] = ring[0]
        return kind, _wkb_polygon([ring])
    if kind == "empty_part":
        return kind, _wkb_multipolygon([[_ring()], []])
    if kind == "far_outside":
        lon, lat = draw(far_lonlat)
        return kind, _wkb_polygon([_ring(lon, lat, min(SIZE, abs(lon) * 1e-3 + 1e-6))])
    return kind, _wkb_point(LON, LAT)  # a point where the layer wants polygons


def _geojson_text(case: Case) -> str:
    feature = {"type": "Feature", "properties": {"id": "hostile-1", "nom": "Hostile"},
               "geometry": case.geometry}
    good = {"type": "Feature", "properties": {"id": "ok", "nom": "Sain"},
            "geometry": {"type": "Polygon", "coordinates": [_square(LON + 0.01)]}}
    return dumps({"type": "FeatureCollection", "features": [good, feature]}).decode()


def _wkt(case: Case) -> str | None:
    g = case.geometry
    if not isinstance(g, dict) or g.get("type") != "Polygon" or case.category == "deep_nesting":
        return None
    try:
        rings = ["(" + ", ".join(f"{p[0]} {p[1]}" for p in ring) + ")" for ring in g["coordinates"]]
    except (TypeError, IndexError, KeyError):
        return None
    return "POLYGON (" + ", ".join(rings) + ")"


@st.composite
def hostile_files(draw, folder: Path, fmt: str) -> tuple[str, Path]:
    """A file of format ``fmt`` in ``folder`` holding one sane and one hostile feature."""
    if fmt == "geojson":
        case = draw(geojson_geometries(sizes=False))
        path = folder / "hostile.geojson"
        path.write_text(_geojson_text(case), encoding="utf-8")
        return case.category, path
    if fmt == "csv":
        case = draw(geojson_geometries(sizes=False).filter(lambda c: _wkt(c) is not None))
        path = folder / "hostile.csv"
        good = "POLYGON ((" + ", ".join(f"{x} {y}" for x, y in _square(LON + 0.01)) + "))"
        path.write_text(f'id;nom;wkt\nok;Sain;"{good}"\nhostile-1;Hostile;"{_wkt(case)}"\n',
                        encoding="utf-8")
        return case.category, path
    import numpy as np
    from pyogrio.raw import write

    category, wkb = draw(_wkb_cases())
    good = _wkb_polygon([_ring(LON + 0.01)])
    suffix = {"gpkg": ".gpkg", "fgb": ".fgb", "shp": ".shp", "kml": ".kml"}[fmt]
    driver = {"gpkg": "GPKG", "fgb": "FlatGeobuf", "shp": "ESRI Shapefile", "kml": "KML"}[fmt]
    path = folder / f"hostile{suffix}"
    try:
        write(str(path), np.array([good, wkb], dtype=object),
              [np.array(["ok", "hostile-1"], dtype=object),
               np.array(["Sain", "Hostile"], dtype=object)],
              ["id", "nom"], driver=driver, geometry_type="Unknown" if fmt != "shp" else "Polygon",
              crs="EPSG:4326", encoding="UTF-8")
    except FeatureError:  # this driver cannot even write that defect: no such file exists
        reject()
    if not _still_hostile(path):  # the driver repaired it while writing (e.g. dropped a part)
        reject()
    return category, path


def _still_hostile(path: Path) -> bool:
    """Whether the written file's second feature still carries a defect."""
    import numpy as np
    import shapely
    from pyogrio.raw import read

    wkb = read(str(path), return_fids=False)[2][1]
    if wkb is None:
        return True
    geom = shapely.from_wkb(wkb, on_invalid="ignore")
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return True
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return True
    if any(p.is_empty for p in shapely.get_parts(geom)):
        return True
    minx, miny, maxx, maxy = geom.bounds
    return not (minx >= -10.5 and maxx <= 11 and miny >= 40.5 and maxy <= 52)


def lying_zip(padding: int, declared: int = 1000) -> bytes:
    """A ``.zip`` of one GeoJSON FeatureCollection (a square) padded with ``padding`` spaces —
    a few kilobytes zipped — whose local and central headers both declare ``declared`` bytes
    once inflated (Python's zipfile reads the lie; GDAL inflates the member to its end)."""
    text = json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [_square()]}}]}).encode()
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("perimetre.geojson", text[:-2] + b" " * padding + text[-2:])
    data = bytearray(packed.getvalue())
    central = data.rfind(b"PK\x01\x02")
    for offset in (22, central + 24):  # the inflated size, in each header
        data[offset:offset + 4] = declared.to_bytes(4, "little")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert [info.file_size for info in archive.infolist()] == [declared]
    return bytes(data)
