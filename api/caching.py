"""HTTP caching of the read routes: validators, ``If-None-Match`` and ``Cache-Control``.

Collections and pages of features carry a weak ETag derived from the store's revision
(:meth:`ort_geo.store.base.Store.revision`, which moves with any write by any client) and from
what else decides the answer: the caller's role and the request's URL (path, query, host). A
client or a cache that sends it back in ``If-None-Match`` gets ``304`` without the store being
read. It is weak because a page carries its ``timeStamp``: equivalent, not byte-identical. The
revision is the whole store's, so a public ETag tells only that something was written somewhere
— nothing about one building (one feature's ETag, in :mod:`api.ogc`, is computed on its visible
fields alone for that reason).

Public answers may be kept by shared caches; answers to a key are ``private``; ``Vary`` names
the credential headers, since the same URL answers differently to each role.
"""

from __future__ import annotations

import hashlib

from fastapi import Request

from ort_geo import __version__
from ort_geo.auth import Principal

from .deps import store_revision

#: The request headers that carry credentials (api/deps.py): answers differ by them.
VARY = "X-API-Key, Authorization"
#: The OpenAPI description of a revalidated answer.
RESPONSES: dict[int | str, dict] = {
    304: {"description": "Inchangé depuis l'ETag envoyé dans If-None-Match (sans corps)"}}


def revision_etag(request: Request, who: Principal) -> str | None:
    """A weak ETag for what ``who`` reads at this URL in the store's current state; None when
    the store gives no revision (GeoPackage in WAL mode): then nothing is validated."""
    revision = store_revision(request)  # the one the key was checked at, if any
    if revision is None:
        return None
    seed = repr((__version__, revision, who.role, str(request.url))).encode()
    return f'W/"{hashlib.blake2b(seed, digest_size=12).hexdigest()}"'


def not_modified(request: Request, etag: str | None) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110 §13.1.2) or is
    ``*``."""
    header = request.headers.get("if-none-match")
    if etag is None or not header:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def cache_headers(who: Principal, etag: str | None, *, max_age: int = 0,
                  vary: str = VARY) -> dict[str, str]:
    """``ETag``, ``Cache-Control`` and ``Vary`` of an answer to ``who``: ``public`` for the
    anonymous, ``private`` for a key; with no ``max_age``, stored but revalidated on every use
    (``no-cache``: an edit shows at once, and the 304 costs no read)."""
    scope = "public" if who.anonymous else "private"
    headers = {"Cache-Control": f"{scope}, max-age={max_age}" if max_age else f"{scope}, no-cache",
               "Vary": vary}
    if etag is not None:
        headers["ETag"] = etag
    return headers
