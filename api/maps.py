"""The staff map served by the API: ``/carte`` (a sign-in page, no data) and ``/carte/contenu``
(the working map, staff key required), built by :mod:`ort_geo.webmap.served`. Its buildings come
tile by tile from the OGC API – Tiles routes (:mod:`api.tiles`) with the page's key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ort_geo import auth
from ort_geo.webmap.served import served_staff_map, staff_map_shell

from .deps import Caller


def router() -> APIRouter:
    r = APIRouter()
    tag = "Cartes"

    @r.get("/carte", tags=[tag], response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request) -> HTMLResponse:
        return HTMLResponse(staff_map_shell(request.app.state.store))

    @r.get("/carte/contenu", tags=[tag], response_class=HTMLResponse,
           summary="Carte de travail (HTML, agents) : bâtiments en tuiles vectorielles de l'API",
           responses={200: {"content": {"text/html": {}}}})
    def content(request: Request, who: Caller) -> HTMLResponse:
        auth.check_role(who, "staff", "Carte de travail")
        # Restricted data: kept by no shared cache, nor by the browser's.
        return HTMLResponse(served_staff_map(request.app.state.store),
                            headers={"Cache-Control": "private, no-store"})

    return r
