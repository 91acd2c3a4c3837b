"""The FastAPI application: OGC API – Features over a store, domain endpoints and editing.

Routes are thin: they parse HTTP, call the library and serialise. Library errors become HTTP
statuses here, once (:data:`STATUSES`), as OGC exception documents (``code`` + ``description``).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ort_geo import __version__, errors, vector_tiles
from ort_geo.auth import ANONYMOUS, visible_fields
from ort_geo.errors import validation_message
from ort_geo.shipped import default_store
from ort_geo.store import open_store

from . import domain, editing, editor, geojson, history, maps, ogc, openapi, tiles
from .limits import RequestLimits
from .offload import DEFAULT_PROCESSES, DEFAULT_QUEUE, GeometryPool, ServerBusy

#: Requests whose handler runs in a worker thread at once, per server process; the others wait
#: their turn in arrival order. Handlers are Python holding the GIL between short waits (SQLite,
#: PostgreSQL, GEOS): every wait hands the GIL to another handler, and with many threads the
#: hand-offs cost more than the waits save. On a quiet machine (200,000-building store, 2 cores,
#: `--workers 2`, wrk at 32 connections, threads 2 / 8 / 2 in one sitting):
#: - bbox page (100 buildings): GeoPackage 473-502 req/s, p99 82-117 ms with 2 threads against
#:   469-493 req/s, p99 137-160 ms with 8; PostGIS 397-445 req/s, p99 92-187 ms against
#:   356-360 req/s, p99 270-325 ms;
#: - /conformance 2,830-2,890 req/s with 2 against 3,200 with 8 (its p99 16 ms against 12-55 ms);
#: - anyio's default of 40 threads stretched light routes' tails (/conformance p99 0.14-0.76 s).
#: Two, not one: a long request (a 10,000-feature page) leaves the other thread to light routes
#: (with one, /conformance p99 went to 1 s while such pages were served).
DEFAULT_THREADS = 2

#: Library error -> HTTP status (first match wins: subclasses before their parents).
STATUSES: list[tuple[type[errors.OrtGeoError], int]] = [
    (editing.PreconditionRequired, 428),
    (errors.TooLargeError, 413),
    (errors.LayerNotFoundError, 404),
    (errors.FeatureNotFoundError, 404),
    (errors.TileNotFoundError, 404),
    (errors.ValidationError, 422),
    (errors.InputError, 400),
    (errors.ConflictError, 412),
    (errors.AccessDeniedError, 403),
    (errors.MissingExtraError, 501),
    (errors.BusyError, 503),
]


def _problem(status: int, code: str, description: str, headers: dict | None = None) -> JSONResponse:
    # A message may quote the client's text, lone UTF-16 surrogates included (JSON "\ud800"):
    # replaced, they cannot make the answer itself fail to encode.
    description = description.encode("utf-8", "replace").decode("utf-8")
    return JSONResponse({"code": code, "description": description}, status_code=status,
                        headers=headers)


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """An unexpected failure: a French exception document, not the framework's English text
    (the traceback still goes to the server's log)."""
    return _problem(500, "InternalError", "Erreur interne du serveur : la requête n'a pas abouti ; "
                    "l'incident est consigné dans le journal du serveur.")


def _library_error(request: Request, exc: errors.OrtGeoError) -> JSONResponse:
    status = next((s for cls, s in STATUSES if isinstance(exc, cls)), 500)
    headers = None
    if status == 403 and getattr(request.state, "principal", ANONYMOUS).anonymous:
        # Not refused for who the caller is, but for being nobody: ask for credentials.
        status, headers = 401, {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
    if isinstance(exc, errors.ConflictError) and exc.layer and exc.feature_id:
        return _conflict(request, exc)
    if status == 503:
        headers = {"Retry-After": "1"}
    return _problem(status, type(exc).__name__, str(exc), headers)


def _conflict(request: Request, exc: errors.ConflictError) -> JSONResponse:
    """412 with the version that won (``actuel``, GeoJSON in CRS84, and its ``ETag``), so that an
    editor can show both versions; ``actuel`` is null when the feature was deleted meanwhile."""
    spec = request.app.state.store.spec(exc.layer)
    who = getattr(request.state, "principal", ANONYMOUS)
    body: dict = {"code": type(exc).__name__, "description": str(exc), "actuel": None}
    headers = {}
    try:
        etag, text = ogc.feature_json(request.app.state.store, spec, exc.feature_id,
                                      visible_fields(spec, who), geojson.CRS84)
    except errors.FeatureNotFoundError:
        pass
    else:
        body["actuel"] = json.loads(text)
        headers["ETag"] = etag
    return JSONResponse(body, status_code=412, headers=headers)


#: French for the framework's own HTTP errors: their details are English (FastAPI's "There was
#: an error parsing the body", Starlette's multipart messages…), and api/ raises none itself.
_HTTP_TEXT = {
    400: "Corps de requête illisible : JSON ou formulaire mal formé.",
    401: "Authentification requise.",
    404: "Ressource introuvable.",
    405: "Méthode non permise sur cette ressource.",
    413: "Corps de requête trop volumineux.",
    415: "Type de contenu non pris en charge.",
}


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    description = _HTTP_TEXT.get(exc.status_code, f"Requête refusée (HTTP {exc.status_code}).")
    return _problem(exc.status_code, "HTTPError", description, getattr(exc, "headers", None))


def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = [validation_message(err) for err in exc.errors()]
    return _problem(400, "InvalidParameterValue", "Requête invalide — " + " ; ".join(parts))


def _busy(request: Request, exc: ServerBusy) -> JSONResponse:
    return _problem(503, "ServiceUnavailable", str(exc), {"Retry-After": str(exc.retry_after)})


def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
    """A body nested so deeply that a parser gave up: the client's fault, not a 500."""
    return _problem(400, "InvalidParameterValue", "Corps refusé : imbrication trop profonde.")


class HeadAsGet:
    """Answer ``HEAD`` as ``GET`` without the body (HTTP semantics; FastAPI routes are GET only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


_collected = False


def _freeze_startup_objects() -> None:
    """Put what the server built before its first request (modules, the app, its routes:
    some 150,000 objects) out of the garbage collector's sight: a full collection then walks
    only what requests leave behind. Before, one took 70-80 ms every few thousand requests,
    with the kept feature texts and decoded nodes around: the p99 of a busy server."""
    global _collected
    if not _collected:  # once per process: the garbage of the imports
        gc.collect()
        _collected = True
    gc.freeze()


def create_app(store_url: str, *, title: str = "ort-geo",
               geometry_processes: int = DEFAULT_PROCESSES,
               geometry_queue: int = DEFAULT_QUEUE, threads: int = DEFAULT_THREADS) -> FastAPI:
    """The API over the store at ``store_url`` (a .gpkg path or a PostgreSQL URL).

    Heavy geometry requests run in a pool of ``geometry_processes`` worker processes (0: in the
    server's threads), ``geometry_queue`` at a time at most (:mod:`api.offload`); at most
    ``threads`` request handlers run at once in the server's threads (:data:`DEFAULT_THREADS`)."""
    if threads < 1:
        raise ValueError("threads >= 1 expected")
    pool = GeometryPool(geometry_processes, geometry_queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The event loop's thread limiter: every sync route and dependency goes through it.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        pool.open()
        _freeze_startup_objects()
        yield
        gc.unfreeze()  # (tests run many apps in one process)
        pool.shutdown()  # the workers end with the server
        app.state.store.close()  # its connections too (reopened if the app serves again)

    app = FastAPI(
        lifespan=lifespan,
        title=f"{title} — OGC API Features",
        description="Atlas d'une opération de revitalisation de territoire (ORT / Petites villes "
                    "de demain) : couches, statistiques par secteur, bâtiments d'un périmètre, "
                    "édition des secteurs, zones et actions.",
        version=__version__,
        openapi_url="/api",
        docs_url=None,  # /api.html: api/openapi.py, in French, nothing from a CDN
        redoc_url=None,
    )
    app.state.store = open_store(store_url)
    app.state.geometry_pool = pool
    app.add_middleware(RequestLimits)
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(ServerBusy, _busy)  # type: ignore[arg-type]
    app.add_exception_handler(RecursionError, _too_deep)  # type: ignore[arg-type]
    app.add_exception_handler(errors.OrtGeoError, _library_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.state.extents = ogc.Extents(app.state.store)
    app.state.tiles = vector_tiles.TileCache()
    app.state.feature_texts = geojson.FeatureTexts()
    app.include_router(ogc.router())
    app.include_router(tiles.router())
    app.include_router(editing.router())
    app.include_router(domain.router())
    app.include_router(history.router())
    app.include_router(editor.router())
    app.include_router(maps.router())
    openapi.install(app)
    app.add_middleware(HeadAsGet)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn (``ort-geo serve``): the store named by ORT_GEO_STORE, the geometry
    pool sized by ORT_GEO_GEOMETRY_PROCESSES and ORT_GEO_GEOMETRY_QUEUE, the handler threads by
    ORT_GEO_THREADS (set by the command)."""
    return create_app(default_store(),
                      geometry_processes=int(os.environ.get("ORT_GEO_GEOMETRY_PROCESSES",
                                                            DEFAULT_PROCESSES)),
                      geometry_queue=int(os.environ.get("ORT_GEO_GEOMETRY_QUEUE", DEFAULT_QUEUE)),
                      threads=int(os.environ.get("ORT_GEO_THREADS", DEFAULT_THREADS)))
