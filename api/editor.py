"""The planners' editor: its page (``/editeur``) and the few routes only it needs.

Thin like every router: the page is built by :mod:`ort_geo.webmap.editor`, a candidate is checked
by :func:`ort_geo.editing.check_changes` (the rules of ``ort-geo validate``), splits and merges
are :func:`ort_geo.editing.split_geometry` / :func:`~ort_geo.editing.merge_geometries`. The
buildings come tile by tile from the OGC API – Tiles routes (:mod:`api.tiles`), saving goes
through the editing routes (:mod:`api.editing`), history through the journal's routes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import HTMLResponse

from ort_geo import auth
from ort_geo.catalogue import CATALOGUE, LayerSpec
from ort_geo.editing import (
    EditCheck,
    check_changes,
    checked_changes,
    merge_geometries,
    split_geometry,
)
from ort_geo.errors import InputError
from ort_geo.rules import RULE_TITLES
from ort_geo.store.base import Change
from ort_geo.webmap.editor import editor_page
from ort_geo.webmap.maps import _territory_title

from . import geojson
from .deps import GEOJSON, Caller
from .editing import Message, _etag


def _check_json(check: EditCheck, crs: str) -> bytes:
    """The findings as GeoJSON; ``crs`` is the store's (their geometries')."""
    findings = [(f, "erreur") for f in check.introduced] + [(f, "avertissement")
                                                             for f in check.warnings]
    geoms = gpd.GeoSeries([f.geometry for f, _ in findings], crs=crs)
    texts = geojson.geometries_json(geoms, geojson.CRS84) if findings else []
    features = []
    for (finding, severity), geometry in zip(findings, texts, strict=True):
        v = finding.violation
        props = {"regle": v.rule, "titre": RULE_TITLES.get(v.rule, v.rule), "couche": v.layer,
                 "objet": v.feature_id, "message": v.message, "gravite": severity}
        features.append('{"type":"Feature","geometry":' + geometry + ',"properties":'
                        + json.dumps(props, ensure_ascii=False) + "}")
    return geojson.feature_collection(features, {"valide": check.ok, "rapport": check.report})


def _features(body: Any, spec: LayerSpec, crs: geojson.ApiCRS, epsg: int) -> list:
    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise InputError("Corps attendu : une FeatureCollection GeoJSON des objets candidats.")
    return [geojson.parse_feature(f, crs, spec.key, storage=epsg)
            for f in body.get("features") or []]


def router() -> APIRouter:
    r = APIRouter()
    tag = "Éditeur"

    @r.get("/editeur", tags=[tag], response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request) -> HTMLResponse:
        # The page holds no data: it asks for a key, then reads everything through the API.
        return HTMLResponse(editor_page(_territory_title(request.app.state.store)))

    @r.get("/editeur/session", tags=[tag], summary="Qui est connecté (nom et rôle de la clé)")
    def session(who: Caller) -> dict[str, Any]:
        auth.check_role(who, "staff", "Éditeur")
        return {"nom": who.name, "role": who.role, "libelle_role": auth.ROLE_LABELS[who.role],
                "peut_modifier": who.has("editor")}

    @r.post("/editeur/decoupage", tags=[tag], response_class=Response,
            summary="Couper une zone en deux le long d'une ligne (rien n'est enregistré)")
    def cut(request: Request, who: Caller,
            body: Annotated[dict[str, Any], Body(description="« geometry » : la zone ; "
                                                 "« ligne » : la ligne de coupe (CRS84).")]
            ) -> Response:
        auth.check_role(who, "editor", "Découper une zone")
        crs = geojson.parse_crs(request.headers.get("content-crs"), "Content-Crs",
                                storage=request.app.state.store.epsg)
        st = request.app.state.store
        parts = split_geometry(geojson.parse_geometry(body.get("geometry"), crs, storage=st.epsg),
                               geojson.parse_geometry(body.get("ligne"), crs, storage=st.epsg))
        texts = geojson.geometries_json(gpd.GeoSeries(parts, crs=st.crs), geojson.CRS84)
        return Response(geojson.feature_collection(
            ['{"type":"Feature","properties":{},"geometry":' + t + "}" for t in texts], {}),
            media_type=GEOJSON)

    @r.post("/editeur/fusion", tags=[tag], response_class=Response,
            summary="Réunir des zones voisines en une (rien n'est enregistré)")
    def merge(request: Request, who: Caller,
              body: Annotated[dict[str, Any], Body(description="« geometries » : les zones "
                                                   "à réunir (CRS84).")]) -> Response:
        auth.check_role(who, "editor", "Fusionner des zones")
        crs = geojson.parse_crs(request.headers.get("content-crs"), "Content-Crs",
                                storage=request.app.state.store.epsg)
        geoms = body.get("geometries")
        if not isinstance(geoms, list):
            raise InputError("« geometries » doit être une liste de géométries GeoJSON.")
        st = request.app.state.store
        merged = merge_geometries([geojson.parse_geometry(g, crs, storage=st.epsg) for g in geoms])
        text = geojson.geometries_json(gpd.GeoSeries([merged], crs=st.crs), geojson.CRS84)
        return Response(text[0].encode(), media_type=GEOJSON)

    for spec in CATALOGUE:
        if spec.editable and spec.spatial:  # the checks place violations on a map
            _layer_routes(r, spec)
    return r


def _layer_routes(r: APIRouter, spec: LayerSpec) -> None:
    name = spec.name

    @r.post(f"/collections/{name}/items/{{featureId}}/verification", tags=[spec.title],
            response_class=Response, operation_id=f"check_{name}",
            summary=f"{spec.title} : vérifier un objet candidat avant de l'enregistrer")
    def check_one(request: Request, featureId: str, who: Caller,  # noqa: N803
                  body: Annotated[dict[str, Any], Body(media_type=GEOJSON)]) -> Response:
        """Les règles de ``ort-geo validate`` sur la couche telle qu'elle serait avec cet objet
        (créé ou remplacé) ; rien n'est enregistré. Réponse : une FeatureCollection des
        violations, chacune localisée, avec « valide » et le rapport en français."""
        auth.check_role(who, "staff", "Vérifier une modification")
        crs = geojson.parse_crs(request.headers.get("content-crs"), "Content-Crs",
                                storage=request.app.state.store.epsg)
        st = request.app.state.store
        feature = geojson.parse_feature(body, crs, spec.key, featureId, storage=st.epsg)
        check = check_changes(st, name, [feature])
        return Response(_check_json(check, st.crs), media_type=GEOJSON)

    @r.post(f"/collections/{name}/verification", tags=[spec.title], response_class=Response,
            operation_id=f"check_many_{name}",
            summary=f"{spec.title} : vérifier plusieurs changements ensemble (découpage, fusion)")
    def check_many(request: Request, who: Caller,
                   body: Annotated[dict[str, Any], Body(media_type=GEOJSON)]) -> Response:
        """Corps : FeatureCollection des objets créés ou remplacés, et « supprimer » : la liste
        des identifiants supprimés."""
        auth.check_role(who, "staff", "Vérifier une modification")
        crs = geojson.parse_crs(request.headers.get("content-crs"), "Content-Crs",
                                storage=request.app.state.store.epsg)
        deletes = body.get("supprimer") or []
        if not isinstance(deletes, list):
            raise InputError("« supprimer » doit être une liste d'identifiants.")
        st = request.app.state.store
        check = check_changes(st, name, _features(body, spec, crs, st.epsg),
                              [geojson.checked_id(str(d)) for d in deletes])
        return Response(_check_json(check, st.crs), media_type=GEOJSON)


    @r.post(f"/collections/{name}/modifications", tags=[spec.title],
            operation_id=f"apply_{name}",
            summary=f"{spec.title} : enregistrer plusieurs changements d'un bloc (découpage, "
                    "fusion ; éditeur, If-Match par objet)")
    def apply_many(request: Request, who: Caller, body: Annotated[dict[str, Any], Body(
            description="« changements » : liste de {« operation » : create, replace ou "
                        "delete, « id », « objet » (Feature GeoJSON, sauf delete), « etag » "
                        "(obligatoire pour replace et delete)}.")],
            message: Message = "") -> dict[str, Any]:
        """Tout ou rien : une version périmée (412) ou une règle enfreinte (422) refuse tous
        les changements, et rien n'est écrit. Une entrée de journal par changement."""
        auth.check_editable(spec, who)
        st = request.app.state.store
        crs = geojson.parse_crs(request.headers.get("content-crs"), "Content-Crs",
                                storage=st.epsg)
        items = body.get("changements") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InputError("« changements » doit être une liste d'objets JSON.")
        changes: list[Change] = []
        for item in items:
            op, fid = item.get("operation"), str(item.get("id") or "")
            if op not in ("create", "replace", "delete") or not fid:
                raise InputError("Chaque changement a une « operation » (create, replace, "
                                 "delete) et un « id ».")
            geojson.checked_id(fid)
            feature = None if op == "delete" else geojson.parse_feature(
                item.get("objet"), crs, spec.key, fid, storage=st.epsg)
            changes.append((op, fid, feature, None if op == "create"
                            else _etag(item.get("etag"), name, fid)))
        checked_changes(st, name, changes, author=who.name, message=message)
        request.app.state.extents.clear()
        return {"objets": [{"id": fid, "etag": st.get(name, fid).etag}
                           for op, fid, _, _ in changes if op != "delete"]}
