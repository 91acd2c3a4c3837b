"""Request-level helpers shared by the routers: who is calling, links, query parameters."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request, Security
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

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


async def credentials(
    key: Annotated[str | None, Security(_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    basic: Annotated[HTTPBasicCredentials | None, Security(_basic)] = None,
) -> str | None:
    """The API key a request carries (``X-API-Key``, a Bearer token or HTTP Basic), if any."""
    return key or (bearer.credentials if bearer else None) or (basic.password if basic else None)


Token = Annotated[str | None, Depends(credentials)]


def identify(request: Request, token: str | None) -> Principal:
    """The caller's principal (anonymous without a key): for routes that authenticate in their
    own worker thread (a sync dependency would cost every request a thread hop of its own)."""
    principal = authenticate(request.app.state.store, token)
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
