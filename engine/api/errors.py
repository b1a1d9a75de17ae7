"""How the engine API answers what it refuses: JSON `{"error": code, "message": text}` that a
person can read, never a traceback."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from engine.flow import Flow

SEQ_MAX = 2**31  # event sequence numbers and versions: past any real one, within any database


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, or a 400 saying why not."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the request body must be a JSON object")
    return body


def whole_number(value: object, name: str, default: int, *, low: int = 0, high: int) -> int:
    """A whole number from a query parameter or a body field, within [low, high] (a database
    refuses numbers past 64 bits with an error of its own), or a 400 naming the parameter."""
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"{name}: a whole number") from None
    if not low <= number <= high:
        raise ApiError(400, "bad_request", f"{name}: a whole number from {low} to {high}")
    return number


def flow_body(body: dict[str, Any]) -> Flow:
    """The request's `flow` document, or a 422 naming what is wrong with it."""
    from engine.flow import FlowLoadError, from_document

    try:
        return from_document(body.get("flow"))
    except FlowLoadError as exc:
        raise ApiError(422, "invalid_flow", str(exc)) from None
