"""The engine API's OpenAPI document: each route's docstring (Starlette's SchemaGenerator), made
complete where docstrings stay short, so that generated clients and API fuzzers can use it:
path parameters, a JSON body (`schema:` in a docstring's requestBody is short for its
`content`), a response for every operation, and the bearer scheme with the least role each
route needs (`x-aerostudio-role`)."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from engine import __version__

INFO = {"title": "Aerostudio engine API", "version": __version__}
BEARER = {"type": "http", "scheme": "bearer", "description": "a member's token (aero_...)"}


def _path_parameters(path: str, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    named = {p["name"] for p in given if p.get("in") == "path"}
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
        if name not in named
    ]


def _complete(path: str, operation: dict[str, Any], role: str) -> None:
    parameters = operation.setdefault("parameters", [])
    parameters[:0] = _path_parameters(path, parameters)
    if not parameters:
        del operation["parameters"]
    body = operation.get("requestBody")
    if body is not None and "content" not in body:
        schema = body.pop("schema", {"type": "object"})
        body["content"] = {"application/json": {"schema": schema}}
    operation.setdefault("responses", {"200": {"description": "OK"}})
    operation["x-aerostudio-role"] = role
    if role == "public":
        operation["security"] = []
    else:
        operation["responses"].setdefault("401", {"description": "no valid token"})
        operation["responses"].setdefault("403", {"description": f"needs the {role} role"})


def describe_api(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of these routes (each guarded route knows its role)."""
    schema = SchemaGenerator({"openapi": "3.0.0", "info": INFO}).get_schema(routes)
    roles = {
        (route.path, method.lower()): getattr(route.endpoint, "role", "public")
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _complete(path, operation, roles[(path, method)])
    schema["components"] = {"securitySchemes": {"bearer": BEARER}}
    schema["security"] = [{"bearer": []}]
    return schema
