"""The control API's OpenAPI document: FastAPI's, with the contract models' own JSON schemas for the bodies
(the routes read their bodies themselves, through :class:`~alertnode.api.request.RequestReader`) and the error
answers every operation can really give.

Rules for the error answers (all of them ``ErrorResponse``), applied to every operation, the extensions' too:

* an operation that needs a key (``security`` not ``[]``) can answer 401;
* one with a body can answer 400 (not JSON, not an object, refused by its model) and 413 (too large);
* one with query or path parameters can answer 400 (a parameter out of range: the node never answers 422);
* one whose path names an ``{alertRef}`` can answer 404 (unknown or past its lifetime).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from alertnode.contract.sendalert import ErrorResponse

PUBLIC: dict[str, Any] = {"security": []}
"""``openapi_extra`` of an operation that needs no API key (health checks)"""

_ERRORS = {
    "400": "The request is not valid: every problem with its JSON path.",
    "401": "Missing or wrong API key.",
    "404": "No such alert (unknown or past its lifetime).",
    "413": "The request body is larger than api.max_body_bytes.",
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose JSON body ``model`` checks (the route reads the body itself)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def error_statuses(path: str, operation: dict[str, Any], secured_by_default: bool) -> list[str]:
    """The error statuses ``operation`` on ``path`` can answer, by the rules of this module."""
    statuses = []
    secured = operation.get("security", [{}] if secured_by_default else []) != []
    if operation.get("parameters") or "requestBody" in operation:
        statuses.append("400")
    if secured:
        statuses.append("401")
    if "{alertRef}" in path:
        statuses.append("404")
    if "requestBody" in operation:
        statuses.append("413")
    return statuses


def unique_operation_ids(schema: dict[str, Any]) -> None:
    """An operation id shared by several operations (one route with several methods) gets each operation's
    method appended, so every id names one operation (OpenAPI 3.1 §4.8.10)."""
    seen: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for item in schema.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is not None and "operationId" in operation:
                seen.setdefault(operation["operationId"], []).append((method, operation))
    for op_id, operations in seen.items():
        if len(operations) > 1:
            for method, operation in operations:
                operation["operationId"] = f"{op_id}_{method}"


def document_errors(schema: dict[str, Any]) -> None:
    """Give every operation the error answers it can give, and drop FastAPI's 422 (the node answers 400)."""
    error = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}}}}
    secured_by_default = bool(schema.get("security"))
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status in error_statuses(path, operation, secured_by_default):
                responses.setdefault(status, {"description": _ERRORS[status], **error})
    comps = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        comps.pop(unused, None)


def build(app: FastAPI, body_models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """The OpenAPI document of ``app``, whose routes read their bodies with ``body_models``."""
    with warnings.catch_warnings():
        # FastAPI warns about a route with several methods sharing its id: unique_operation_ids settles it below
        warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [*body_models, ErrorResponse]
    for model in models:
        js = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        for name, sub in js.pop("$defs", {}).items():
            comps[name] = sub
        comps[model.__name__] = js
    schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    schema["security"] = [{"bearer": []}]
    unique_operation_ids(schema)
    document_errors(schema)
    return schema
