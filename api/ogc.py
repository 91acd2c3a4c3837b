"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0), Part 2 (CRS by reference), Part 3
queryables with property filters and Part 5 schemas, over the store's layers.

A mixed-geometry layer (``actions``) is also served as typed read-only collections
(``actions_points``, ``actions_lignes``, ``actions_surfaces``: :mod:`ort_geo.geometry_views`), so
that clients that give a layer one geometry type (QGIS) draw every feature. ``datetime`` selects
the features in force during a period on layers with validity dates (:mod:`ort_geo.validity`).

Each layer gets its own paths (as pygeoapi does), so the OpenAPI document at ``/api`` lists every
collection with its own filter parameters. What a caller sees is decided by :mod:`ort_geo.auth`:
the public gets public layers and public fields only, and may not filter on hidden fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import geopandas as gpd
import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from ort_geo import auth, validity
from ort_geo.catalogue import CATALOGUE, FieldSpec, LayerSpec
from ort_geo.crs import crs_label
from ort_geo.errors import FeatureNotFoundError, InputError
from ort_geo.geometry_views import GeometryView, geometry_views, view_batch, view_frame
from ort_geo.privacy import RESTRICTED_SOURCES, public_records, public_where
from ort_geo.store.base import batch_feature
from ort_geo.validation import coerce_value

from . import caching, geojson
from .deps import (
    GEOJSON,
    JSON,
    Caller,
    Token,
    base_url,
    check_format,
    check_known,
    identify,
    store_revision,
    url_with,
)

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    # OGC API – Tiles Part 1: vector tiles of each collection (api/tiles.py)
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
DEFAULT_LIMIT, MAX_LIMIT = 10, 10000
ITEMS_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "f"}
SCHEMA_JSON = "application/schema+json"
_JSON_TYPES = {"str": "string", "enum": "string", "date": "string", "int": "integer",
               "float": "number", "bool": "boolean"}
_EXTENT_TTL = 30.0
#: OGC API – Features Part 5 geometry formats.
_GEOMETRY_FORMATS = {"Point": "geometry-point", "MultiPoint": "geometry-multipoint",
                     "LineString": "geometry-linestring",
                     "MultiLineString": "geometry-multilinestring",
                     "Polygon": "geometry-polygon", "MultiPolygon": "geometry-multipolygon",
                     "Any": "geometry-any"}

#: The plain text parameters of the items route, declared as FastAPI declared them when it parsed
#: them (JSON Schema 2020-12, rewritten to OpenAPI 3.0 with the rest by api/openapi.py).
_ITEMS_TEXT_PARAMETERS: list[dict[str, Any]] = [
    {"name": name, "in": "query", "required": False, "description": text,
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": text,
                "title": name.title()}}
    for name, text in (("bbox-crs", "SCR de bbox"), ("crs", "SCR de la réponse"),
                       ("f", "Format : json"))]

#: Part 1 parameters, declared with the OpenAPI 3.0 fragments of the standard's abstract tests
#: (read from the query string by the route, which caps ``limit`` instead of refusing it).
PART1_PARAMETERS: list[dict[str, Any]] = [
    {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
     "description": f"Nombre d'objets par page (au plus {MAX_LIMIT} : une valeur plus grande "
                    "est ramenée à ce maximum)",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT}},
    {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
     "description": "Emprise xmin,ymin,xmax,ymax (CRS84 sauf bbox-crs)",
     "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
    {"name": "datetime", "in": "query", "required": False, "style": "form", "explode": False,
     "description": "Date ou intervalle RFC 3339 (début/fin, « .. » pour une borne ouverte) : "
                    "objets en vigueur pendant la période (couches datées)",
     "schema": {"type": "string"}},
]


@dataclass(frozen=True)
class Collection:
    """A collection of the API: a catalogue layer, or a typed view of a mixed-geometry one."""

    id: str
    title: str
    spec: LayerSpec
    view: GeometryView | None = None

    @property
    def geometry(self) -> str:
        return self.view.geometry if self.view else self.spec.geometry


COLLECTIONS: list[Collection] = [
    c for spec in CATALOGUE for c in (
        Collection(spec.name, spec.title, spec),
        *(Collection(v.name, v.title, spec, v) for v in geometry_views(spec)))
]


def field_schema(field: FieldSpec) -> dict[str, Any]:
    """A field as a JSON Schema property (queryables, OpenAPI parameters)."""
    schema: dict[str, Any] = {"title": field.label, "type": _JSON_TYPES[field.type]}
    if field.type == "date":
        schema["format"] = "date"
    if field.choices:
        schema["enum"] = list(field.choices)
    if field.minimum is not None:
        schema["minimum"] = field.minimum
    if field.maximum is not None:
        schema["maximum"] = field.maximum
    return schema


def collection_schema(collection: Collection, visible: list[str], schema_id: str) -> dict[str, Any]:
    """The schema of a collection's features (OGC API – Features Part 5, JSON Schema 2020-12):
    field types, the identifier, the validity dates and the geometry type."""
    spec = collection.spec
    start, end = validity.bounds(spec)
    roles = {spec.key: "id"}
    if start is not None:
        roles[start] = "primary-interval-start" if end else "primary-instant"
    if end is not None:
        roles[end] = "primary-interval-end"
    properties: dict[str, Any] = {}
    for name in visible:
        prop = field_schema(spec.by_name[name])
        if name in roles:
            prop["x-ogc-role"] = roles[name]
        properties[name] = prop
    if collection.geometry in _GEOMETRY_FORMATS:  # tables without geometry have none
        properties["geometry"] = {"x-ogc-role": "primary-geometry",
                                  "format": _GEOMETRY_FORMATS[collection.geometry]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id,
            "type": "object", "title": collection.title, "properties": properties}


def feature_schema(collection: Collection, visible: list[str], schema_id: str) -> dict[str, Any]:
    """The same fields as the JSON Schema of one GeoJSON Feature of the collection: the
    ``describedby`` document that GDAL's OGC API driver (and so QGIS) reads field types from
    (it looks for the fields under ``properties.properties``)."""
    flat = collection_schema(collection, visible, schema_id)["properties"]
    geometry = flat.pop("geometry", None)
    # GDAL reads the GeoJSON ``id`` member as an "id" field already: declaring the property
    # too would give it two fields of that name.
    flat.pop("id", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id,
        "title": collection.title, "type": "object", "required": ["type", "geometry",
                                                                  "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": ({"type": "object", "title": "Géométrie GeoJSON",
                          "format": geometry["format"]} if geometry else
                         {"type": "null", "title": "Sans géométrie (table)"}),
            "properties": {"type": "object", "properties": flat},
        },
    }


def filters(request: Request, spec: LayerSpec, who: auth.Principal) -> dict[str, Any]:
    """Property filters from the query string (a repeated parameter means "any of")."""
    names = [n for n in request.query_params if n in spec.by_name]
    auth.check_fields(spec, who, names)
    where: dict[str, Any] = {}
    for name in names:
        values = []
        for raw in request.query_params.getlist(name):
            try:
                value = coerce_value(spec.by_name[name], raw)
            except (ValueError, TypeError, OverflowError) as exc:
                raise InputError(f"Filtre {name} = « {raw} » : {exc}.") from None
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise InputError(f"Filtre {name} = « {raw} » : nombre hors limites.")
            values.append(value)
        where[name] = values if len(values) > 1 else values[0]
    return where


def feature_json(store, spec: LayerSpec, feature_id: str, visible: list[str],
                 crs: geojson.ApiCRS, view: GeometryView | None = None,
                 where: dict[str, Any] | None = None) -> tuple[str, str]:
    """One feature's quoted ETag and GeoJSON text, showing only ``visible`` fields.

    The ETag of a partial view is computed on that view alone, so that it reveals nothing about
    hidden fields (it would change when they do); the full view's is the store's version tag.
    """
    # Plain values, no frame (a PATCH answers with the feature it wrote: this is on its path).
    batch, _ = store.read_batch(spec.name, columns=visible,
                                where={**(where or {}), spec.key: str(feature_id)}, limit=1)
    if view is not None:
        batch = view_batch(batch, view)
    if not len(batch):
        raise FeatureNotFoundError(f"Objet « {feature_id} » introuvable dans la couche {spec.name}.")
    etag = batch_feature(spec, batch).etag
    feature = geojson.batch_features(batch, visible, crs, storage=store.epsg)[0]
    return f'"{etag}"', orjson.dumps(feature).decode()


def read_collection(store, collection: Collection, columns: list[str]) -> gpd.GeoDataFrame:
    """Every feature of a collection (a typed view filters its layer)."""
    frame = store.read(collection.spec.name, columns=columns)
    return view_frame(frame, collection.view) if collection.view else frame


class Extents:
    """Collection extents (CRS84 bbox, validity interval), computed once per store revision
    (:meth:`Store.cached <ort_geo.store.base.Store.cached>`: computing one may read every
    geometry), so that anyone's edit shows at once; kept a few seconds on a store without a
    revision (GeoPackage in WAL mode)."""

    def __init__(self, store) -> None:
        self.store = store

    def __call__(self, collection: Collection) -> dict[str, Any] | None:
        return self.store.cached(("extent", collection.id), lambda: self._compute(collection),
                                 stale=_EXTENT_TTL)

    def _compute(self, collection: Collection) -> dict[str, Any] | None:
        spec = collection.spec
        frame = None
        # Shared by every caller: records of restricted sources must not widen it.
        restricted = "source" in spec.by_name and self.store.count(
            spec.name, where={"source": list(RESTRICTED_SOURCES)}) > 0
        if collection.view or spec.validity or restricted:
            frame = read_collection(self.store, collection, [
                *spec.validity, *(["source"] if restricted else [])])
            if restricted:
                frame = public_records(frame)
        if collection.view or restricted:
            bounds = None if frame is None or frame.empty else tuple(frame.total_bounds)
        else:
            bounds = self.store.extent(spec.name)
        bbox = geojson.extent_crs84(bounds, storage=self.store.epsg)
        if bbox is None:
            return None
        extent: dict[str, Any] = {"spatial": {"bbox": [bbox], "crs": geojson.CRS84.uri}}
        interval = None if frame is None else validity.extent(spec, frame)
        if interval is not None:
            extent["temporal"] = {"interval": [interval], "trs": validity.TRS}
        return extent

    def clear(self) -> None:
        """Forget every extent: the server's own edit, seen at once even without a revision."""
        for collection in COLLECTIONS:
            self.store.forget(("extent", collection.id))


def page_limit(request: Request) -> tuple[int, int]:
    """``limit`` (capped at :data:`MAX_LIMIT`, as Part 1 asks) and ``offset`` from the query."""
    out = []
    for name, default, least in (("limit", DEFAULT_LIMIT, 1), ("offset", 0, 0)):
        raw = request.query_params.get(name)
        if raw is None:
            out.append(default)
            continue
        try:
            value = int(raw.strip())
        except ValueError:
            raise InputError(f"Paramètre {name} : « {raw} » n'est pas un nombre entier.") from None
        if value < least:
            raise InputError(f"Paramètre {name} : doit être supérieur ou égal à {least}.")
        out.append(value)
    return min(out[0], MAX_LIMIT), min(out[1], 10**12)


def router() -> APIRouter:
    r = APIRouter()

    def collection_doc(request: Request, collection: Collection) -> dict[str, Any]:
        base = f"{base_url(request)}/collections/{collection.id}"
        spec, title = collection.spec, collection.title
        kind = collection.geometry
        epsg = request.app.state.store.epsg
        doc: dict[str, Any] = {
            "id": collection.id, "title": title, "itemType": "feature",
            "description": f"{title} ({kind}, {crs_label(epsg)})" + (
                f" — vue en lecture seule de la couche {spec.name}, pour les logiciels qui "
                "attendent un seul type de géométrie" if collection.view else ""),
            "crs": [c.uri for c in geojson.supported(epsg)],
            "storageCrs": geojson.projected(epsg).uri,
            "links": [
                {"rel": "self", "type": JSON, "href": base, "title": title},
                {"rel": "items", "type": GEOJSON, "href": f"{base}/items",
                 "title": f"{title} (GeoJSON)"},
                {"rel": "describedby", "type": SCHEMA_JSON, "href": f"{base}/feature-schema",
                 "title": "Schéma JSON d'un objet GeoJSON (types des champs)"},
                # The same link in the spelling GDAL < 3.7 (QGIS 3.22) looks for; relation types
                # compare case-insensitively (RFC 8288), so clients see one relation.
                {"rel": "describedBy", "type": SCHEMA_JSON, "href": f"{base}/feature-schema",
                 "title": "Schéma JSON d'un objet GeoJSON (types des champs)"},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/schema", "type": SCHEMA_JSON,
                 "href": f"{base}/schema", "title": "Schéma des objets (types des champs)"},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                 "type": SCHEMA_JSON, "href": f"{base}/queryables",
                 "title": "Champs filtrables"},
            ],
        }
        if collection.view is None and spec.spatial:  # vector tiles (api/tiles.py)
            doc["links"].append({"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                                 "type": JSON, "href": f"{base}/tiles",
                                 "title": f"{title} en tuiles vectorielles"})
        extent = request.app.state.extents(collection)
        if extent is not None:
            doc["extent"] = extent
        return doc

    @r.get("/", tags=["Capacités"], summary="Page d'accueil")
    def landing(request: Request) -> dict[str, Any]:
        base = base_url(request)
        return {
            "title": request.app.title,
            "description": request.app.description,
            "links": [
                {"rel": "self", "type": JSON, "href": f"{base}/", "title": "Page d'accueil"},
                {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0",
                 "href": f"{base}/api", "title": "Définition OpenAPI"},
                {"rel": "service-doc", "type": "text/html", "href": f"{base}/api.html",
                 "title": "Documentation"},
                {"rel": "conformance", "type": JSON, "href": f"{base}/conformance",
                 "title": "Classes de conformité"},
                {"rel": "data", "type": JSON, "href": f"{base}/collections",
                 "title": "Collections"},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "type": JSON,
                 "href": f"{base}/tileMatrixSets", "title": "Grilles de tuiles"},
            ],
        }

    @r.get("/conformance", tags=["Capacités"], summary="Classes de conformité")
    def conformance() -> dict[str, Any]:
        return {"conformsTo": CONFORMANCE}

    @r.get("/collections", tags=["Capacités"], summary="Collections",
           response_model=dict[str, Any], responses=caching.RESPONSES)
    def collections(request: Request, who: Caller) -> dict[str, Any] | Response:
        etag = caching.revision_etag(request, who)  # before reading: never newer than the body
        headers = caching.cache_headers(who, etag)
        if caching.not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        base = base_url(request)
        return JSONResponse({
            "links": [{"rel": "self", "type": JSON, "href": f"{base}/collections"}],
            # Tables without geometry (follow-up data) are served at their own path but not
            # listed: OGC API – Features clients expect located features in every collection.
            "collections": [collection_doc(request, c) for c in COLLECTIONS
                            if auth.readable(c.spec, who) and c.spec.spatial],
        }, headers=headers)

    pages: dict[str, Callable[..., Response]] = {}
    features: dict[str, Callable[..., Response]] = {}
    for collection in COLLECTIONS:
        pages[collection.id], features[collection.id] = _collection_routes(r, collection,
                                                                           collection_doc)

    # The router tries routes one by one (twice per request, ~2 µs each): every collection's
    # pages and features are answered by two routes right after the landing ones, whose path
    # matches exactly the collections' own (a path of another collection does not match, as
    # before). The collections' own routes stay for the OpenAPI document.
    @r.get(f"/collections/{{collection:{_COLLECTION}}}/items", response_class=Response,
           include_in_schema=False)
    def any_items(request: Request, token: Token) -> Response:
        return pages[request.path_params["collection"]](request, token)

    @r.get(f"/collections/{{collection:{_COLLECTION}}}/items/{{featureId}}",
           response_class=Response, include_in_schema=False)
    def any_item(
        request: Request, featureId: str, token: Token,  # noqa: N803 - the OGC name
        crs: Annotated[str | None, Query(description="SCR de la réponse")] = None,
        f: Annotated[str | None, Query(description="Format : json")] = None,
    ) -> Response:
        return features[request.path_params["collection"]](request, featureId, token, crs, f)

    r.routes.sort(key=lambda route: 0 if getattr(route, "path", "").count("/") < 2 else
                  1 if route.endpoint in (any_items, any_item) else 2)  # type: ignore[attr-defined]
    return r


class _CollectionConvertor(Convertor[str]):
    """A path segment naming one of :data:`COLLECTIONS`."""

    regex = "|".join(sorted((re.escape(c.id) for c in COLLECTIONS), key=len, reverse=True))

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


_COLLECTION = "ort_geo_collection"
register_url_convertor(_COLLECTION, _CollectionConvertor())


#: Largest whole collection kept per store revision (GeoJSON bytes): small layers only.
_WHOLE_BYTES = 1 << 20


def _time_stamp() -> str:
    """Now, in RFC 3339 UTC to the millisecond: cut to the second, a page generated at 12:00:01.999
    says 12:00:01, before a request a client sent at 12:00:01.9995 by its own clock — a client
    checking that the stamp lies in its request's interval (OGC's /ats/core/fc-timeStamp, with a
    second of margin) fails at the slightest clock adjustment."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _page(request: Request, collection: Collection, matched: int, returned: int, offset: int,
          limit: int, features: bytes, headers: dict[str, str]) -> Response:
    """A page of items: its features (a GeoJSON array's text) with its count and links."""
    links = [
        {"rel": "self", "type": GEOJSON, "href": url_with(request), "title": "Cette page"},
        {"rel": "collection", "type": JSON, "href": f"{base_url(request)}/collections/"
                                                    f"{collection.id}", "title": collection.title},
    ]
    if offset + returned < matched:
        links.append({"rel": "next", "type": GEOJSON, "title": "Page suivante",
                      "href": url_with(request, offset=offset + limit, limit=limit)})
    if offset > 0:
        links.append({"rel": "prev", "type": GEOJSON, "title": "Page précédente",
                      "href": url_with(request, offset=max(0, offset - limit), limit=limit)})
    body = orjson.dumps({
        "type": "FeatureCollection", "numberMatched": matched, "numberReturned": returned,
        "timeStamp": _time_stamp(), "links": links,
        "features": orjson.Fragment(features)})
    return Response(body, media_type=GEOJSON, headers=headers)


def _collection_routes(r: APIRouter, collection: Collection, collection_doc
                       ) -> tuple[Callable[..., Response], Callable[..., Response]]:
    """Declare a collection's routes; return its items and item endpoints."""
    spec, name, tag = collection.spec, collection.id, collection.spec.title
    queryable_params = [
        {"name": f.name, "in": "query", "required": False, "schema": field_schema(f),
         "description": f.label + ("" if f.public else " (agents habilités seulement)")}
        for f in spec.fields
    ]

    @r.get(f"/collections/{name}", tags=[tag], summary=f"{collection.title} : description",
           operation_id=f"describe_{name}", response_model=dict[str, Any],
           responses=caching.RESPONSES)
    def describe(request: Request, who: Caller) -> dict[str, Any] | Response:
        auth.check_readable(spec, who)
        etag = caching.revision_etag(request, who)
        headers = caching.cache_headers(who, etag)
        if caching.not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return JSONResponse(collection_doc(request, collection), headers=headers)

    @r.get(f"/collections/{name}/queryables", tags=[tag], operation_id=f"queryables_{name}",
           summary=f"{collection.title} : champs filtrables", response_class=JSONResponse)
    def queryables(request: Request, who: Caller) -> Response:
        auth.check_readable(spec, who)
        visible = auth.visible_fields(spec, who)
        body = {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"{base_url(request)}/collections/{name}/queryables",
            "type": "object", "title": collection.title,
            "properties": {n: field_schema(spec.by_name[n]) for n in visible},
            "additionalProperties": False,
        }
        return JSONResponse(body, media_type=SCHEMA_JSON)

    @r.get(f"/collections/{name}/schema", tags=[tag], operation_id=f"schema_{name}",
           summary=f"{collection.title} : schéma des objets (types des champs)",
           response_class=JSONResponse)
    def schema(request: Request, who: Caller) -> Response:
        auth.check_readable(spec, who)
        body = collection_schema(collection, auth.visible_fields(spec, who),
                                 f"{base_url(request)}/collections/{name}/schema")
        return JSONResponse(body, media_type=SCHEMA_JSON)

    @r.get(f"/collections/{name}/feature-schema", tags=[tag],
           operation_id=f"feature_schema_{name}", response_class=JSONResponse,
           summary=f"{collection.title} : schéma JSON d'un objet GeoJSON (describedby)")
    def geojson_schema(request: Request, who: Caller) -> Response:
        auth.check_readable(spec, who)
        body = feature_schema(collection, auth.visible_fields(spec, who),
                              f"{base_url(request)}/collections/{name}/feature-schema")
        return JSONResponse(body, media_type=SCHEMA_JSON)

    whole: dict[tuple[str, str], tuple[Any, int, bytes]] = {}  # see items()

    @r.get(f"/collections/{name}/items", tags=[tag], operation_id=f"items_{name}",
           summary=f"{collection.title} : objets (GeoJSON)", response_class=Response,
           responses=caching.RESPONSES, openapi_extra={"parameters": [
               *_ITEMS_TEXT_PARAMETERS, *PART1_PARAMETERS, *queryable_params]})
    def items(request: Request, token: Token) -> Response:
        # Every parameter read from the query string here: FastAPI's per-parameter resolution
        # cost this route a fifth of its time (declared in openapi_extra, as before).
        bbox_crs, crs, f = (request.query_params.get(n) for n in ("bbox-crs", "crs", "f"))
        who = identify(request, token)
        auth.check_readable(spec, who)
        check_format(f)
        visible = auth.visible_fields(spec, who)
        check_known(request, ITEMS_PARAMS | set(spec.field_names))
        limit, offset = page_limit(request)
        where = filters(request, spec, who)
        chosen = bool(where)  # filters of the caller's own
        if not who.has("staff"):  # records of restricted sources are staff-only as a whole
            where = public_where(spec.name, where)
        epsg = request.app.state.store.epsg
        out_crs = geojson.parse_crs(crs, storage=epsg)
        bbox, when = request.query_params.get("bbox"), request.query_params.get("datetime")
        query = None
        if bbox is not None:
            query = geojson.parse_bbox(bbox, geojson.parse_crs(bbox_crs, "bbox-crs", storage=epsg),
                                       storage=epsg)
        elif bbox_crs is not None:
            raise InputError("Paramètre bbox-crs sans bbox.")
        period = validity.parse_period(when) if when is not None else None
        if not spec.validity:
            period = None  # a layer without dates: every feature matches (Part 1)
        st = request.app.state.store
        etag = caching.revision_etag(request, who)  # before reading: never newer than the page
        headers = {"Content-Crs": out_crs.header, **caching.cache_headers(who, etag)}
        if caching.not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        # A whole collection (first page, no box, filter nor date) is kept per store revision,
        # role and CRS: web maps fetch the small layers whole on every view. Never a box.
        whole_key = (who.role, out_crs.uri) if not (offset or chosen or query or period) else None
        revision = store_revision(request)
        entire = whole.get(whole_key) if whole_key and revision is not None else None
        if entire is not None and entire[0] == revision and entire[1] <= limit:
            return _page(request, collection, entire[1], entire[1], 0, limit, entire[2], headers)
        bounds = dict(bbox=query.envelope, area=query.area) if query is not None else {}
        if period is None and collection.view is None:
            # The store filters, counts and pages (the R-tree / GiST index finds the box); of the
            # page's features, those served since the store last changed are not read again
            # (their texts are kept per layer, fields and CRS: the same for every role that
            # sees those fields; which features a role sees is the store's filter's).
            texts = request.app.state.feature_texts if revision is not None else None
            name = (spec.name, tuple(visible), out_crs.uri)
            kept = None if texts is None else (
                lambda rows: texts.get_many(revision, [(name, r) for r in rows]))
            page = st.read_page(spec.name, columns=visible, where=where or None, limit=limit,
                                offset=offset, count=True, kept=kept, revision=revision,
                                **bounds)
            fresh = geojson.feature_texts(page.batch, visible, out_crs, storage=st.epsg)
            if texts is not None and fresh:
                texts.put_many(revision, zip([(name, r) for r in page.read_rows], fresh,
                                             strict=True))
            read = iter(fresh)
            text = b"[" + b",".join([t if t is not None else next(read) for t in page.kept]) + b"]"
            assert page.matched is not None  # counted
            matched, returned = page.matched, len(page.rows)
        else:
            # Filters the store does not apply (validity, typed views) run on the candidates,
            # so that the count and the page come from the filtered rows (small layers).
            columns = visible + [c for c in spec.validity if c not in visible]
            batch, _ = st.read_batch(spec.name, columns=columns, where=where or None, **bounds)
            if period is not None:
                batch = batch.take(validity.in_force(spec, batch.columns, period, len(batch)))
            if collection.view is not None:
                batch = view_batch(batch, collection.view)
            matched, returned = len(batch), min(limit, max(0, len(batch) - offset))
            batch = batch.take(slice(offset, offset + limit))
            text = geojson.features_text(batch, visible, out_crs, storage=st.epsg)
        if whole_key and revision is not None and returned == matched \
                and len(text) <= _WHOLE_BYTES:
            whole[whole_key] = (revision, matched, text)
        return _page(request, collection, matched, returned, offset, limit, text, headers)

    @r.get(f"/collections/{name}/items/{{featureId}}", tags=[tag], response_class=Response,
           responses=caching.RESPONSES, operation_id=f"item_{name}", summary=f"{collection.title} : un objet (GeoJSON)")
    def item(
        request: Request, featureId: str, token: Token,  # noqa: N803 - the OGC name
        crs: Annotated[str | None, Query(description="SCR de la réponse")] = None,
        f: Annotated[str | None, Query(description="Format : json")] = None,
    ) -> Response:
        who = identify(request, token)
        auth.check_readable(spec, who)
        check_format(f)
        check_known(request, {"crs", "f"})
        out_crs = geojson.parse_crs(crs, storage=request.app.state.store.epsg)
        visible = auth.visible_fields(spec, who)
        etag, text = feature_json(request.app.state.store, spec, featureId, visible, out_crs,
                                  collection.view,
                                  None if who.has("staff") else public_where(spec.name))
        # The feature's own (strong) ETag: the one If-Match takes to edit it.
        headers = {"Content-Crs": out_crs.header, **caching.cache_headers(who, etag)}
        if caching.not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        base = f"{base_url(request)}/collections/{name}"
        links = [{"rel": "self", "type": GEOJSON, "href": f"{base}/items/{featureId}"},
                 {"rel": "collection", "type": JSON, "href": base, "title": collection.title}]
        body = text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
        return Response(body.encode(), media_type=GEOJSON, headers=headers)

    return items, item
