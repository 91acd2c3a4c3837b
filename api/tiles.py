"""OGC API – Tiles Part 1 over the store's layers: vector tiles (Mapbox Vector Tiles) on the
WebMercatorQuad grid, built by :mod:`ort_geo.vector_tiles`.

Thin like every router: it parses the tile's path, asks the library for the tile the caller may
see (public fields of public records for the public, everything for staff, as on the items
routes) and answers with HTTP caching (ETag, Cache-Control) and gzip when the client accepts it.

A tile without features is answered ``204 No Content``: OGC API – Tiles allows either 204 or an
empty tile of the format for a tile inside the tile matrix set limits that holds no data, and 204
tells a client there is nothing to decode without sending a body (an empty MVT is zero bytes
anyway). Tile matrices outside a layer's zooms and rows or columns outside the grid are 404,
coordinates that are not whole numbers 400 (French messages, as every error).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ort_geo import auth
from ort_geo import vector_tiles as vt
from ort_geo.catalogue import CATALOGUE
from ort_geo.errors import LayerNotFoundError

from . import caching
from .deps import JSON, Caller, base_url
from .ogc import COLLECTIONS, field_schema

TILED = {spec.name for spec in vt.tiled_layers()}
_COLLECTION = {c.id: c for c in COLLECTIONS if c.view is None}
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
TEMPLATE = "{tileMatrix}/{tileRow}/{tileCol}"
_JSON_TYPES = {"str": "String", "enum": "String", "date": "String", "int": "Number",
               "float": "Number", "bool": "Boolean"}
_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "La tuile (Mapbox Vector Tile)",
          "content": {vt.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    204: {"description": "Tuile sans objet"},
    304: {"description": "Tuile inchangée (If-None-Match)"},
    404: {"description": "Niveau, ligne ou colonne hors de la grille ou des niveaux de la couche",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Exception"}}}},
}


def _layer(collection_id: str, who: auth.Principal) -> str:
    if collection_id not in TILED:
        raise LayerNotFoundError(f"Pas de tuiles pour « {collection_id} » : collections tuilées : "
                                 f"{', '.join(sorted(TILED))}.")
    auth.check_readable(CATALOGUE[collection_id], who)
    return collection_id


def router() -> APIRouter:
    r = APIRouter()
    tag = "Tuiles vectorielles"

    def tms_link(request: Request) -> dict[str, Any]:
        return {"rel": f"{REL}tiling-scheme", "type": JSON, "title": "WebMercatorQuad",
                "href": f"{base_url(request)}/tileMatrixSets/{vt.TMS_ID}"}

    @r.get("/tileMatrixSets", tags=[tag], summary="Grilles de tuiles")
    def tile_matrix_sets(request: Request) -> dict[str, Any]:
        base = base_url(request)
        return {"links": [{"rel": "self", "type": JSON, "href": f"{base}/tileMatrixSets"}],
                "tileMatrixSets": [{"id": vt.TMS_ID, "title": "WebMercatorQuad (EPSG:3857)",
                                    "uri": vt.TMS_URI, "links": [
                                        {**tms_link(request), "rel": "self"}]}]}

    @r.get(f"/tileMatrixSets/{vt.TMS_ID}", tags=[tag], summary="La grille WebMercatorQuad")
    def web_mercator_quad(request: Request) -> dict[str, Any]:
        return {**vt.tile_matrix_set(), "links": [{**tms_link(request), "rel": "self"}]}

    @r.get("/collections/{collectionId}/tiles", tags=[tag],
           summary="Jeux de tuiles vectorielles d'une collection")
    def tilesets(request: Request, collectionId: str, who: Caller) -> dict[str, Any]:  # noqa: N803
        layer = _layer(collectionId, who)
        base = f"{base_url(request)}/collections/{layer}/tiles"
        return {"links": [{"rel": "self", "type": JSON, "href": base}],
                "tilesets": [{"title": f"{CATALOGUE[layer].title} ({vt.TMS_ID})",
                              "dataType": "vector", "crs": vt.MERCATOR_URI,
                              "tileMatrixSetURI": vt.TMS_URI,
                              "links": [{"rel": "self", "type": JSON,
                                         "href": f"{base}/{vt.TMS_ID}"},
                                        tms_link(request)]}]}

    @r.get(f"/collections/{{collectionId}}/tiles/{vt.TMS_ID}", tags=[tag],
           summary="Description d'un jeu de tuiles (niveaux, emprise, gabarit d'URL, TileJSON)")
    def tileset(request: Request, collectionId: str, who: Caller) -> dict[str, Any]:  # noqa: N803
        layer = _layer(collectionId, who)
        spec = CATALOGUE[layer]
        base = f"{base_url(request)}/collections/{layer}"
        extent = request.app.state.extents(_COLLECTION[layer])
        bbox = extent["spatial"]["bbox"][0] if extent else None
        low, high = vt.zooms(layer)
        visible = auth.visible_fields(spec, who)
        template = f"{base}/tiles/{vt.TMS_ID}/{TEMPLATE}"
        doc: dict[str, Any] = {
            "title": spec.title, "dataType": "vector", "crs": vt.MERCATOR_URI,
            "tileMatrixSetURI": vt.TMS_URI,
            "tileMatrixSetLimits": vt.matrix_limits(layer, bbox),
            "layers": [{"id": layer, "title": spec.title, "dataType": "vector",
                        "geometryDimension": {"Point": 0, "LineString": 1}.get(spec.geometry, 2)
                        if spec.geometry != "Any" else None,
                        "minTileMatrix": str(low), "maxTileMatrix": str(high),
                        "propertiesSchema": {"type": "object", "properties": {
                            n: field_schema(spec.by_name[n]) for n in visible}}}],
            "links": [
                {"rel": "self", "type": JSON, "href": f"{base}/tiles/{vt.TMS_ID}"},
                tms_link(request),
                {"rel": f"{REL}geodata", "type": JSON, "href": base, "title": spec.title},
                {"rel": "item", "type": vt.MEDIA_TYPE, "href": template, "templated": True,
                 "title": "Tuile (Mapbox Vector Tile)"},
            ],
            # The same description as TileJSON 3.0 (MapLibre, OpenLayers): {z}/{x}/{y} by name.
            "tilejson": "3.0.0", "scheme": "xyz", "minzoom": low, "maxzoom": high,
            "tiles": [f"{base}/tiles/{vt.TMS_ID}/{{z}}/{{y}}/{{x}}"],
            "vector_layers": [{"id": layer, "minzoom": low, "maxzoom": high, "fields": {
                n: _JSON_TYPES[spec.by_name[n].type] for n in visible}}],
        }
        if doc["layers"][0]["geometryDimension"] is None:
            del doc["layers"][0]["geometryDimension"]  # mixed geometries (actions)
        if bbox is not None:
            doc["boundingBox"] = {"lowerLeft": bbox[:2], "upperRight": bbox[2:],
                                  "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
            doc["bounds"] = bbox
        return doc

    @r.get(f"/collections/{{collectionId}}/tiles/{vt.TMS_ID}/{{tileMatrix}}/{{tileRow}}/"
           "{tileCol}", tags=[tag], response_class=Response, responses=_TILE_RESPONSES,
           summary="Une tuile vectorielle (niveau, ligne, colonne : y avant x)")
    def tile(request: Request, collectionId: str, tileMatrix: str,  # noqa: N803
             tileRow: str, tileCol: str, who: Caller) -> Response:  # noqa: N803
        layer = _layer(collectionId, who)
        wanted = vt.parse_tile(layer, tileMatrix, tileRow, tileCol)
        body = vt.vector_tile(request.app.state.store, vt.TileRequest.for_caller(layer, who),
                              wanted, request.app.state.tiles)
        # Revalidated on every use (no-cache: public for the anonymous, private for a key), never
        # a max-age: QGIS' network cache (Qt's) ignores Vary, so a fresh cached public tile
        # would answer a user who has just added a key, and a staff tile a later anonymous view
        # on the same machine. The ETag is the tile's content as this role sees it (cached per
        # store revision), so the revalidation is a 304 without body while nothing changed, and
        # a 200 as soon as the role (hence the tile) or the store's content does.
        headers = caching.cache_headers(who, body.etag, vary=f"Accept-Encoding, {caching.VARY}")
        if caching.not_modified(request, body.etag):
            return Response(status_code=304, headers=headers)
        if not body.data:
            return Response(status_code=204, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(body.gzip, media_type=vt.MEDIA_TYPE,
                            headers={**headers, "Content-Encoding": "gzip"})
        return Response(body.data, media_type=vt.MEDIA_TYPE, headers=headers)

    return r
