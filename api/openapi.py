"""The API definition as OpenAPI 3.0, the version of the conformance class the API declares.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12). OGC API – Features Part 1 (1.0) only defines a
conformance class for OpenAPI 3.0 (``conf/oas30``), and the clients that read the definition (GDAL,
QGIS, OWSLib, the OGC test suites) expect 3.0. This module rewrites the few 3.1 constructs FastAPI
emits into their 3.0 equivalents, and documents the errors the API really answers (400 with an
OGC exception document, not FastAPI's 422).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
                for media in response.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = to_oas30(media["schema"])
    return doc


def install(app: FastAPI) -> None:
    """Serve ``app``'s definition as OpenAPI 3.0 (computed once, as FastAPI does)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, openapi_version="3.1.0",
                description=app.description, routes=app.routes, tags=app.openapi_tags,
                servers=app.servers)
            app.openapi_schema = _rewrite(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
