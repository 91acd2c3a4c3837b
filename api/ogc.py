"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0), Part 2 (CRS by reference) and
Part 3 queryables with property filters, over the store's layers.

Each layer gets its own paths (as pygeoapi does), so the OpenAPI document at ``/api`` lists every
collection with its own filter parameters. What a caller sees is decided by :mod:`ort_geo.auth`:
the public gets public layers and public fields only, and may not filter on hidden fields.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ort_geo import auth
from ort_geo.catalogue import CATALOGUE, FieldSpec, LayerSpec
from ort_geo.crs import crs_label
from ort_geo.errors import FeatureNotFoundError, InputError
from ort_geo.store.base import iter_features
from ort_geo.validation import coerce_value

from . import geojson
from .deps import GEOJSON, JSON, Caller, base_url, check_format, check_known, url_with

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
]
DEFAULT_LIMIT, MAX_LIMIT = 10, 10000
ITEMS_PARAMS = {"limit", "offset", "bbox", "bbox-crs", "crs", "f"}
_JSON_TYPES = {"str": "string", "enum": "string", "date": "string", "int": "integer",
               "float": "number", "bool": "boolean"}
_EXTENT_TTL = 30.0


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
                 crs: geojson.ApiCRS) -> tuple[str, str]:
    """One feature's quoted ETag and GeoJSON text, showing only ``visible`` fields.

    The ETag of a partial view is computed on that view alone, so that it reveals nothing about
    hidden fields (it would change when they do); the full view's is the store's version tag.
    """
    frame = store.read(spec.name, ids=[feature_id], columns=visible)
    if frame.empty:
        raise FeatureNotFoundError(f"Objet « {feature_id} » introuvable dans la couche {spec.name}.")
    etag = next(iter_features(spec, frame)).etag
    return f'"{etag}"', geojson.features_json(frame, spec.key, visible, crs)[0]


class Extents:
    """Layer extents, cached a few seconds (computing one reads every geometry)."""

    def __init__(self, store) -> None:
        self.store, self.cache = store, {}

    def __call__(self, name: str) -> list[float] | None:
        hit = self.cache.get(name)
        if hit is None or time.monotonic() - hit[0] > _EXTENT_TTL:
            hit = (time.monotonic(), geojson.extent_crs84(self.store.extent(name),
                                                          storage=self.store.epsg))
            self.cache[name] = hit
        return hit[1]

    def clear(self) -> None:
        self.cache.clear()


def router() -> APIRouter:
    r = APIRouter()

    def collection_doc(request: Request, spec: LayerSpec) -> dict[str, Any]:
        base = f"{base_url(request)}/collections/{spec.name}"
        bbox = request.app.state.extents(spec.name)
        epsg = request.app.state.store.epsg
        doc: dict[str, Any] = {
            "id": spec.name, "title": spec.title, "itemType": "feature",
            "description": f"{spec.title} ({spec.geometry}, {crs_label(epsg)})",
            "crs": [c.uri for c in geojson.supported(epsg)],
            "storageCrs": geojson.projected(epsg).uri,
            "links": [
                {"rel": "self", "type": JSON, "href": base, "title": spec.title},
                {"rel": "items", "type": GEOJSON, "href": f"{base}/items",
                 "title": f"{spec.title} (GeoJSON)"},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                 "type": "application/schema+json", "href": f"{base}/queryables",
                 "title": "Champs filtrables"},
            ],
        }
        if bbox is not None:
            doc["extent"] = {"spatial": {"bbox": [bbox], "crs": geojson.CRS84.uri}}
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
            ],
        }

    @r.get("/conformance", tags=["Capacités"], summary="Classes de conformité")
    def conformance() -> dict[str, Any]:
        return {"conformsTo": CONFORMANCE}

    @r.get("/collections", tags=["Capacités"], summary="Collections")
    def collections(request: Request, who: Caller) -> dict[str, Any]:
        base = base_url(request)
        return {
            "links": [{"rel": "self", "type": JSON, "href": f"{base}/collections"}],
            "collections": [collection_doc(request, spec) for spec in CATALOGUE
                            if auth.readable(spec, who)],
        }

    for spec in CATALOGUE:
        _layer_routes(r, spec, collection_doc)
    return r


def _layer_routes(r: APIRouter, spec: LayerSpec, collection_doc) -> None:
    name, tag = spec.name, spec.title
    queryable_params = [
        {"name": f.name, "in": "query", "required": False, "schema": field_schema(f),
         "description": f.label + ("" if f.public else " (agents habilités seulement)")}
        for f in spec.fields
    ]

    @r.get(f"/collections/{name}", tags=[tag], summary=f"{spec.title} : description",
           operation_id=f"describe_{name}")
    def describe(request: Request, who: Caller) -> dict[str, Any]:
        auth.check_readable(spec, who)
        return collection_doc(request, spec)

    @r.get(f"/collections/{name}/queryables", tags=[tag], operation_id=f"queryables_{name}",
           summary=f"{spec.title} : champs filtrables", response_class=JSONResponse)
    def queryables(request: Request, who: Caller) -> Response:
        auth.check_readable(spec, who)
        visible = auth.visible_fields(spec, who)
        body = {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"{base_url(request)}/collections/{name}/queryables",
            "type": "object", "title": spec.title,
            "properties": {n: field_schema(spec.by_name[n]) for n in visible},
            "additionalProperties": False,
        }
        return JSONResponse(body, media_type="application/schema+json")

    @r.get(f"/collections/{name}/items", tags=[tag], operation_id=f"items_{name}",
           summary=f"{spec.title} : objets (GeoJSON)", response_class=Response,
           openapi_extra={"parameters": queryable_params})
    def items(
        request: Request, who: Caller,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Nombre d'objets par page")]
        = DEFAULT_LIMIT,
        offset: Annotated[int, Query(ge=0, le=10**9, description="Objets à sauter (pagination)")]
        = 0,
        bbox: Annotated[str | None, Query(description="xmin,ymin,xmax,ymax (dans bbox-crs)")]
        = None,
        bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="SCR de bbox")] = None,
        crs: Annotated[str | None, Query(description="SCR de la réponse")] = None,
        f: Annotated[str | None, Query(description="Format : json")] = None,
    ) -> Response:
        auth.check_readable(spec, who)
        check_format(f)
        visible = auth.visible_fields(spec, who)
        check_known(request, ITEMS_PARAMS | set(spec.field_names))
        where = filters(request, spec, who)
        epsg = request.app.state.store.epsg
        out_crs = geojson.parse_crs(crs, storage=epsg)
        query = None
        if bbox is not None:
            query = geojson.parse_bbox(bbox, geojson.parse_crs(bbox_crs, "bbox-crs", storage=epsg),
                                       storage=epsg)
        elif bbox_crs is not None:
            raise InputError("Paramètre bbox-crs sans bbox.")
        st = request.app.state.store
        if query is None:
            matched = st.count(name, where=where or None)
            frame = st.read(name, where=where or None, columns=visible, limit=limit,
                            offset=offset)
        else:
            # The store finds the envelope's candidates; a box in degrees is then matched
            # exactly (it is not a rectangle once projected), so count and page come from it.
            frame = st.read(name, bbox=query.envelope, where=where or None, columns=visible)
            if query.area is not None:
                frame = frame[frame.intersects(query.area)]
            matched = len(frame)
            frame = frame.iloc[offset:offset + limit]
        links = [
            {"rel": "self", "type": GEOJSON, "href": url_with(request), "title": "Cette page"},
            {"rel": "collection", "type": JSON, "href": f"{base_url(request)}/collections/{name}",
             "title": spec.title},
        ]
        if offset + len(frame) < matched:
            links.append({"rel": "next", "type": GEOJSON, "title": "Page suivante",
                          "href": url_with(request, offset=offset + limit, limit=limit)})
        if offset > 0:
            links.append({"rel": "prev", "type": GEOJSON, "title": "Page précédente",
                          "href": url_with(request, offset=max(0, offset - limit), limit=limit)})
        features = geojson.features_json(frame, spec.key, visible, out_crs)
        body = geojson.feature_collection(features, {
            "numberMatched": matched, "numberReturned": len(features),
            "timeStamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "links": links,
        })
        return Response(body, media_type=GEOJSON, headers={"Content-Crs": out_crs.header})

    @r.get(f"/collections/{name}/items/{{featureId}}", tags=[tag], response_class=Response,
           operation_id=f"item_{name}", summary=f"{spec.title} : un objet (GeoJSON)")
    def item(
        request: Request, featureId: str, who: Caller,  # noqa: N803 - the OGC name
        crs: Annotated[str | None, Query(description="SCR de la réponse")] = None,
        f: Annotated[str | None, Query(description="Format : json")] = None,
    ) -> Response:
        auth.check_readable(spec, who)
        check_format(f)
        check_known(request, {"crs", "f"})
        out_crs = geojson.parse_crs(crs, storage=request.app.state.store.epsg)
        visible = auth.visible_fields(spec, who)
        etag, text = feature_json(request.app.state.store, spec, featureId, visible, out_crs)
        headers = {"Content-Crs": out_crs.header, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        base = f"{base_url(request)}/collections/{name}"
        links = [{"rel": "self", "type": GEOJSON, "href": f"{base}/items/{featureId}"},
                 {"rel": "collection", "type": JSON, "href": base, "title": spec.title}]
        body = text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
        return Response(body.encode(), media_type=GEOJSON, headers=headers)
