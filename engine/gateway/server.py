"""The gateway's HTTP face: `/ws/<slug>/mcp` (streamable HTTP, for 2026-07-28 clients and for
older ones that handshake) and `/healthz`.

Before any MCP message is read, a request must come with an allowed Host and Origin (against
DNS rebinding), for a workspace that exists, with a valid bearer token of that workspace (checked
on every request, so a revoked or expired token cuts off a connected client at its next request;
both read from the database only after it changed, engine.gateway.fresh) and within its token's
rate limit (engine.gateway.rates: the token's, else its workspace's, else this app's default;
buckets kept in this process); an address sending bad tokens gets 429 after a few
(engine.httpguard.FailedAuth), and a body past 16 MiB gets 413 (engine.api.limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import mcp_types as types
from mcp import MCPError
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine import __version__
from engine.api.limits import BodyLimit, BodyLimits
from engine.gateway.core import Gateway, ToolNotFound
from engine.gateway.rates import DEFAULT_PER_MINUTE, Rates
from engine.gateway.tokens import PREFIX, AuthError, Forbidden, Member, RateLimiter
from engine.gateway.upstream import UpstreamError
from engine.gateway.workspaces import NotFound
from engine.httpguard import (
    LOCAL_HOSTS,
    FailedAuth,
    HostCheck,
    client_address,
    too_many_failures,
)

FORBIDDEN = -32003  # an implementation-defined JSON-RPC server error: the role does not allow it
NOTIFY_TIMEOUT_S = 5.0  # for one session to take a list_changed notification
# The workspace of the request being handled (set by _Guard), for lookups the SDK makes by name.
_workspace: contextvars.ContextVar[str] = contextvars.ContextVar("aerostudio_workspace")


class _GatewayServer(Server[Any]):
    """The low-level MCP server, announcing that tool, prompt and resource lists change."""

    def create_initialization_options(self, *args: Any, **kwargs: Any) -> Any:
        if not args and "notification_options" not in kwargs:
            kwargs["notification_options"] = NotificationOptions(
                prompts_changed=True, resources_changed=True, tools_changed=True
            )
        return super().create_initialization_options(*args, **kwargs)


def _member(ctx: Any) -> Member:
    member: Member = ctx.request.scope["state"]["aerostudio_member"]
    return member


class GatewayApp:
    """The ASGI app; `app` is what uvicorn serves."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        hosts: Iterable[str] = LOCAL_HOSTS,
        origins: Iterable[str] = (),
        rate_per_minute: int = DEFAULT_PER_MINUTE,
        watch_interval_s: float = 2.0,
    ) -> None:
        self.gateway = gateway
        self.host_check = HostCheck(hosts, origins)
        self.limiter = RateLimiter(rate_per_minute)
        self.rates = Rates(gateway.engine)
        self.failed = FailedAuth.from_environment()
        self.watch_interval_s = watch_interval_s
        self._sessions: dict[str, dict[str, Any]] = {}  # slug -> MCP session id -> session
        self.mcp = _GatewayServer(
            "aerostudio-gateway",
            version=__version__,
            instructions="The tools of one Aerostudio workspace, named server__tool.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            get_tool_input_schema=self._input_schema,
        )
        mcp_app = self.mcp.streamable_http_app(
            streamable_http_path="/mcp",
            # Host and Origin are checked by _Guard for every workspace route.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        gateway.on_changed(self._changed)
        self.app = Starlette(
            routes=[
                Route("/healthz", self._health),
                Mount("/ws/{slug}", app=_Guard(mcp_app, self)),
            ],
            middleware=[Middleware(BodyLimit, limits=BodyLimits.from_environment())],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The MCP sessions, and a watch on the store so that servers changed by another
        process reach connected clients as list_changed."""
        watching = asyncio.create_task(self.gateway.watch(self.watch_interval_s))
        try:
            async with self.mcp.session_manager.run():
                yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await asyncio.to_thread(self.gateway.log.flush)  # the calls not yet in the log

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.running():
            yield
        await self.gateway.aclose()

    async def _health(self, _request: Any) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    def workspace_exists(self, slug: str) -> bool:
        try:
            self.gateway.workspaces.get(slug)
        except NotFound:
            return slug in self.gateway.builtin
        return True

    async def member(self, token: str | None, slug: str) -> tuple[Member, int]:
        """The member a bearer token stands for and the token's rate limit (its own, else its
        workspace's, else this app's), its stored token and workspace read once per change of
        the database (engine.gateway.fresh) and its state checked against the clock every time."""
        tokens, fresh = self.gateway.tokens, self.gateway.fresh
        if not token or not token.startswith(PREFIX):
            return tokens.authenticate(token, slug), 0  # refused before any read
        key = ("token", slug, hashlib.sha256(token.encode()).hexdigest())
        info = await fresh.get(key, lambda: tokens.find(token, slug))
        member = tokens.admit(info, slug)
        rate = info.rate_per_minute
        if rate is None:
            rate = await fresh.get(("rate", slug), lambda: self.rates.workspace(slug))
        return member, self.limiter.per_minute if rate is None else rate

    # ------------------------------------------------------------------------------ handlers

    def _input_schema(self, tool: str) -> Mapping[str, Any] | None:
        """For the SDK's check of a call's `Mcp-Param-*` headers: from memory, where without it
        the SDK would list every tool of the workspace again for each call."""
        slug = _workspace.get(None)
        return None if slug is None else self.gateway.input_schema(slug, tool)

    def _remember(self, ctx: Any) -> str:
        """The request's workspace; older (session) clients are kept to notify of changes."""
        slug = str(ctx.request.path_params["slug"])
        session_id = ctx.request.headers.get("mcp-session-id")
        if session_id:
            self._sessions.setdefault(slug, {})[session_id] = ctx.session
        return slug

    async def _list_tools(self, ctx: Any, _params: Any) -> types.ListToolsResult:
        slug = self._remember(ctx)
        return types.ListToolsResult(tools=await self.gateway.mcp_tools(slug))

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> Any:
        slug = self._remember(ctx)
        try:
            return await self.gateway.call(slug, params.name, params.arguments or {}, _member(ctx))
        except ToolNotFound as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        except Forbidden as exc:
            raise MCPError(FORBIDDEN, str(exc)) from None
        except UpstreamError as exc:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(exc))], is_error=True
            )

    async def _list_resources(self, ctx: Any, _params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=await self.gateway.list_resources(self._remember(ctx))
        )

    async def _read_resource(
        self, ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        try:
            return await self.gateway.read_resource(self._remember(ctx), str(params.uri))
        except (ValueError, ToolNotFound, UpstreamError) as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None

    async def _list_prompts(self, ctx: Any, _params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=await self.gateway.list_prompts(self._remember(ctx)))

    async def _get_prompt(
        self, ctx: Any, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        try:
            return await self.gateway.get_prompt(self._remember(ctx), params.name, params.arguments)
        except (ToolNotFound, UpstreamError) as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None

    async def _changed(self, workspace: str) -> None:
        sessions = self._sessions.get(workspace, {})
        for session_id, session in list(sessions.items()):
            try:  # a client that stopped reading must not hold up whoever changed the tools
                await asyncio.wait_for(session.send_tool_list_changed(), NOTIFY_TIMEOUT_S)
            except Exception:  # the client has gone
                sessions.pop(session_id, None)


class _Guard:
    """Host, Origin, workspace, token and rate checks in front of the MCP app."""

    def __init__(self, app: ASGIApp, owner: GatewayApp) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = await self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        _workspace.set(str(scope["path_params"]["slug"]))
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope, headers: dict[str, str]) -> JSONResponse | None:
        owner = self.owner
        refused = owner.host_check.refusal(headers)
        if refused is not None:
            return _error(*refused)
        slug = str(scope["path_params"]["slug"])
        fresh = owner.gateway.fresh
        await fresh.check()  # a change by any process since the last request is seen now
        if not await fresh.get(("workspace", slug), lambda: owner.workspace_exists(slug)):
            return _error(404, "not_found", f"no workspace '{slug}'")
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        try:
            member, per_minute = await owner.member(token, slug)
        except AuthError as exc:
            wait = owner.failed.failed(client_address(scope)) if token else 0
            if wait:
                return too_many_failures(wait)
            response = _error(401, "unauthorized", str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="aerostudio"'
            return response
        wait = owner.limiter.take(member.token_id, per_minute=per_minute)
        if wait > 0:
            response = _error(429, "rate_limited", "too many requests for this token")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        scope.setdefault("state", {})["aerostudio_member"] = member
        return None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)
