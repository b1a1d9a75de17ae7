"""Routes of the gateway's administration: workspaces, their servers and tools, secrets (write
only), tokens, the call log and usage, and the entry an editor pastes to reach a workspace."""

from __future__ import annotations

import time
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.errors import ApiError, json_body, positive_seconds, unix_time, whole_number
from engine.api.members import ADMIN, DEVELOPER, VIEWER, caller, check_workspace
from engine.api.routing import Router
from engine.gateway.core import Gateway
from engine.gateway.rates import Rates, check_rate, effective

STDIO_SETTING = "--allow-stdio-servers"
STDIO_ENV = "AEROSTUDIO_ALLOW_STDIO_SERVERS"


def _slug(request: Request) -> str:
    """The path's workspace, once the caller is known to belong to it (else a 403)."""
    slug: str = request.path_params["slug"]
    check_workspace(caller(request), slug)
    return slug


class GatewayRoutes:
    """As in the gateway: developers manage remote servers and switch tools; servers that are
    commands run on this host, so only admins add, switch or remove them, and add or switch
    them on only where the server's operator allowed it (`allow_stdio`); secrets and tokens
    are for admins. Every route of a workspace wants a member of it."""

    def __init__(self, gateway: Gateway, *, allow_stdio: bool = False) -> None:
        self.gateway = gateway
        self.allow_stdio = allow_stdio

    @staticmethod
    def _admin_for_stdio(request: Request, action: str, also: str = "") -> None:
        """A 403 unless the caller is an admin: a stdio server is a command run on this host."""
        member = caller(request)
        if member.role != ADMIN:
            raise ApiError(
                403,
                "forbidden",
                f"{action} a stdio server (a command run on this host) needs the admin role"
                f"{also}; member '{member.name}' is {member.role}",
            )

    def _check_stdio(self, request: Request, action: str) -> None:
        """A 403 unless the caller may start a new or changed command on this host: an admin,
        on a server whose operator allowed it."""
        self._admin_for_stdio(request, action, f", and a server started with {STDIO_SETTING}")
        if not self.allow_stdio:
            raise ApiError(
                403,
                "stdio_servers_off",
                f"{action} a stdio server over the API is off on this server: its operator "
                f"can allow it with `aerostudio serve {STDIO_SETTING}` ({STDIO_ENV}=1), or "
                "add it on the host with `aerostudio server add`",
            )

    def routes(self, route: Router) -> list[Route]:
        return [
            route("/api/workspaces", self.list_workspaces, ["GET"], VIEWER),
            route("/api/workspaces", self.create_workspace, ["POST"], ADMIN),
            route("/api/workspaces/{slug}/servers", self.list_servers, ["GET"], VIEWER),
            route("/api/workspaces/{slug}/servers", self.add_server, ["POST"], DEVELOPER),
            route(
                "/api/workspaces/{slug}/servers/{name}", self.change_server, ["PATCH"], DEVELOPER
            ),
            route(
                "/api/workspaces/{slug}/servers/{name}", self.remove_server, ["DELETE"], DEVELOPER
            ),
            route(
                "/api/workspaces/{slug}/servers/{name}/tools", self.server_tools, ["GET"], DEVELOPER
            ),
            route("/api/workspaces/{slug}/tools", self.list_tools, ["GET"], VIEWER),
            route("/api/workspaces/{slug}/secrets", self.list_secrets, ["GET"], VIEWER),
            route("/api/workspaces/{slug}/secrets/{name}", self.set_secret, ["PUT"], ADMIN),
            route("/api/workspaces/{slug}/secrets/{name}", self.delete_secret, ["DELETE"], ADMIN),
            route("/api/workspaces/{slug}/tokens", self.list_tokens, ["GET"], ADMIN),
            route("/api/workspaces/{slug}/tokens", self.create_token, ["POST"], ADMIN),
            route("/api/workspaces/{slug}/tokens/{token_id}", self.revoke_token, ["DELETE"], ADMIN),
            route("/api/workspaces/{slug}/tokens/{token_id}", self.token_rate, ["PATCH"], ADMIN),
            route("/api/workspaces/{slug}/rate-limit", self.rate_limit, ["GET"], VIEWER),
            route("/api/workspaces/{slug}/rate-limit", self.set_rate_limit, ["PUT"], ADMIN),
            route("/api/workspaces/{slug}/usage", self.usage, ["GET"], VIEWER),
            route("/api/workspaces/{slug}/calls", self.calls, ["GET"], VIEWER),
            route(
                "/api/workspaces/{slug}/client-config/{editor}",
                self.client_config,
                ["POST"],
                VIEWER,
            ),
        ]

    async def list_workspaces(self, request: Request) -> Response:
        """
        summary: The workspaces the caller belongs to
        """
        member = caller(request)
        stored = [
            {"slug": w.slug, "name": w.name, "builtin": False}
            for w in self.gateway.workspaces.all()
            if member.may_use(w.slug)
        ]
        known = {w["slug"] for w in stored}
        builtin = [
            {"slug": slug, "name": slug, "builtin": True}
            for slug in sorted(self.gateway.builtin)
            if slug not in known and member.may_use(slug)
        ]
        return JSONResponse({"workspaces": stored + builtin})

    async def create_workspace(self, request: Request) -> Response:
        """
        summary: Create a workspace
        requestBody:
          schema: {type: object, required: [name], properties: {name: {type: string}}}
        """
        workspace = self.gateway.workspaces.create(str((await json_body(request)).get("name", "")))
        return JSONResponse({"slug": workspace.slug, "name": workspace.name}, status_code=201)

    async def list_servers(self, request: Request) -> Response:
        """
        summary: A workspace's servers (secret references, never values)
        """
        slug = _slug(request)
        return JSONResponse(
            {
                "servers": [
                    {"name": s.name, "kind": s.kind, "enabled": s.enabled, "config": s.config}
                    for s in self.gateway.workspaces.servers(slug)
                ]
            }
        )

    async def add_server(self, request: Request) -> Response:
        """
        summary: Add a server
        requestBody:
          description: "a stdio server (command, args, env, cwd) or a remote one (url,
            transport, headers); env and header values are strings or {secret: NAME}"
          schema: {type: object, required: [name, config], properties: {name: {type: string},
            config: {type: object, properties: {command: {type: string},
            args: {type: array, items: {type: string}}, env: {type: object},
            cwd: {type: string}, url: {type: string}, transport: {type: string},
            headers: {type: object}}}}}
        """
        slug = _slug(request)
        body = await json_body(request)
        if "command" in (body.get("config") or {}):
            self._check_stdio(request, "adding")
        server = self.gateway.workspaces.add_server(
            slug, str(body.get("name", "")), body.get("config") or {}
        )
        await self.gateway.notify(slug)
        return JSONResponse({"name": server.name, "kind": server.kind}, status_code=201)

    async def change_server(self, request: Request) -> Response:
        """
        summary: Enable or disable a server, or one of its tools
        description: Switching a stdio server on takes what adding one does (an admin, and
          the server's setting), switching it off an admin; its tools are a developer's.
        requestBody:
          schema: {type: object, properties: {enabled: {type: boolean, default: true},
            tool: {type: string}}}
        """
        slug, name = _slug(request), request.path_params["name"]
        stdio = self.gateway.workspaces.server(slug, name).kind == "stdio"
        body = await json_body(request)
        enabled = bool(body.get("enabled", True))
        if stdio and not body.get("tool"):
            if enabled:
                self._check_stdio(request, "switching on")
            else:
                self._admin_for_stdio(request, "switching off")
        if body.get("tool"):
            self.gateway.workspaces.set_tool_enabled(slug, name, str(body["tool"]), enabled)
            await self.gateway.notify(slug)
        else:
            self.gateway.workspaces.set_enabled(slug, name, enabled)
            if not enabled:
                await self.gateway.stop_server(slug, name)
            else:
                await self.gateway.notify(slug)
        return JSONResponse({"name": name, "enabled": enabled})

    async def remove_server(self, request: Request) -> Response:
        """
        summary: Remove a server
        """
        slug, name = _slug(request), request.path_params["name"]
        if self.gateway.workspaces.server(slug, name).kind == "stdio":
            self._admin_for_stdio(request, "removing")
        self.gateway.workspaces.remove_server(slug, name)
        await self.gateway.stop_server(slug, name)
        return JSONResponse({"removed": name})

    async def server_tools(self, request: Request) -> Response:
        """
        summary: Connect to one server and list its tools (a connection test)
        description: Every tool the server offers, switched off ones included, with its
          annotations; 502 with the reason (secret values redacted) when it does not answer.
        responses:
          200: {description: "{server, latency_ms, tools: [{name, description, read_only,
            destructive, enabled}]}"}
          502: {description: "the server did not start or answer"}
        """
        from engine.gateway.calllog import redact

        slug, name = _slug(request), request.path_params["name"]
        started = time.perf_counter()
        try:
            tools = await (await self.gateway.upstream(slug, name)).list_tools()
        except LookupError:
            raise  # no such (enabled) server: a 404
        except Exception as exc:  # the upstream's failure, whatever it is, is the answer
            reason = redact(str(exc) or type(exc).__name__, self.gateway.vault.values(slug))
            raise ApiError(502, "server_unavailable", reason) from None
        disabled = self.gateway.workspaces.disabled_tools(slug)
        return JSONResponse(
            {
                "server": name,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "tools": [
                    {
                        "name": t.name,
                        "description": t.description or "",
                        "read_only": bool(t.annotations and t.annotations.read_only_hint),
                        "destructive": bool(t.annotations and t.annotations.destructive_hint),
                        "enabled": (name, t.name) not in disabled,
                    }
                    for t in tools
                ],
            }
        )

    async def list_tools(self, request: Request) -> Response:
        """
        summary: The workspace's tools (starts its servers), with annotations
        """
        tools = await self.gateway.list_tools(_slug(request))
        return JSONResponse(
            {
                "tools": [
                    {
                        "name": t.name,
                        "server": t.server,
                        "description": t.description,
                        "read_only": t.read_only,
                        "destructive": t.destructive,
                        "input_schema": t.input_schema,
                    }
                    for t in tools
                ]
            }
        )

    async def list_secrets(self, request: Request) -> Response:
        """
        summary: Secret names and dates (values are write-only)
        """
        entries = self.gateway.vault.entries(_slug(request))
        return JSONResponse({"secrets": [e.__dict__ for e in entries]})

    async def set_secret(self, request: Request) -> Response:
        """
        summary: Set a secret
        requestBody:
          schema: {type: object, required: [value], properties: {value: {type: string}}}
        """
        slug, name = _slug(request), request.path_params["name"]
        value = (await json_body(request)).get("value")
        if not isinstance(value, str) or not value:
            raise ApiError(400, "bad_request", "value: a non-empty string")
        self.gateway.workspaces.get(slug)
        self.gateway.vault.set(slug, name, value)
        return JSONResponse({"name": name, "set": True})

    async def delete_secret(self, request: Request) -> Response:
        """
        summary: Delete a secret
        """
        self.gateway.vault.delete(_slug(request), request.path_params["name"])
        return JSONResponse({"deleted": request.path_params["name"]})

    async def list_tokens(self, request: Request) -> Response:
        """
        summary: Tokens (never the tokens themselves)
        """
        now, slug = time.time(), _slug(request)
        tokens = self.gateway.tokens.all(slug)
        workspace_rate = Rates(self.gateway.engine).workspace(slug)
        return JSONResponse(
            {
                "tokens": [
                    {
                        **t.__dict__,
                        "state": t.state(now),
                        "effective_rate_per_minute": effective(t.rate_per_minute, workspace_rate),
                    }
                    for t in tokens
                ]
            }
        )

    async def create_token(self, request: Request) -> Response:
        """
        summary: Create a token; the answer holds it once
        requestBody:
          schema: {type: object, required: [member, role], properties: {member: {type: string},
            role: {type: string, enum: [admin, developer, viewer]},
            expires_in_s: {type: number}, rate_per_minute: {type: integer, minimum: 1}}}
        """
        slug = _slug(request)
        self.gateway.workspaces.get(slug)
        body = await json_body(request)
        rate = check_rate(body.get("rate_per_minute"), "rate_per_minute")
        info, token = self.gateway.tokens.create(
            slug,
            str(body.get("member", "")),
            str(body.get("role", "")),
            positive_seconds(body.get("expires_in_s"), "expires_in_s"),
        )
        if rate is not None:
            Rates(self.gateway.engine).set_token(slug, info.id, rate)
            info = replace(info, rate_per_minute=rate)
        return JSONResponse({**info.__dict__, "token": token}, status_code=201)

    async def token_rate(self, request: Request) -> Response:
        """
        summary: Set a token's own rate limit (tool calls a minute; null for its workspace's)
        requestBody:
          schema: {type: object, required: [rate_per_minute],
            properties: {rate_per_minute: {type: integer, nullable: true, minimum: 1,
              maximum: 1000000000}}}
        """
        slug, token_id = _slug(request), request.path_params["token_id"]
        body = await json_body(request)
        if "rate_per_minute" not in body:
            raise ApiError(400, "bad_request", "rate_per_minute: calls a minute, or null")
        rates = Rates(self.gateway.engine)
        rate = check_rate(body["rate_per_minute"], "rate_per_minute")
        rates.set_token(slug, token_id, rate)
        return JSONResponse(
            {
                "id": token_id,
                "rate_per_minute": rate,
                "effective_rate_per_minute": effective(rate, rates.workspace(slug)),
            }
        )

    async def rate_limit(self, request: Request) -> Response:
        """
        summary: The workspace's rate limit per token (null where it has the gateway's default)
        """
        slug = _slug(request)
        if slug not in self.gateway.builtin:
            self.gateway.workspaces.get(slug)
        own = Rates(self.gateway.engine).workspace(slug)
        return JSONResponse(
            {"rate_per_minute": own, "effective_rate_per_minute": effective(None, own)}
        )

    async def set_rate_limit(self, request: Request) -> Response:
        """
        summary: Set the workspace's rate limit per token (null for the gateway's default)
        requestBody:
          schema: {type: object, required: [rate_per_minute],
            properties: {rate_per_minute: {type: integer, nullable: true, minimum: 1,
              maximum: 1000000000}}}
        """
        slug = _slug(request)
        self.gateway.workspaces.get(slug)
        body = await json_body(request)
        if "rate_per_minute" not in body:
            raise ApiError(400, "bad_request", "rate_per_minute: calls a minute, or null")
        rate = check_rate(body["rate_per_minute"], "rate_per_minute")
        Rates(self.gateway.engine).set_workspace(slug, rate)
        return JSONResponse(
            {"rate_per_minute": rate, "effective_rate_per_minute": effective(None, rate)}
        )

    async def revoke_token(self, request: Request) -> Response:
        """
        summary: Revoke a token (connected clients are cut off at their next request)
        """
        self.gateway.tokens.revoke(_slug(request), request.path_params["token_id"])
        return JSONResponse({"revoked": request.path_params["token_id"]})

    async def usage(self, request: Request) -> Response:
        """
        summary: Calls, error rate and latency per member, tool and server
        parameters:
          - {name: since, in: query, schema: {type: number}, description: "a Unix time"}
        """
        since = unix_time(request.query_params.get("since"), "since")
        report = self.gateway.log.usage(_slug(request), since)
        return JSONResponse(report)

    async def calls(self, request: Request) -> Response:
        """
        summary: The call log, newest first
        parameters:
          - {name: tool, in: query, schema: {type: string}}
          - {name: server, in: query, schema: {type: string}}
          - {name: member, in: query, schema: {type: string}}
          - {name: outcome, in: query, schema: {type: string}}
          - {name: since, in: query, schema: {type: number}}
          - {name: limit, in: query, schema: {type: integer}}
        """
        query = request.query_params
        entries = self.gateway.log.entries(
            _slug(request),
            since=unix_time(query.get("since"), "since"),
            tool=query.get("tool"),
            server=query.get("server"),
            member=query.get("member"),
            outcome=query.get("outcome"),
            limit=whole_number(query.get("limit"), "limit", 100, high=1000),
        )
        return JSONResponse({"calls": [c.__dict__ for c in entries]})

    async def client_config(self, request: Request) -> Response:
        """
        summary: The entry an editor pastes to reach the workspace through this gateway
        description: For claude, cursor, vscode or windsurf, with the token of the body or a
          <TOKEN> placeholder; a POST, so that a token travels in a body, never in a URL.
        requestBody:
          schema: {type: object, properties: {token: {type: string}}}
        responses:
          200: {description: "{editor, url, config, where}: where is the file to paste into"}
        """
        from engine.gateway.editors import WHERE_TO_PASTE, client_config

        slug, editor = _slug(request), request.path_params["editor"]
        if slug not in self.gateway.builtin:
            self.gateway.workspaces.get(slug)
        body = await json_body(request) if await request.body() else {}
        token = str(body.get("token") or "<TOKEN>")
        url = f"{str(request.base_url).rstrip('/')}/ws/{slug}/mcp"
        config = client_config(editor, url, token, slug)
        return JSONResponse(
            {"editor": editor, "url": url, "config": config, "where": WHERE_TO_PASTE[editor]}
        )
