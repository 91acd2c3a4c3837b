"""Vector tiles of a store's layers: Mapbox Vector Tiles on the WebMercatorQuad grid (OGC API –
Tiles), so that maps, the editor and desktop GIS draw a whole département of buildings tile by tile.

Two builders, one result:

* PostGIS builds a tile in one SQL statement (``ST_AsMVTGeom`` / ``ST_AsMVT``), the GiST index
  picking the candidates (:meth:`ort_geo.store.postgis.PostGISStore.mvt`);
* any other store (GeoPackage) reads the R-tree's candidates and this module projects, clips,
  simplifies and quantises them with shapely's vectorised operations, then encodes them with
  numpy (:mod:`ort_geo.mvt`, :func:`encode_tile`).

What a tile carries depends on the caller exactly as the items routes do (:mod:`ort_geo.auth`,
:mod:`ort_geo.privacy`): the public gets public fields of public records only; staff get every
field. Tiles are cached per store revision (:meth:`Store.revision`, the journal's last entry —
every write of the tool and of other clients lands there): any write empties the cache.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from . import auth, mvt
from .catalogue import CATALOGUE, LayerSpec
from .errors import InputError, TileNotFoundError
from .privacy import public_where
from .revision_cache import RevisionCache

#: Half the side of the WebMercatorQuad square (EPSG:3857 metres).
ORIGIN = 20037508.342789244
#: Tile coordinate space (MVT ``extent``) and the margin kept around it, in tile units: clipping
#: exactly at the edge would draw polygon outlines along tile borders.
EXTENT = 4096
BUFFER = 64
#: Deepest tile matrix of the grid (WebMercatorQuad goes to 24; nothing here needs more).
MAX_MATRIX = 24
#: Zooms a layer is tiled at: below ``min`` a tile would hold too much (a national building layer
#: at zoom 5), beyond ``max`` clients over-zoom the last level (4096 units at zoom 16 is 1 cm).
DEFAULT_ZOOMS = (6, 16)
LAYER_ZOOMS: dict[str, tuple[int, int]] = {"batiments": (13, 16), "commerces": (12, 16),
                                           "actions": (10, 16)}
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
#: Tiles kept in memory per cache (bytes of MVT, both encodings counted).
CACHE_BYTES = 128 << 20


def zooms(layer: str) -> tuple[int, int]:
    """The zoom levels (tile matrices) ``layer`` is served at: (minimum, maximum)."""
    return LAYER_ZOOMS.get(layer, DEFAULT_ZOOMS)


def tiled_layers() -> list[LayerSpec]:
    """Layers served as tiles: every layer with geometries."""
    return [spec for spec in CATALOGUE if spec.spatial]


@dataclass(frozen=True)
class Tile:
    """One tile of the WebMercatorQuad grid: matrix (zoom) ``z``, column ``x``, row ``y``."""

    z: int
    x: int
    y: int

    @property
    def size(self) -> float:
        """Side of the tile in EPSG:3857 metres."""
        return 2 * ORIGIN / (1 << self.z)

    def bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """Bounds in EPSG:3857, widened by ``margin`` (a share of the tile's side)."""
        size = self.size
        minx, maxy = -ORIGIN + self.x * size, ORIGIN - self.y * size
        pad = margin * size
        return minx - pad, maxy - size - pad, minx + size + pad, maxy + pad


def parse_tile(layer: str, z: Any, y: Any, x: Any) -> Tile:
    """A tile of ``layer`` from the request's tile matrix, row and column.

    Not whole numbers: :class:`InputError` (400); a matrix outside the layer's zooms or a row or
    column outside the matrix: :class:`TileNotFoundError` (404), as OGC API – Tiles asks.
    """
    values = []
    for name, raw in (("tileMatrix", z), ("tileRow", y), ("tileCol", x)):
        text = str(raw).strip()
        if not text.isdigit() or len(text) > 9:
            raise InputError(f"Tuile : {name} = « {raw} » n'est pas un entier positif ou nul.")
        values.append(int(text))
    tz, ty, tx = values
    low, high = zooms(layer)
    if not low <= tz <= high:
        raise TileNotFoundError(
            f"Tuile {tz}/{ty}/{tx} : la couche {layer} est servie en tuiles des niveaux {low} à "
            f"{high} seulement.")
    n = 1 << tz
    if tx >= n or ty >= n:
        raise TileNotFoundError(f"Tuile {tz}/{ty}/{tx} : hors de la grille (ligne et colonne de "
                                f"0 à {n - 1} au niveau {tz}).")
    return Tile(tz, tx, ty)


def tile_range(z: int, bbox_crs84: Sequence[float]) -> tuple[int, int, int, int]:
    """(min column, min row, max column, max row) of the tiles of matrix ``z`` covering a box in
    longitude/latitude (``tileMatrixSetLimits``)."""
    west, south, east, north = bbox_crs84
    n = 1 << z

    def col(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        lat = max(-85.0511287798, min(85.0511287798, lat))
        merc = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
        return min(n - 1, max(0, int((1 - merc / np.pi) / 2 * n)))

    return col(west), row(north), col(east), row(south)


TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MERCATOR_URI = "http://www.opengis.net/def/crs/EPSG/0/3857"


def tile_matrix_set() -> dict[str, Any]:
    """The WebMercatorQuad tile matrix set (OGC Two Dimensional Tile Matrix Set 2.0, JSON)."""
    # Scale denominators use the standardised 0.28 mm pixel: cell size / 0.00028.
    return {
        "id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
        "crs": MERCATOR_URI, "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [{
            "id": str(z), "scaleDenominator": 2 * ORIGIN / 256 / (1 << z) / 0.00028,
            "cellSize": 2 * ORIGIN / 256 / (1 << z), "cornerOfOrigin": "topLeft",
            "pointOfOrigin": [-ORIGIN, ORIGIN], "tileWidth": 256, "tileHeight": 256,
            "matrixWidth": 1 << z, "matrixHeight": 1 << z,
        } for z in range(MAX_MATRIX + 1)],
    }


def matrix_limits(layer: str, bbox_crs84: Sequence[float] | None) -> list[dict[str, Any]]:
    """``tileMatrixSetLimits`` of a layer: its zooms, each limited to the tiles covering its
    extent (none when the layer is empty)."""
    if bbox_crs84 is None:
        return []
    low, high = zooms(layer)
    out = []
    for z in range(low, high + 1):
        col0, row0, col1, row1 = tile_range(z, bbox_crs84)
        out.append({"tileMatrix": str(z), "minTileRow": row0, "maxTileRow": row1,
                    "minTileCol": col0, "maxTileCol": col1})
    return out


# -- building a tile in Python (stores without a native builder) -------------------------------

_TRANSFORMERS: dict[tuple[int, int], Transformer] = {}


def _transformer(src: int, dst: int) -> Transformer:
    key = (src, dst)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(src, dst, always_xy=True)
    return _TRANSFORMERS[key]


def storage_bbox(tile: Tile, epsg: int) -> tuple[float, float, float, float]:
    """The tile with its buffer as a box in the store's CRS (edges densified: a Mercator square
    is a curved quadrilateral in Lambert-93), for the spatial index."""
    return _transformer(3857, epsg).transform_bounds(*tile.bounds(BUFFER / EXTENT),
                                                     densify_pts=21)


def _cubic_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones_like(u), u, v, u * u, u * v, v * v, u ** 3, u * u * v,
                            u * v * v, v ** 3])


#: Largest error (tile units) accepted from the polynomial stand-in for the projection.
POLYNOMIAL_TOLERANCE = 1e-3


def tile_projector(tile: Tile, epsg: int):
    """A function: coordinates in the store's CRS (n x 2) -> MVT tile coordinates (y down).

    Over one tile both projections are smooth (two conformal maps): a cubic polynomial fitted on
    a 7 x 7 grid of exact points reproduces the projection to ~1e-8 tile units from zoom 10 on,
    for a fraction of the cost of projecting every vertex (and is checked on another grid: where
    it would not be exact to :data:`POLYNOMIAL_TOLERANCE`, every vertex is projected)."""
    to_mercator = _transformer(epsg, 3857)
    minx, _miny, _maxx, maxy = tile.bounds()
    scale = EXTENT / tile.size

    def exact(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mx, my = to_mercator.transform(x, y)
        return (np.asarray(mx) - minx) * scale, (maxy - np.asarray(my)) * scale

    x0, y0, x1, y1 = storage_bbox(tile, epsg)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
    if not all(np.isfinite([cx, cy, half])) or half <= 0:
        return lambda c: np.column_stack(exact(c[:, 0], c[:, 1]))
    fit = np.linspace(-1, 1, 7)
    check = (fit[:-1] + fit[1:]) / 2
    u, v = (a.ravel() for a in np.meshgrid(fit, fit))
    cu, cv = (a.ravel() for a in np.meshgrid(check, check))
    terms = _cubic_terms(u, v)
    coef = np.linalg.lstsq(terms, np.column_stack(exact(cx + u * half, cy + v * half)),
                           rcond=None)[0]
    error = _cubic_terms(cu, cv) @ coef - np.column_stack(exact(cx + cu * half, cy + cv * half))
    if not np.all(np.abs(error) < POLYNOMIAL_TOLERANCE):
        return lambda c: np.column_stack(exact(c[:, 0], c[:, 1]))
    return lambda c: _cubic_terms((c[:, 0] - cx) / half, (c[:, 1] - cy) / half) @ coef


def tile_geometries(geoms: np.ndarray, tile: Tile, epsg: int) -> np.ndarray:
    """Geometries in the store's CRS -> MVT tile coordinates (y down, 0..EXTENT), clipped to the
    buffered tile, simplified and snapped to the integer grid, rings oriented as MVT wants
    (exterior positive by the surveyor's formula). Empty results are ``None``."""
    out = shapely.transform(geoms, tile_projector(tile, epsg))
    out = shapely.clip_by_rect(out, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    # Snap to the integer grid, drop vertices that no longer turn (below a tile unit nothing
    # shows), and let GEOS repair only what snapping broke (a sliver collapses to empty):
    # set_precision on every geometry costs more than the rest together.
    out = shapely.transform(out, np.rint)
    out = shapely.simplify(out, 0.5, preserve_topology=True)
    broken = ~(shapely.is_valid(out) | shapely.is_missing(out))
    if broken.any():
        out[broken] = shapely.set_precision(out[broken], 1.0)
    out = shapely.orient_polygons(out, exterior_cw=False)
    out[shapely.is_missing(out) | shapely.is_empty(out)] = None
    return out


def encode_tile(layer: str, geoms: np.ndarray,
                properties: Mapping[str, Sequence[Any] | np.ndarray], tile: Tile,
                epsg: int) -> bytes:
    """One MVT layer named ``layer`` from geometries in the store's CRS and their properties
    (one sequence per attribute — a pandas Series keeps its missing values missing); ``b""``
    when nothing falls in the tile."""
    shapes = tile_geometries(np.asarray(geoms, dtype=object), tile, epsg)
    keep = np.flatnonzero(shapes != None)  # noqa: E711 - elementwise on an object array
    if not len(keep):
        return b""
    columns = {name: column.iloc[keep] if hasattr(column, "iloc")
               else np.asarray(column, dtype=object)[keep]
               for name, column in properties.items()}
    return mvt.encode_layer(layer, shapes[keep], columns, EXTENT)


# -- what a caller sees, and the cache --------------------------------------------------------

@dataclass(frozen=True)
class TileRequest:
    """What one caller may get in a layer's tiles: the fields and the record filter."""

    layer: str
    columns: tuple[str, ...]
    where: tuple[tuple[str, Any], ...]
    staff: bool

    @classmethod
    def for_caller(cls, layer: str, who: auth.Principal) -> TileRequest:
        """The fields and records ``who`` sees in the items of ``layer`` (AccessDeniedError for a
        layer it may not read)."""
        spec = CATALOGUE[layer]
        auth.check_readable(spec, who)
        staff = who.has("staff")
        where = {} if staff else public_where(layer)
        return cls(layer, tuple(auth.visible_fields(spec, who)), tuple(sorted(where.items())),
                   staff)


@dataclass
class TileBody:
    """A built tile: its MVT bytes (empty for a tile without features), its ETag and, built
    once when first asked for, its gzip encoding."""

    data: bytes
    etag: str
    _gzip: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, data: bytes) -> TileBody:
        # A hash of the content: the same tile of a public view keeps its tag when only hidden
        # fields changed, so the tag reveals nothing about them. Weak: the plain and the gzip
        # answers carry the same tag, which a strong tag may not (RFC 9110, 8.8.1).
        return cls(data, 'W/"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')

    @property
    def gzip(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.data, compresslevel=6, mtime=0)
        return self._gzip


class TileCache(RevisionCache[TileBody]):
    """Built tiles of one store (:class:`ort_geo.revision_cache.RevisionCache`)."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        super().__init__(max_bytes, lambda body: len(body.data))


def vector_tile(store, request: TileRequest, tile: Tile,
                cache: TileCache | None = None) -> TileBody:
    """The tile of ``request.layer`` at ``tile`` as the caller of ``request`` may see it."""
    # The whole store's revision (one indexed read), not the layer's: that one counts the
    # layer's journal entries, which costs more than many tiles at national scale.
    revision = store.revision() if cache is not None else None
    if revision is None:
        cache = None  # a store that cannot tell when it changes: build every time
    key = (request, tile)
    if cache is not None:
        hit = cache.get(revision, key)
        if hit is not None:
            return hit
    body = TileBody.of(store.mvt(request.layer, tile, columns=list(request.columns),
                                 where=dict(request.where) or None))
    if cache is not None:
        cache.put(revision, key, body)
    return body
