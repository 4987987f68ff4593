"""The OpenAPI 3.1 document, generated from the same pydantic models that validate input."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from portal import __version__
from portal.api.converters import MAX_ID
from portal.api.framework import ENDPOINTS
from portal.api.schemas import Out
from portal.core.registry import plugins
from portal.plugins import PluginConfigurationError

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string"},
            },
        }
    },
}

STATUS_TEXT = {
    400: "Invalid input",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    422: "Unprocessable",
    429: "Too many requests",
    503: "A backend service is unavailable",
}


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _schema_ref(annotation: Any, refs: Mapping[type, dict[str, Any]]) -> dict[str, Any]:
    """The schema of a body or response. `refs` are the references pydantic chose for each
    model: two models with one class name (the polls' and the recordings' PublishIn) get
    module-qualified component names, so the class name alone would point at nothing."""
    if get_origin(annotation) is list:
        return {"type": "array", "items": _schema_ref(get_args(annotation)[0], refs)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return refs[annotation]
    return {}


def _operation_path(path: str) -> str:
    """`/classes/{class_id}/cancel` -> `classes_class_id_cancel` (for operationId)."""
    return path.strip("/").replace("/", "_").replace("{", "").replace("}", "")


def build_openapi() -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for spec in ENDPOINTS:
        for candidate in (spec.body, spec.response):
            models.update(_models(candidate) if candidate is not None else [])
    # Answers are documented as they are serialized (field aliases that read ORM attributes
    # must not leak into the document); request bodies as they are validated.
    schemas, defs = models_json_schema(
        [
            (m, "serialization" if issubclass(m, Out) else "validation")
            for m in sorted(models, key=lambda m: (m.__name__, m.__module__))
        ],
        ref_template="#/components/schemas/{model}",
    )
    refs = {model: schema for (model, _mode), schema in schemas.items()}
    components = dict(defs.get("$defs", {}))
    components["Error"] = ERROR_SCHEMA
    paths: dict[str, Any] = {}
    for spec in ENDPOINTS:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", spec.rule)
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": spec.tags,
            "operationId": f"{spec.method}_{_operation_path(path)}",
        }
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": (
                    {"type": "integer", "minimum": 0, "maximum": MAX_ID}
                    if f"<int:{name}>" in spec.rule
                    else {"type": "string"}
                ),
            }
            for name in re.findall(r"<(?:\w+:)?(\w+)>", spec.rule)
        ]
        if spec.query is not None:
            for name, field in spec.query.model_fields.items():
                schema = spec.query.model_json_schema()["properties"][name]
                params.append(
                    {"name": name, "in": "query", "required": field.is_required(), "schema": schema}
                )
        if params:
            operation["parameters"] = params
        if spec.form is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": spec.form}},
            }
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(spec.body, refs)}},
            }
        responses: dict[str, Any] = {}
        if spec.produces:
            responses[str(spec.status)] = {
                "description": "Success",
                "content": {media: {"schema": schema} for media, schema in spec.produces.items()},
            }
        elif spec.status == 204 or spec.response is None:
            responses[str(spec.status if spec.status != 200 else 204)] = {"description": "Done"}
        else:
            responses[str(spec.status)] = {
                "description": "Success",
                "content": {"application/json": {"schema": _schema_ref(spec.response, refs)}},
            }
        codes = set(spec.errors) | {400, 404} | ({401, 403} if spec.auth else set())
        if spec.body is not None or spec.form is not None:
            codes.add(413)
        for code in sorted(codes):
            responses[str(code)] = {
                "description": STATUS_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        operation["responses"] = responses
        if spec.auth:
            operation["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
        paths.setdefault(path, {})[spec.method] = operation
    # Plugins' own routes (WHIP/WHEP, webhooks) are described by the plugins themselves.
    for path, item in plugins().api_paths.items():
        if path in paths:
            raise PluginConfigurationError(f"a plugin describes {path!r}, which is a core API path")
        paths[path] = copy.deepcopy(item)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Classroom portal API", "version": __version__},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "access_token_cookie"},
            },
        },
    }
