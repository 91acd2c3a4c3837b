"""Resource limits at the API's edge: who may send a body, and how much of it is read.

One ASGI middleware, outside the routes, so that no route can forget it:

* authentication and role come *before* any byte of the body is read: a write to a layer
  (POST/PUT/PATCH/DELETE under ``/collections/{layer}/items``) needs an ``editor`` key, the
  statistics of a free perimeter (``POST /stats``) a ``staff`` key — refused with 401/403 while
  the body is still in the client;
* a declared ``Content-Length`` over the limit is refused at once (413); an undeclared one
  (chunked) is counted while it streams and refused when it passes the limit, so memory stays
  bounded by the limit whatever the client sends.

The per-request vertex budget and the geometry checks are the library's
(:mod:`ort_geo.geomcheck`); heavy geometry work runs in the thread pool (see ``api/domain.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from ort_geo import auth
from ort_geo.catalogue import CATALOGUE
from ort_geo.errors import AccessDeniedError

#: Largest body of a perimeter (GeoJSON or uploaded file) and of an edit, in bytes.
MAX_PERIMETER_BODY = 50 * 1024 * 1024
MAX_EDIT_BODY = 5 * 1024 * 1024
_ITEMS = re.compile(r"^/collections/([^/]+)/items(?:/[^/]+)?/?$")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class _TooLarge(Exception):
    """Raised from ``receive`` when the streamed body passes the limit."""


def token_from(headers: Headers) -> str | None:
    """The API key a request carries: ``X-API-Key``, Bearer, or the HTTP Basic password."""
    import base64
    import binascii

    if headers.get("x-api-key"):
        return headers["x-api-key"]
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _problem(status: int, code: str, description: str, extra: dict | None = None):
    body = json.dumps({"code": code, "description": description}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    for name, value in (extra or {}).items():
        headers.append((name.lower().encode(), value.encode()))
    return status, headers, body


def _too_large(limit: int):
    return _problem(413, "PayloadTooLarge", f"Corps de requête trop volumineux : "
                    f"{limit // (1024 * 1024)} Mo au plus.")


class RequestLimits:
    """The ASGI middleware (see the module's docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            # No resource has a NUL in its name (ids refuse it); PostgreSQL cannot even be
            # asked about one (psycopg refuses the parameter: a 500 on PostGIS otherwise).
            await _respond(send, *_problem(404, "HTTPError", "Ressource introuvable."))
            return
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope["path"]
        refused = await self._gate(scope, path, headers)
        if refused is not None:
            await _respond(send, *refused)
            return
        limit = MAX_PERIMETER_BODY if not _ITEMS.match(path) else MAX_EDIT_BODY
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _respond(send, *_too_large(limit))
            return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _respond(send, *_too_large(limit))

    async def _gate(self, scope: dict, path: str, headers: Headers):
        """401/403 before the body: writes need an editor, free-perimeter statistics staff."""
        items = _ITEMS.match(path)
        needs = None
        if items and items.group(1) in CATALOGUE and CATALOGUE[items.group(1)].editable:
            spec = CATALOGUE[items.group(1)]
            needs = lambda who: auth.check_editable(spec, who)  # noqa: E731
        elif path.rstrip("/") == "/stats" and scope["method"] == "POST":
            needs = lambda who: auth.check_role(  # noqa: E731
                who, "staff", "Statistiques d'un périmètre libre")
        if needs is None:
            return None
        store = scope["app"].state.store
        try:
            who = await run_in_threadpool(auth.authenticate, store, token_from(headers))
            needs(who)
        except AccessDeniedError as exc:
            anonymous = token_from(headers) is None
            return _problem(401 if anonymous else 403, type(exc).__name__, str(exc),
                            {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if anonymous
                            else None)
        return None


async def _respond(send: Any, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
