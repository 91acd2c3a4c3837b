"""The API definition as OpenAPI 3.0, the version of the conformance class the API declares.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12). OGC API – Features Part 1 (1.0) only defines a
conformance class for OpenAPI 3.0 (``conf/oas30``), and the clients that read the definition (GDAL,
QGIS, OWSLib, the OGC test suites) expect 3.0. This module rewrites the few 3.1 constructs FastAPI
emits into their 3.0 equivalents, and documents the errors the API really answers (400 with an
OGC exception document, not FastAPI's 422).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from . import deps

OPENAPI_VERSION = "3.0.3"
#: The exception document of OGC API – Common (``code`` + ``description``), as every error is.
EXCEPTION_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Exception", "required": ["code"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}
_INVALID = {"description": "Requête invalide (message en français)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Exception"}}}}


def to_oas30(schema: Any) -> Any:
    """A JSON Schema 2020-12 fragment (OpenAPI 3.1) as an OpenAPI 3.0 Schema Object."""
    if isinstance(schema, list):
        return [to_oas30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: to_oas30(value) for key, value in schema.items()}
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if not isinstance(options, list):
            continue
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == len(options):
            continue
        out["nullable"] = True
        if len(kept) == 1:
            del out[key]
            # A reference takes no siblings in 3.0: wrap it.
            only = {"allOf": [kept[0]]} if "$ref" in kept[0] else kept[0]
            out = {**only, **out}
        else:
            out[key] = kept
    if out.get("type") == "null":  # a lone null (never useful in a 3.0 document)
        out.pop("type")
        out["nullable"] = True
    if isinstance(out.get("type"), list):  # ["string", "null"]
        types = [t for t in out["type"] if t != "null"]
        if len(types) < len(out["type"]):
            out["nullable"] = True
        out["type"] = types[0] if len(types) == 1 else out["type"]
    if "examples" in out and isinstance(out["examples"], list):
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), (int, float)) and not isinstance(out[bound], bool):
            out[flag] = out.pop(bound)
            out[bound] = True
    if "contentMediaType" in out:  # a file upload
        out.pop("contentMediaType")
        out.setdefault("format", "binary")
    out.pop("contentEncoding", None)
    out.pop("$schema", None)
    return out


def _rewrite(document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["openapi"] = OPENAPI_VERSION
    doc.pop("jsonSchemaDialect", None)
    doc.pop("webhooks", None)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Exception"] = EXCEPTION_SCHEMA
    components["schemas"] = to_oas30(schemas)
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = to_oas30(parameter["schema"])
            body = operation.get("requestBody", {})
            for media in body.get("content", {}).values():
                if "schema" in media:
                    media["schema"] = to_oas30(media["schema"])
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None or operation.get("parameters"):
                responses.setdefault("400", _INVALID)
            for response in responses.values():
                if response.get("description") == "Successful Response":  # FastAPI's default
                    response["description"] = "Succès"
                for media in response.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = to_oas30(media["schema"])
    return doc


def _depends_on(dependant: Any, call: Any) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def _api_routes(routes: list) -> Iterator[APIRoute]:
    """The API routes, inside included routers too (recent FastAPI keeps them apart; the app
    includes its routers without a prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def _declare_security(document: dict[str, Any], routes: list) -> dict[str, Any]:
    """Declare the key's schemes (:data:`api.deps.SCHEMES`) on every operation whose route reads
    a key (:func:`api.deps.credentials` parses the headers itself: FastAPI does not see them)."""
    schemes = {s.scheme_name: s.model.model_dump(mode="json", by_alias=True, exclude_none=True)
               for s in deps.SCHEMES}
    secured = False
    for route in _api_routes(routes):
        if not route.include_in_schema or not _depends_on(route.dependant, deps.credentials):
            continue
        for method in route.methods:
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{name: []} for name in schemes]
                secured = True
    if secured:
        document.setdefault("components", {})["securitySchemes"] = schemes
    return document


def install(app: FastAPI) -> None:
    """Serve ``app``'s definition as OpenAPI 3.0 (computed once, as FastAPI does)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, openapi_version="3.1.0",
                description=app.description, routes=app.routes, tags=app.openapi_tags,
                servers=app.servers)
            app.openapi_schema = _rewrite(_declare_security(document, app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api.html", include_in_schema=False, response_class=HTMLResponse)
    def documentation() -> HTMLResponse:
        return HTMLResponse(documentation_page(app.openapi()))


_WHERE = {"path": "chemin", "query": "requête", "header": "en-tête", "cookie": "cookie"}
_METHODS = ("get", "head", "post", "put", "patch", "delete")
_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 0 auto; max-width: 70em;
       padding: 0 1em 2em; color: #1b2631; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 2px solid #2e86c1; }
h3 { font-size: 1.05em; margin: 1.4em 0 .3em; } code { background: #eef2f4; padding: 0 .2em; }
.method { display: inline-block; min-width: 4.2em; color: #fff; background: #1a5276;
          padding: 0 .3em; border-radius: 3px; text-align: center; }
table { border-collapse: collapse; margin: .4em 0; } caption { text-align: left; }
th, td { border: 1px solid #aeb6bf; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #eef2f4; } a { color: #1a5276; }
"""


def _type(schema: dict[str, Any]) -> str:
    """A parameter's type in a few words (``chaîne``, ``entier``, ``tableau de chaîne``…)."""
    names = {"string": "chaîne", "integer": "entier", "number": "nombre", "boolean": "booléen",
             "array": "tableau", "object": "objet"}
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            return " ou ".join(_type(option) for option in schema[key])
    kind = names.get(schema.get("type", ""), schema.get("type", "—"))
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        kind += f" de {_type(schema['items'])}"
    if "enum" in schema:
        kind += " : " + ", ".join(str(v) for v in schema["enum"])
    return kind


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    esc = html.escape
    parts = [f'<h3><span class="method">{method.upper()}</span> <code>{esc(path)}</code>'
             f'{" — " + esc(operation["summary"]) if operation.get("summary") else ""}</h3>']
    for paragraph in (operation.get("description") or "").split("\n\n"):
        if paragraph.strip():
            parts.append(f"<p>{esc(paragraph.strip())}</p>")
    parameters = operation.get("parameters", [])
    if parameters:
        rows = "".join(
            f'<tr><th scope="row"><code>{esc(p["name"])}</code></th>'
            f'<td>{_WHERE.get(p.get("in", ""), esc(p.get("in", "")))}</td>'
            f'<td>{"oui" if p.get("required") else "non"}</td>'
            f'<td>{esc(_type(p.get("schema", {})))}</td>'
            f'<td>{esc(p.get("description", ""))}</td></tr>' for p in parameters)
        parts.append('<table><caption>Paramètres</caption><thead><tr><th scope="col">Nom</th>'
                     '<th scope="col">Où</th><th scope="col">Obligatoire</th>'
                     '<th scope="col">Type</th><th scope="col">Description</th></tr></thead>'
                     f"<tbody>{rows}</tbody></table>")
    responses = operation.get("responses", {})
    if responses:
        items = "".join(f"<li><code>{esc(code)}</code> : {esc(r.get('description', ''))}</li>"
                        for code, r in sorted(responses.items()))
        parts.append(f"<p>Réponses :</p><ul>{items}</ul>")
    return "\n".join(parts)


def documentation_page(document: dict[str, Any]) -> str:
    """The API's documentation for people (``/api.html``, the landing page's ``service-doc``):
    every operation of the OpenAPI ``document`` by tag, in French, a page with no script and
    nothing fetched from elsewhere (the machine-readable definition stays ``/api``)."""
    esc = html.escape
    info = document.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if isinstance(item.get(method), dict):
                operation = item[method]
                tag = (operation.get("tags") or ["Autres"])[0]
                by_tag.setdefault(tag, []).append(_operation(method, path, operation))
    toc = "".join(f'<li><a href="#tag-{i}">{esc(tag)}</a></li>' for i, tag in enumerate(by_tag))
    sections = "".join(f'<section aria-labelledby="tag-{i}"><h2 id="tag-{i}">{esc(tag)}</h2>'
                       + "".join(ops) + "</section>" for i, (tag, ops) in enumerate(by_tag.items()))
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(info.get("title", "API"))} — documentation</title>
<style>{_STYLE}</style></head>
<body><header><h1>{esc(info.get("title", "API"))}</h1>
<p>{esc(info.get("description", ""))}</p>
<p>Version {esc(str(info.get("version", "")))}. Définition OpenAPI {esc(document["openapi"])}
lisible par les logiciels : <a href="api">api</a> ; données : <a href="collections">collections</a>.</p>
<nav aria-label="Sommaire"><ul>{toc}</ul></nav></header>
<main>{sections}</main></body></html>
"""
