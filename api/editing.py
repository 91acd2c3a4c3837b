"""Editing in the style of OGC API – Features Part 4: create, replace, update, delete.

Only ``editor`` keys edit, and only the layers the catalogue marks ``editable`` (sectors, zones,
actions). Every change is optimistic: PUT, PATCH and DELETE must carry ``If-Match`` with the ETag
the editor read, so that of two editors working from the same version one wins and the other gets
412 and reloads — no edit is silently overwritten. The store validates and journals each change
under the key's name; the domain rules (:mod:`ort_geo.rules`, as ``ort-geo validate``) are checked
before commit by :func:`ort_geo.editing.checked_edit`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Header, Query, Request, Response

from ort_geo import auth
from ort_geo.catalogue import CATALOGUE, LayerSpec
from ort_geo.editing import checked_edit
from ort_geo.errors import ConflictError, InputError

from . import geojson
from .deps import GEOJSON, Caller, base_url
from .ogc import feature_json

_FEATURE_BODY = Body(
    media_type=GEOJSON,
    description="Objet GeoJSON (Feature) ; géométries en CRS84 sauf en-tête Content-Crs.",
    examples=[{"type": "Feature", "id": "secteur-1", "properties": {"nom": "Centre"},
               "geometry": {"type": "Polygon", "coordinates": [
                   [[7.17, 48.24], [7.18, 48.24], [7.18, 48.25], [7.17, 48.24]]]}}],
)
ContentCrs = Annotated[str | None, Header(alias="Content-Crs",
                                           description="SCR des géométries du corps")]
IfMatch = Annotated[str | None, Header(alias="If-Match",
                                       description="ETag de la version lue (obligatoire)")]
# No control character but tabs and line breaks: PostgreSQL cannot store a NUL (a 500 there).
Message = Annotated[str, Query(max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
                               description="Message du journal, ex. « délibération du 12 mars "
                                           "2026 »")]


class PreconditionRequired(InputError):
    """An edit of an existing feature without If-Match (428)."""


def _etag(value: str | None, layer: str, fid: str) -> tuple[str, ...]:
    """The strong ETags of an ``If-Match`` header (or of an editor batch's ``etag``): a list is
    met when any of them is the current version (RFC 9110 §13.1.1)."""
    if not isinstance(value, str) or not value.strip():
        raise PreconditionRequired(
            "En-tête If-Match obligatoire : relisez l'objet et renvoyez son ETag, afin de ne "
            "jamais écraser la modification d'un autre."
        )
    listed = [tag.strip() for tag in value.split(",") if tag.strip()]
    if "*" in listed:
        # RFC 9110 would let "*" match any current version: refused on purpose, an edit
        # must name the version it was made from (412, with the current version to reload).
        raise ConflictError(
            "If-Match : « * » n'est pas accepté : il vaudrait pour n'importe quelle version de "
            f"l'objet « {fid} » et écraserait la modification qu'un autre aurait faite "
            "entre-temps ; relisez l'objet et renvoyez son ETag.", layer=layer, feature_id=fid)
    # A weak ETag never matches for If-Match (strong comparison, RFC 9110 §8.8.3.2).
    tags = tuple(tag.strip('"') for tag in listed if not tag.startswith("W/"))
    if not tags:
        raise ConflictError(
            "If-Match : un ETag faible (W/…) ne désigne pas une version exacte de l'objet « "
            f"{fid} » et ne vaut jamais pour une modification ; renvoyez l'ETag de l'objet tel "
            "que sa lecture le donne, sans W/.", layer=layer, feature_id=fid)
    return tags


def _answer(request: Request, spec: LayerSpec, feature_id: str, status: int) -> Response:
    etag, text = feature_json(request.app.state.store, spec, feature_id, spec.field_names,
                              geojson.CRS84)
    request.app.state.extents.clear()
    headers = {"ETag": etag, "Content-Crs": geojson.CRS84.header}
    if status == 201:
        headers["Location"] = (f"{base_url(request)}/collections/{spec.name}/items/"
                               f"{quote(feature_id, safe='')}")
    return Response(text.encode(), status_code=status, media_type=GEOJSON, headers=headers)


def router() -> APIRouter:
    r = APIRouter()
    for spec in CATALOGUE:
        if spec.editable:
            _layer_routes(r, spec)
    return r


def _layer_routes(r: APIRouter, spec: LayerSpec) -> None:
    name, tag = spec.name, spec.title
    item_path = f"/collections/{name}/items/{{featureId}}"

    @r.post(f"/collections/{name}/items", tags=[tag], status_code=201, response_class=Response,
            operation_id=f"create_{name}", summary=f"{spec.title} : ajouter un objet (éditeur)")
    def create(request: Request, who: Caller, body: Annotated[dict[str, Any], _FEATURE_BODY],
               content_crs: ContentCrs = None, message: Message = "") -> Response:
        auth.check_editable(spec, who)
        epsg = request.app.state.store.epsg
        feature = geojson.parse_feature(body, geojson.parse_crs(content_crs, "Content-Crs",
                                                                storage=epsg),
                                        spec.key, spatial=spec.spatial, storage=epsg)
        checked_edit(request.app.state.store, name, "create", feature, author=who.name,
                     message=message)
        return _answer(request, spec, feature.id, 201)

    @r.put(item_path, tags=[tag], response_class=Response, operation_id=f"replace_{name}",
           summary=f"{spec.title} : remplacer un objet (éditeur, If-Match)")
    def replace(request: Request, featureId: str, who: Caller,  # noqa: N803
                body: Annotated[dict[str, Any], _FEATURE_BODY], if_match: IfMatch = None,
                content_crs: ContentCrs = None, message: Message = "") -> Response:
        auth.check_editable(spec, who)
        epsg = request.app.state.store.epsg
        feature = geojson.parse_feature(body, geojson.parse_crs(content_crs, "Content-Crs",
                                                                storage=epsg),
                                        spec.key, featureId, spatial=spec.spatial, storage=epsg)
        checked_edit(request.app.state.store, name, "replace", feature, author=who.name,
                     if_match=_etag(if_match, name, featureId), message=message)
        return _answer(request, spec, featureId, 200)

    @r.patch(item_path, tags=[tag], response_class=Response, operation_id=f"update_{name}",
             summary=f"{spec.title} : modifier des champs (éditeur, If-Match)")
    def update(request: Request, featureId: str, who: Caller,  # noqa: N803
               body: Annotated[dict[str, Any], Body(
                   media_type="application/merge-patch+json",
                   description="Fusion (RFC 7396) : « properties » à changer, « geometry » "
                               "facultative.")],
               if_match: IfMatch = None, content_crs: ContentCrs = None,
               message: Message = "") -> Response:
        auth.check_editable(spec, who)
        tag_ = _etag(if_match, name, featureId)
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise InputError("« properties » doit être un objet JSON.")
        if spec.key in props and str(props[spec.key]) != featureId:
            raise InputError("L'identifiant d'un objet ne se modifie pas.")
        props = {k: v for k, v in props.items() if k != spec.key}
        geometry = None
        if body.get("geometry") is not None and not spec.spatial:
            raise InputError("Cette table n'a pas de géométrie : « geometry » doit être null.")
        if body.get("geometry") is not None:
            epsg = request.app.state.store.epsg
            geometry = geojson.parse_geometry(
                body["geometry"], geojson.parse_crs(content_crs, "Content-Crs", storage=epsg),
                storage=epsg)
        checked_edit(request.app.state.store, name, "update", None, feature_id=featureId,
                     properties=props, geometry=geometry, author=who.name, if_match=tag_,
                     message=message)
        return _answer(request, spec, featureId, 200)

    @r.delete(item_path, tags=[tag], status_code=204, response_class=Response,
              operation_id=f"delete_{name}", summary=f"{spec.title} : supprimer (éditeur, If-Match)")
    def delete(request: Request, featureId: str, who: Caller,  # noqa: N803
               if_match: IfMatch = None, message: Message = "") -> Response:
        auth.check_editable(spec, who)
        checked_edit(request.app.state.store, name, "delete", None, feature_id=featureId,
                     author=who.name, if_match=_etag(if_match, name, featureId), message=message)
        request.app.state.extents.clear()
        return Response(status_code=204)
