"""How large a request body the engine API takes, per route: 1 MiB for JSON bodies, webhooks
and endpoint calls (`AEROSTUDIO_MAX_BODY_BYTES`), more for the routes that carry a whole flow
document and for the gateway's MCP endpoints (`AEROSTUDIO_MAX_FLOW_BODY_BYTES`, 16 MiB).

A body over its route's limit is refused with 413 before it is stored anywhere: at once when
its Content-Length says so (nothing of it is read), else as soon as the bytes read while it
streams in (a chunked body) pass the limit. Bad API keys on endpoints count against the
caller's address as bad tokens do elsewhere (`EndpointKeys`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.errors import ApiError
from engine.httpguard import FailedAuth, client_address, too_many_failures

MIB = 1024 * 1024
BODY_ENV = "AEROSTUDIO_MAX_BODY_BYTES"
FLOW_BODY_ENV = "AEROSTUDIO_MAX_FLOW_BODY_BYTES"
FLOW_ROUTES = ("/api/runs", "/api/flows/validate", "/api/deployments")  # exact paths


class BodyTooLarge(ApiError):
    """A request body past its route's limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "body_too_large",
            f"the request body is larger than this route takes ({limit:,} bytes; "
            f"a server sets it with {BODY_ENV} or {FLOW_BODY_ENV})",
        )


def _bytes(environ: Mapping[str, str], name: str, default: int) -> int:
    """A positive byte count from the environment, or a ValueError naming the variable."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name}: a positive number of bytes, not '{text}'")
    return value


@dataclass(frozen=True)
class BodyLimits:
    """The limit of each route: `flow` bytes for the flow routes and the MCP endpoints,
    `body` for every other."""

    body: int = MIB
    flow: int = 16 * MIB

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> BodyLimits:
        environ = os.environ if environ is None else environ
        return cls(_bytes(environ, BODY_ENV, cls.body), _bytes(environ, FLOW_BODY_ENV, cls.flow))

    def of(self, path: str) -> int:
        if path in FLOW_ROUTES or path.startswith("/ws/"):
            return self.flow
        return self.body


class BodyLimit:
    """ASGI middleware refusing bodies past their route's limit with 413."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(str(scope.get("path", "")))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(BodyTooLarge(limit), scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(exc, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    """The 413, and the connection closed after it (the client may still be sending)."""
    response = JSONResponse(
        {"error": exc.code, "message": exc.message},
        status_code=exc.status,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


class EndpointKeys:
    """ASGI middleware counting an endpoint's refused API keys (its 401s to a request with a
    Bearer token) against the caller's address, as the guard does for the other routes: past
    the limit the 401 becomes a 429 with Retry-After. A good key is never held back."""

    def __init__(self, app: ASGIApp, failed: FailedAuth, prefix: str = "/api/run/") -> None:
        self.app = app
        self.failed = failed
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        keyed = any(
            name.lower() == b"authorization" and value[:7].lower() == b"bearer "
            for name, value in scope.get("headers", [])
        )
        replaced = False

        async def watched(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 401 and keyed:
                wait = self.failed.failed(client_address(scope))
                if wait:
                    replaced = True
                    await too_many_failures(wait)(scope, receive, send)
                    return
            if not replaced:
                await send(message)

        await self.app(scope, receive, watched)
