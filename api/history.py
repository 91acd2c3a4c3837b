"""History of a feature: its versions, any version as GeoJSON, the diff of two, restoring one.

Thin over :mod:`ort_geo.timeline` and :mod:`ort_geo.version_diff` (the same figures as
``ort-geo diff``). Reading the history needs a ``staff`` key (versions hold restricted fields);
restoring an ``editor`` key and, when the feature exists, ``If-Match`` with its current ETag —
like every other edit, it is checked against the rules and journaled as a new version.

Shapes (``{c}`` a collection, ``{id}`` a feature):

* ``GET /collections/{c}/items/{id}/versions`` → ``{"couche", "id", "etag_actuel", "versions":
  [{"version", "date", "auteur", "message", "operation", "etag"}, …]}`` (oldest first);
* ``GET …/versions/{n}`` → a GeoJSON Feature (``crs`` as for items; ``geometry`` and
  ``properties`` null for a deletion) with a ``version`` member (as above) and an ``ETag``;
* ``GET …/diff?de=1&a=3`` → a GeoJSON FeatureCollection of the geometries to draw (``role``:
  ``avant``, ``apres``, ``gagnee``, ``perdue``; ``surface_ha``) with the members of
  :meth:`ZoneDiff.figures` (``surfaces``, ``statistiques``, ``libelles``, ``champs_modifies``…);
* ``POST …/versions/{n}/restore`` (body optional: ``{"message": "…"}``) → 200 with the restored
  feature and its new ``ETag`` (204 when the restored version is a deletion).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response

from ort_geo import auth
from ort_geo.catalogue import CATALOGUE, LayerSpec
from ort_geo.errors import InputError
from ort_geo.timeline import feature_version, records_frame, versions
from ort_geo.version_diff import compare_versions, restore_version, version_summary

from . import geojson
from .deps import GEOJSON, Caller, check_known
from .editing import _answer, _etag

TAG = "Historique des versions"


def _summary_list(store, spec: LayerSpec, feature_id: str) -> dict[str, Any]:
    found = versions(store, spec.name, feature_id)
    if not found:
        store.get(spec.name, feature_id)  # 404 for an unknown feature
    current = store.read(spec.name, ids=[feature_id])
    etag = None if current.empty else store.get(spec.name, feature_id).etag
    return {"couche": spec.name, "id": feature_id, "etag_actuel": etag,
            "versions": [version_summary(v) for v in found]}


def router() -> APIRouter:
    r = APIRouter()
    for spec in CATALOGUE:
        _layer_routes(r, spec)
    return r


def _layer_routes(r: APIRouter, spec: LayerSpec) -> None:
    name = spec.name
    base = f"/collections/{name}/items/{{featureId}}"

    @r.get(f"{base}/versions", tags=[TAG], operation_id=f"versions_{name}",
           summary=f"{spec.title} : versions d'un objet (agents habilités)")
    def list_versions(request: Request, featureId: str, who: Caller) -> dict[str, Any]:  # noqa: N803
        auth.check_role(who, "staff", "Historique des versions")
        check_known(request, set())
        return _summary_list(request.app.state.store, spec, featureId)

    @r.get(f"{base}/versions/{{number}}", tags=[TAG], response_class=Response,
           operation_id=f"version_{name}",
           summary=f"{spec.title} : une version d'un objet (GeoJSON, agents habilités)")
    def one_version(
        request: Request, featureId: str, number: int, who: Caller,  # noqa: N803
        crs: Annotated[str | None, Query(description="SCR de la réponse")] = None,
    ) -> Response:
        auth.check_role(who, "staff", "Historique des versions")
        check_known(request, {"crs"})
        out_crs = geojson.parse_crs(crs, storage=request.app.state.store.epsg)
        version = feature_version(request.app.state.store, name, featureId, number)
        member = json.dumps(version_summary(version), ensure_ascii=False)
        headers = {"Content-Crs": out_crs.header}
        if version.feature is None:
            text = ('{"type":"Feature","id":' + json.dumps(featureId)
                    + ',"geometry":null,"properties":null}')
        else:
            frame = records_frame(request.app.state.store, name, [version.feature])
            text = geojson.features_json(frame, spec.key, spec.field_names, out_crs)[0]
            headers["ETag"] = f'"{version.etag}"'
        return Response((text[:-1] + ',"version":' + member + "}").encode(), media_type=GEOJSON,
                        headers=headers)

    @r.get(f"{base}/diff", tags=[TAG], response_class=Response, operation_id=f"diff_{name}",
           summary=f"{spec.title} : comparer deux versions (surfaces gagnées et perdues, "
                   "statistiques ; agents habilités)")
    def diff(
        request: Request, featureId: str, who: Caller,  # noqa: N803
        de: Annotated[int, Query(ge=1, description="Version de départ")],
        a: Annotated[int, Query(ge=1, description="Version d'arrivée")],
        donnees_au: Annotated[str | None, Query(
            alias="donnees-au", description="Statistiques sur les données à cette date")] = None,
        crs: Annotated[str | None, Query(description="SCR de la réponse")] = None,
    ) -> Response:
        auth.check_role(who, "staff", "Comparaison de versions")
        check_known(request, {"de", "a", "donnees-au", "crs"})
        out_crs = geojson.parse_crs(crs, storage=request.app.state.store.epsg)
        result = compare_versions(request.app.state.store, name, featureId, de, a,
                                  data_at=donnees_au)
        frame = result.frame()
        features = geojson.features_json(frame, "role", ["role", "libelle", "version",
                                                         "surface_ha"], out_crs)
        body = geojson.feature_collection(features, result.figures())
        return Response(body, media_type=GEOJSON, headers={"Content-Crs": out_crs.header})

    if not spec.editable:
        return

    @r.post(f"{base}/versions/{{number}}/restore", tags=[TAG], response_class=Response,
            operation_id=f"restore_{name}",
            summary=f"{spec.title} : restaurer une version comme nouvelle version (éditeur, "
                    "If-Match)")
    def restore(
        request: Request, featureId: str, number: int, who: Caller,  # noqa: N803
        body: Annotated[dict[str, Any] | None, Body(
            description="Facultatif : {\"message\": \"délibération du …\"}")] = None,
        if_match: Annotated[str | None, Header(alias="If-Match",
                                               description="ETag de la version actuelle")] = None,
    ) -> Response:
        auth.check_editable(spec, who)
        store = request.app.state.store
        message = (body or {}).get("message") or ""
        if not isinstance(message, str):
            raise InputError("« message » doit être un texte.")
        exists = not store.read(name, ids=[featureId], columns=[]).empty
        tag = _etag(if_match, name, featureId) if exists else None
        restored = restore_version(store, name, featureId, number, author=who.name,
                                   message=message, if_match=tag)
        if restored is None:
            request.app.state.extents.clear()
            return Response(status_code=204)
        return _answer(request, spec, featureId, 200)
