"""How the engine API answers what it refuses: JSON `{"error": code, "message": text}` that a
person can read, never a traceback."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.store.text import plain_text

if TYPE_CHECKING:
    from engine.flow import Flow

SEQ_MAX = 2**31  # event sequence numbers and versions: past any real one, within any database


class ApiError(Exception):
    """An answer refusing the request; `details` are more fields of its JSON body."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **(details or {})}, status_code=status)


def _not_a_number(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is past the largest number an answer can carry")
    return number


def _plain_everywhere(value: object, where: str) -> None:
    """Every string in a JSON value, keys too, plain text (engine.store.text: no NUL character,
    which PostgreSQL refuses, so it is refused on every database alike), or a ValueError naming
    where the first one is not."""
    if isinstance(value, str):
        plain_text(value, where or "the body")
    elif isinstance(value, dict):
        for key, item in value.items():
            plain_text(key, f"a key in {where or 'the body'}")
            _plain_everywhere(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _plain_everywhere(item, f"{where}[{index}]")


async def json_value(request: Request) -> Any:
    """The request's body as JSON, or a 400 saying why not (`load_json`)."""
    return load_json(await request.body())


def load_json(raw: bytes) -> Any:
    """JSON as the standard has it (no NaN or Infinity, which no answer could carry back), its
    strings plain text; else a 400 saying why not."""
    try:
        value = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
    except ValueError as exc:  # UnicodeDecodeError too
        raise ApiError(400, "bad_json", f"the request body is not JSON: {exc}") from None
    try:
        _plain_everywhere(value, "")
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return value


def plain_parameters(request: Request) -> None:
    """A 400 naming the first path or query parameter that is not plain text (a NUL character
    reaching a PostgreSQL query fails it)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        try:
            plain_text(str(value), name)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None


async def json_body(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, or a 400 saying why not."""
    body = await json_value(request)
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


def unix_time(value: str | None, name: str) -> float | None:
    """A Unix time from a query parameter (None when left out), or a 400 naming it."""
    if not value:
        return None
    try:
        moment = float(value)
    except ValueError:
        moment = math.nan
    if not math.isfinite(moment):
        raise ApiError(400, "bad_request", f"{name}: a Unix time in seconds, not '{value}'")
    return moment


def positive_seconds(value: object, name: str) -> float | None:
    """A positive, finite number of seconds from a body field (None when left out), or a 400
    naming the field."""
    if value is None:
        return None
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer past any float
            seconds = math.inf
    if not 0 < seconds < math.inf:
        raise ApiError(400, "bad_request", f"{name}: a positive number of seconds")
    return seconds


def flow_body(body: dict[str, Any]) -> Flow:
    """The request's `flow` document, or a 422 naming what is wrong with it."""
    from engine.flow import FlowLoadError, from_document

    try:
        return from_document(body.get("flow"))
    except FlowLoadError as exc:
        raise ApiError(422, "invalid_flow", str(exc)) from None


def check_input(schema: dict[str, Any] | None, payload: Any) -> None:
    """A 422 listing where the input does not fit the trigger's input_schema (at most 20
    places), before any run is made for it: a run is for work that started."""
    if not schema:
        return
    from jsonschema import Draft202012Validator

    problems = sorted(
        Draft202012Validator(schema).iter_errors(payload), key=lambda e: list(e.absolute_path)
    )[:20]
    if not problems:
        return
    errors = [
        {"path": p.json_path.replace("$", "input", 1), "message": p.message} for p in problems
    ]
    first = errors[0]
    raise ApiError(
        422,
        "invalid_input",
        f"the input does not fit the trigger's input_schema: {first['path']}: {first['message']}",
        {"errors": errors},
    )


def confirmed_exposure(flow: Flow, confirm: object) -> None:
    """A 409 listing the triggers anyone can start (a webhook without a secret, a public
    endpoint: engine.flow.validate.exposure) unless the deploy says `confirm: true`; a flow
    with errors is left to be refused for them."""
    from engine.flow import has_errors, validate
    from engine.flow.validate.exposure import exposure_issues

    exposed = list(exposure_issues(flow))
    if not exposed or confirm is True or has_errors(validate(flow)):
        return  # a flow with errors is refused for them (422) first
    where = ", ".join(
        f"{i.node_id} ({i.code.removeprefix('trigger.').replace('_', ' ')})" for i in exposed
    )
    raise ApiError(
        409,
        "confirmation_needed",
        f"anyone who finds its URL can start flow '{flow.id}' through {where}; deploy with "
        '"confirm": true (aerostudio deploy --yes) to accept that',
        {"issues": [i.to_dict() for i in exposed]},
    )
