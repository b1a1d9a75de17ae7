"""The engine API (Starlette): flows, runs and their event streams, step-debugging, deployments,
run retention and the gateway's administration, for the studio and the CLI alike, on a local
runtime or a server. This module assembles the route groups (the `*_routes` modules) into one
app with the gateway's MCP endpoints and the scheduler.

Every route declares the least role it needs (viewer, developer or admin: engine.api.members)
and wants a member's token (`Authorization: Bearer ...`), but for the health check, the OpenAPI
schema, endpoints (which check their API key) and webhooks (their signature). Host and Origin
are checked against DNS rebinding (engine.api.routing); an address sending bad tokens gets 429
after a few (engine.httpguard.FailedAuth); a body past its route's limit gets 413 before it is
stored (engine.api.limits); event streams end when the server stops (engine.api.streams).
Errors are JSON objects `{"error": code, "message": text}` that a person can read; never a
traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount

from engine import __version__
from engine.api.deployment_routes import DeploymentRoutes
from engine.api.deployments import Deployments
from engine.api.gateway_routes import GatewayRoutes
from engine.api.limits import BodyLimit, BodyLimits, EndpointKeys
from engine.api.member_routes import MemberRoutes
from engine.api.members import PUBLIC, Members
from engine.api.openapi import describe_api
from engine.api.retention_routes import RetentionRoutes
from engine.api.routing import Guard
from engine.api.run_routes import RunRoutes
from engine.api.schedules import Scheduler
from engine.api.streams import StreamCloser, Streams
from engine.api.trigger_routes import TriggerRoutes
from engine.gateway.core import Gateway
from engine.gateway.server import GatewayApp
from engine.gateway.tokens import ServerTokens
from engine.httpguard import LOCAL_HOSTS, HostCheck
from engine.run.durable import DurableRuntime


class EngineApi:
    """The API over one durable runtime and one gateway; `app` is what uvicorn serves (the
    gateway's MCP endpoints are mounted too, so editors keep working against a runtime).

    The server's members (in the gateway's database) may call it, and so may `runtime_token`,
    the desktop runtime's own admin token, when there is one."""

    def __init__(
        self,
        runtime: DurableRuntime,
        gateway: Gateway,
        runtime_token: str | None = None,
        *,
        hosts: tuple[str, ...] = LOCAL_HOSTS,
        limits: BodyLimits | None = None,
        allow_stdio_servers: bool | None = None,
    ) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.members = Members(ServerTokens(gateway.engine), runtime_token)
        # Stdio servers over the API: the desktop's own admin may add them; a server's admins
        # only where its operator allowed it (engine.api.gateway_routes).
        self.allow_stdio_servers = (
            runtime_token is not None if allow_stdio_servers is None else allow_stdio_servers
        )
        self.host_check = HostCheck(hosts)
        self.mcp = GatewayApp(gateway, hosts=hosts)
        self.deployments = Deployments(gateway.engine)
        self.scheduler = Scheduler(self.deployments, runtime)
        self.streams = Streams()
        routes = self._routes()
        self.openapi_document = describe_api(routes)
        self.app = Starlette(
            routes=[*routes, Mount("/", app=self.mcp.app)],
            middleware=[
                Middleware(StreamCloser, streams=self.streams),
                Middleware(BodyLimit, limits=limits or BodyLimits.from_environment()),
                Middleware(EndpointKeys, failed=self.mcp.failed),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.mcp.running(), self.scheduler.running():
            yield

    def _routes(self) -> list[BaseRoute]:
        """Each route with the least role it needs: viewers read; developers run, debug and
        deploy flows and manage servers (as in the gateway); admins do everything."""
        route = Guard(self.members, self.host_check, self.mcp.failed).route
        groups = (
            MemberRoutes(self.members, self.gateway),
            RunRoutes(self.runtime),
            DeploymentRoutes(self.deployments),
            TriggerRoutes(self.runtime, self.deployments, self.gateway, self.members),
            GatewayRoutes(self.gateway, allow_stdio=self.allow_stdio_servers),
            RetentionRoutes(self.runtime, self.gateway.engine),
        )
        return [
            route("/api/health", self.health, ["GET"], PUBLIC),
            route("/api/openapi.json", self.openapi, ["GET"], PUBLIC),
            *(r for group in groups for r in group.routes(route)),
        ]

    async def health(self, _request: Request) -> Response:
        """
        summary: Is the runtime up
        responses:
          200: {description: "status and version"}
        """
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(self, _request: Request) -> Response:
        """
        summary: This API's OpenAPI schema
        """
        return JSONResponse(self.openapi_document)
