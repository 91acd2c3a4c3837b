"""Request-level helpers shared by the routers: who is calling, links, query parameters."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBearer

from ort_geo.auth import Principal, authenticate
from ort_geo.errors import InputError

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="Clé d'API (ort-geo apikey create) : rôle staff ou editor.")
_bearer = HTTPBearer(auto_error=False, description="La même clé d'API en jeton Bearer.")
# Desktop GIS (QGIS, GDAL's USERPWD) know HTTP Basic: any user name, the key as password.
_basic = HTTPBasic(auto_error=False, description="Authentification HTTP Basic : la clé d'API en "
                                                 "mot de passe (nom d'utilisateur libre).")

GEOJSON = "application/geo+json"
JSON = "application/json"


#: The schemes a key may come by, in the order tried; declared in the OpenAPI document of every
#: operation that depends on :func:`credentials` (api/openapi.py), not resolved by FastAPI: three
#: security dependencies (one per scheme) cost every request more than the route's own work.
SCHEMES = (_key_header, _bearer, _basic)


async def credentials(request: Request) -> str | None:
    """The API key a request carries (``X-API-Key``, a Bearer token or HTTP Basic), if any."""
    headers = request.headers
    if "x-api-key" not in headers and "authorization" not in headers:
        return None  # the anonymous majority: nothing to parse
    # The schemes themselves parse (a malformed Basic header is a 401, as before).
    key, bearer, basic = (await _key_header(request), await _bearer(request),
                          await _basic(request))
    return key or (bearer.credentials if bearer else None) or (basic.password if basic else None)


Token = Annotated[str | None, Depends(credentials)]


_UNREAD = object()


def store_revision(request: Request) -> Any:
    """The store's revision, read once per request: the key check and the answer's ETag share it
    (a PostgreSQL round trip each otherwise). Read before the data, it is never newer than them."""
    revision = getattr(request.state, "store_revision", _UNREAD)
    if revision is _UNREAD:
        revision = request.state.store_revision = request.app.state.store.revision()
    return revision


def identify(request: Request, token: str | None) -> Principal:
    """The caller's principal (anonymous without a key): for routes that authenticate in their
    own worker thread (a sync dependency would cost every request a thread hop of its own)."""
    principal = authenticate(request.app.state.store, token, lambda: store_revision(request))
    request.state.principal = principal
    return principal


def caller(request: Request, token: Token) -> Principal:
    """The caller's principal, from ``X-API-Key``, a Bearer token or HTTP Basic; anonymous else."""
    return identify(request, token)


Caller = Annotated[Principal, Depends(caller)]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def url_with(request: Request, **changes) -> str:
    """The request's URL with some query parameters changed (None removes one); every other
    parameter is kept as it came, repeated ones included (``?etat=a&etat=b``)."""
    changed = {name.replace("_", "-"): value for name, value in changes.items()}
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changed]
    params += [(k, str(v)) for k, v in changed.items() if v is not None]
    query = urlencode(params)
    return f"{base_url(request)}{request.url.path}" + (f"?{query}" if query else "")


def check_format(f: str | None, allowed: tuple[str, ...] = ("json",)) -> str:
    """The ``f`` parameter: one of ``allowed`` (first one by default)."""
    if f is None:
        return allowed[0]
    value = f.lower()
    aliases = {"geojson": "json", "application/geo+json": "json", "application/json": "json",
               "gpkg": "gpkg", "geopackage": "gpkg", "text/csv": "csv"}
    value = aliases.get(value, value)
    if value not in allowed:
        raise InputError(f"Format « {f} » non pris en charge (admis : {', '.join(allowed)}).")
    return value


def check_known(request: Request, allowed: set[str]) -> None:
    """Refuse query parameters the API does not define (OGC API Features /req/core/query-param-unknown)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InputError(f"Paramètre(s) inconnu(s) : {', '.join(unknown)} "
                         f"(admis : {', '.join(sorted(allowed))}).")
