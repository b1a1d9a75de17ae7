"""The engine API (Starlette): flows, runs and their event streams, step-debugging, and the
gateway's administration, for the studio and the CLI alike, on a local runtime or a server.

Every route but `/api/health` and the OpenAPI schema needs the admin token (`Authorization:
Bearer ...`); Host and Origin are checked against DNS rebinding. Errors are JSON objects
`{"error": code, "message": text}` that a person can read; never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.schemas import SchemaGenerator

from engine import __version__
from engine.api import webhooks
from engine.api.deployments import DeploymentRefused, Deployments
from engine.flow import Flow, Node
from engine.gateway.core import Gateway
from engine.gateway.server import GatewayApp
from engine.httpguard import LOCAL_HOSTS, HostCheck
from engine.run.durable import DurableRuntime
from engine.run.events import node_table

FINISHED = ("succeeded", "failed", "cancelled")


def _after(seq: int) -> Callable[[dict[str, Any]], bool]:
    return lambda event: int(event["seq"]) > seq


def _bearer(headers: dict[str, str]) -> str:
    given = headers.get("authorization", "")
    return given[7:].strip() if given.lower().startswith("bearer ") else ""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the request body must be a JSON object")
    return body


def _flow(body: dict[str, Any]) -> Flow:
    """The request's `flow` document, or a 422 naming what is wrong with it."""
    from engine.flow import FlowLoadError, from_document

    try:
        return from_document(body.get("flow"))
    except FlowLoadError as exc:
        raise ApiError(422, "invalid_flow", str(exc)) from None


Handler = Callable[[Request], Awaitable[Response]]


class EngineApi:
    """The API over one durable runtime and one gateway; `app` is what uvicorn serves (the
    gateway's MCP endpoints are mounted too, so editors keep working against a runtime)."""

    def __init__(
        self,
        runtime: DurableRuntime,
        gateway: Gateway,
        admin_token: str,
        *,
        hosts: tuple[str, ...] = LOCAL_HOSTS,
    ) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.admin_token = admin_token
        self.host_check = HostCheck(hosts)
        self.mcp = GatewayApp(gateway, hosts=hosts)
        self.deployments = Deployments(gateway.engine)
        self.schemas = SchemaGenerator(
            {"openapi": "3.0.0", "info": {"title": "Aerostudio engine API", "version": __version__}}
        )
        routes = self._routes()
        self.app = Starlette(
            routes=[*routes, Mount("/", app=self.mcp.app)],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.mcp.mcp.session_manager.run():
            yield

    # --------------------------------------------------------------------------------- routes

    def _routes(self) -> list[BaseRoute]:
        def route(path: str, handler: Handler, methods: list[str], public: bool = False) -> Route:
            return Route(path, self._guarded(handler, public), methods=methods)

        return [
            route("/api/health", self.health, ["GET"], public=True),
            route("/api/openapi.json", self.openapi, ["GET"], public=True),
            route("/api/flows/validate", self.validate_flow, ["POST"]),
            route("/api/runs", self.list_runs, ["GET"]),
            route("/api/runs", self.start_run, ["POST"]),
            route("/api/runs/{run_id}", self.get_run, ["GET"]),
            route("/api/runs/{run_id}/events", self.run_events, ["GET"]),
            route("/api/runs/{run_id}/cancel", self.cancel_run, ["POST"]),
            route("/api/runs/{run_id}/resume", self.resume_run, ["POST"]),
            route("/api/runs/{run_id}/debug", self.debug_run, ["POST"]),
            route("/api/deployments", self.list_deployments, ["GET"]),
            route("/api/deployments", self.deploy, ["POST"]),
            route("/api/deployments/{flow_id}/diff", self.diff_deployments, ["GET"]),
            route("/api/deployments/{flow_id}/activate", self.activate, ["POST"]),
            route("/api/deployments/{flow_id}/deactivate", self.deactivate, ["POST"]),
            route("/api/run/{slug}", self.call_endpoint, ["POST"], public=True),
            route("/hooks/{flow_id}", self.receive_webhook, ["POST"], public=True),
            route("/api/workspaces", self.list_workspaces, ["GET"]),
            route("/api/workspaces", self.create_workspace, ["POST"]),
            route("/api/workspaces/{slug}/servers", self.list_servers, ["GET"]),
            route("/api/workspaces/{slug}/servers", self.add_server, ["POST"]),
            route("/api/workspaces/{slug}/servers/{name}", self.change_server, ["PATCH"]),
            route("/api/workspaces/{slug}/servers/{name}", self.remove_server, ["DELETE"]),
            route("/api/workspaces/{slug}/tools", self.list_tools, ["GET"]),
            route("/api/workspaces/{slug}/secrets", self.list_secrets, ["GET"]),
            route("/api/workspaces/{slug}/secrets/{name}", self.set_secret, ["PUT"]),
            route("/api/workspaces/{slug}/secrets/{name}", self.delete_secret, ["DELETE"]),
            route("/api/workspaces/{slug}/tokens", self.list_tokens, ["GET"]),
            route("/api/workspaces/{slug}/tokens", self.create_token, ["POST"]),
            route("/api/workspaces/{slug}/tokens/{token_id}", self.revoke_token, ["DELETE"]),
            route("/api/workspaces/{slug}/usage", self.usage, ["GET"]),
            route("/api/workspaces/{slug}/calls", self.calls, ["GET"]),
        ]

    def _guarded(self, handler: Handler, public: bool) -> Handler:
        async def guarded(request: Request) -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            refused = self.host_check.refusal(headers)
            if refused is not None:
                return _error(*refused)
            if not public and not self._is_admin(headers):
                response = _error(401, "unauthorized", "the admin token is missing or wrong")
                response.headers["WWW-Authenticate"] = 'Bearer realm="aerostudio"'
                return response
            try:
                return await handler(request)
            except ApiError as exc:
                return _error(exc.status, exc.code, exc.message)
            except LookupError as exc:
                return _error(404, "not_found", str(exc.args[0]) if exc.args else str(exc))
            except (ValueError, TypeError) as exc:
                return _error(400, "bad_request", str(exc))

        guarded.__doc__ = handler.__doc__
        guarded.__name__ = handler.__name__
        return guarded

    def _is_admin(self, headers: dict[str, str]) -> bool:
        token = _bearer(headers)
        return hmac.compare_digest(token.encode(), self.admin_token.encode())

    # ------------------------------------------------------------------------------- general

    async def health(self, _request: Request) -> Response:
        """
        summary: Is the runtime up
        responses:
          200: {description: "status and version"}
        """
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(self, request: Request) -> Response:
        """
        summary: This API's OpenAPI schema
        """
        return self.schemas.OpenAPIResponse(request=request)

    async def validate_flow(self, request: Request) -> Response:
        """
        summary: Validate a flow document
        requestBody: {description: "{flow, tools?}"}
        responses:
          200: {description: "{issues: [{severity, code, message, node_id, field, edge_id}]}"}
        """
        from engine.flow import validate

        body = await _body(request)
        flow = _flow(body)
        issues = validate(flow, tools=body.get("tools"))
        return JSONResponse({"issues": [i.to_dict() for i in issues]})

    # ---------------------------------------------------------------------------------- runs

    async def start_run(self, request: Request) -> Response:
        """
        summary: Start a run
        requestBody: {description: "{flow, input?, trigger?, breakpoints?, from_run?, from_node?}"}
        responses:
          201: {description: "{run_id}"}
          422: {description: "the flow does not load or has errors (with the issues)"}
        """
        from engine.run import FlowInvalid

        body = await _body(request)
        flow = _flow(body)
        pinned = None
        if body.get("from_run") and body.get("from_node"):
            pinned = await asyncio.to_thread(
                self.runtime.pins_from_run, str(body["from_run"]), flow, str(body["from_node"])
            )
        try:
            handle = await self.runtime.start(
                flow,
                body.get("input"),
                trigger=body.get("trigger"),
                breakpoints=[str(b) for b in body.get("breakpoints") or []],
                pinned=pinned,
            )
        except FlowInvalid as exc:
            return JSONResponse(
                {
                    "error": "flow_has_errors",
                    "message": str(exc),
                    "issues": [i.to_dict() for i in exc.issues],
                },
                status_code=422,
            )
        return JSONResponse({"run_id": handle.run_id}, status_code=201)

    async def list_runs(self, request: Request) -> Response:
        """
        summary: Recent runs, newest first
        parameters:
          - {name: flow_id, in: query, schema: {type: string}}
          - {name: limit, in: query, schema: {type: integer}}
        """
        limit = min(500, int(request.query_params.get("limit", "50")))
        runs = await asyncio.to_thread(
            self.runtime.store.list_runs, limit, request.query_params.get("flow_id")
        )
        return JSONResponse({"runs": runs})

    def _run_row(self, run_id: str) -> dict[str, Any]:
        row = self.runtime.store.run(run_id)
        if row is None:
            raise ApiError(404, "not_found", f"no run '{run_id}'")
        return row

    async def get_run(self, request: Request) -> Response:
        """
        summary: A run with its nodes' states, outputs and errors
        """
        run_id = request.path_params["run_id"]
        if run_id in self.runtime.handles:
            self.runtime.flush(run_id)
        row = await asyncio.to_thread(self._run_row, run_id)
        events = await asyncio.to_thread(self.runtime.store.events, run_id)
        handle = self.runtime.handles.get(run_id)
        return JSONResponse(
            {
                "run_id": run_id,
                "flow_id": row["flow_id"],
                "status": row["status"],
                "input": row["input"],
                "output": row["output"],
                "error": row["error"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "nodes": node_table(events),
                "breakpoints": sorted(handle.debugger.breakpoints) if handle else [],
                "waiting": list(handle.debugger.waiting) if handle else [],
                "flow": row["flow"],
            }
        )

    async def run_events(self, request: Request) -> Response:
        """
        summary: The run's events as server-sent events, from a sequence number on
        description: Resumes after `after` (or the Last-Event-ID header); ends after run_finished.
        """
        run_id = request.path_params["run_id"]
        await asyncio.to_thread(self._run_row, run_id)
        after = int(request.query_params.get("after") or request.headers.get("last-event-id") or 0)
        return StreamingResponse(
            self._stream(run_id, after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, run_id: str, after: int) -> AsyncIterator[str]:
        """Events from memory for a run of this process, else from the store, polled."""
        seen = after
        last_beat = time.monotonic()
        while True:
            handle = self.runtime.handles.get(run_id)
            if handle is not None:
                events = handle.events.history[seen:]
            else:
                events = await asyncio.to_thread(self.runtime.store.events, run_id, seen)
            for event in events:
                if event["seq"] <= seen:
                    continue
                seen = event["seq"]
                data = json.dumps(event, default=str)
                yield f"id: {seen}\nevent: {event['type']}\ndata: {data}\n\n"
                if event["type"] == "run_finished":
                    return
            if handle is None:
                row = await asyncio.to_thread(self.runtime.store.run, run_id)
                if row is not None and row["status"] in FINISHED and not events:
                    return
            if time.monotonic() - last_beat > 15:
                last_beat = time.monotonic()
                yield ": keep-alive\n\n"
            if handle is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(handle.events.wait_for(_after(seen)), 15)
            else:
                await asyncio.sleep(self.runtime.poll_s)

    async def cancel_run(self, request: Request) -> Response:
        """
        summary: Cancel a run
        """
        run_id = request.path_params["run_id"]
        row = await asyncio.to_thread(self._run_row, run_id)
        if row["status"] in FINISHED:
            raise ApiError(409, "finished", f"run {run_id} is already {row['status']}")
        self.runtime.cancel(run_id)  # on the loop: it cancels the run's task (one quick write)
        return JSONResponse({"run_id": run_id, "cancel_requested": True})

    async def resume_run(self, request: Request) -> Response:
        """
        summary: Answer a paused run
        requestBody: {description: "{decision: approve|reject, reviewer?, comment?, form?} or
          {code} or {fire: true}, with node_id when several nodes wait"}
        """
        run_id = request.path_params["run_id"]
        row = await asyncio.to_thread(self._run_row, run_id)
        if row["status"] in FINISHED:
            raise ApiError(409, "finished", f"run {run_id} is already {row['status']}")
        body = await _body(request)
        node_id = body.pop("node_id", None)
        if body.pop("fire", False):
            if not node_id:
                raise ApiError(400, "bad_request", "fire needs node_id: the timer's node")
            body["decision"] = "fire"
        elif "code" not in body and body.get("decision") not in ("approve", "reject"):
            raise ApiError(400, "bad_request", "give decision (approve or reject), code or fire")
        await asyncio.to_thread(self.runtime.post, run_id, body, node_id)
        return JSONResponse({"run_id": run_id, "posted": True})

    async def debug_run(self, request: Request) -> Response:
        """
        summary: Step-debug a run of this runtime
        requestBody: {description: "{action: pause|step|continue|set_breakpoint|clear_breakpoint,
          node_id?}"}
        """
        run_id = request.path_params["run_id"]
        handle = self.runtime.handles.get(run_id)
        if handle is None:
            raise ApiError(409, "not_here", f"run {run_id} is not running in this runtime")
        body = await _body(request)
        action, node_id = body.get("action"), body.get("node_id")
        debugger = handle.debugger
        if action in ("set_breakpoint", "clear_breakpoint"):
            if not node_id or node_id not in handle.flow.node_map:
                raise ApiError(400, "bad_request", f"no node '{node_id}' in this run's flow")
            (debugger.set_breakpoint if action == "set_breakpoint" else debugger.clear_breakpoint)(
                node_id
            )
        elif action == "pause":
            debugger.pause()
        elif action == "step":
            debugger.step()
        elif action == "continue":
            debugger.resume()
        else:
            raise ApiError(400, "bad_request", f"unknown action '{action}'")
        return JSONResponse(
            {"breakpoints": sorted(debugger.breakpoints), "waiting": list(debugger.waiting)}
        )

    # --------------------------------------------------------------------------- deployments

    async def deploy(self, request: Request) -> Response:
        """
        summary: Deploy a flow (a new immutable version unless the content is unchanged)
        requestBody: {description: "{flow, activate? (default true)}"}
        responses:
          201: {description: "a new version"}
          200: {description: "the same content as the latest version"}
          422: {description: "the flow has errors (with the issues)"}
        """
        body = await _body(request)
        flow = _flow(body)
        try:
            deployment, created = self.deployments.deploy(flow)
        except DeploymentRefused as exc:
            return JSONResponse(
                {"error": "flow_has_errors", "message": str(exc), "issues": exc.issues},
                status_code=422,
            )
        if body.get("activate", True):
            self.deployments.activate(flow.id, deployment.version)
        record = {**deployment.__dict__, "active": bool(body.get("activate", True))}
        return JSONResponse(
            {**record, "created": created, "endpoints": _endpoints(flow)},
            status_code=201 if created else 200,
        )

    async def list_deployments(self, request: Request) -> Response:
        """
        summary: Deployed versions
        parameters:
          - {name: flow_id, in: query, schema: {type: string}}
        """
        versions = self.deployments.versions(request.query_params.get("flow_id"))
        return JSONResponse({"deployments": [d.__dict__ for d in versions]})

    async def diff_deployments(self, request: Request) -> Response:
        """
        summary: A unified diff between two versions
        parameters:
          - {name: from, in: query, schema: {type: integer}}
          - {name: to, in: query, schema: {type: integer}}
        """
        query = request.query_params
        flow_id = request.path_params["flow_id"]
        diff = self.deployments.diff(flow_id, int(query["from"]), int(query["to"]))
        return JSONResponse({"diff": diff})

    async def activate(self, request: Request) -> Response:
        """
        summary: Activate a version (deploy it, or roll back to it)
        requestBody: {description: "{version}"}
        """
        flow_id = request.path_params["flow_id"]
        version = int((await _body(request)).get("version", 0))
        self.deployments.activate(flow_id, version)
        return JSONResponse({"flow_id": flow_id, "active": version})

    async def deactivate(self, request: Request) -> Response:
        """
        summary: Deactivate a flow (its endpoints and webhooks stop answering)
        """
        flow_id = request.path_params["flow_id"]
        self.deployments.deactivate(flow_id)
        return JSONResponse({"flow_id": flow_id, "active": None})

    def _endpoint(self, slug: str) -> tuple[Flow, Node]:
        for flow in self.deployments.active():
            for node in flow.nodes:
                endpoint = node.config.get("endpoint") or {}
                if node.type == "trigger" and endpoint.get("slug") == slug:
                    return flow, node
        raise ApiError(404, "not_found", f"no active endpoint '{slug}'")

    async def call_endpoint(self, request: Request) -> Response:
        """
        summary: Run a deployed flow through its endpoint trigger
        description: JSON answer after the run (or its id if it takes longer than `wait`
          seconds), or the run's events as SSE with `Accept text/event-stream`.
        parameters:
          - {name: wait, in: query, schema: {type: number}}
        """
        flow, trigger = self._endpoint(request.path_params["slug"])
        settings = trigger.config["endpoint"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        if settings.get("auth", "api_key") != "public" and not self._may_call(headers, flow):
            return _error(401, "unauthorized", "this endpoint needs an API key (Bearer token)")
        payload = await request.json() if await request.body() else {}
        handle = await self.runtime.start(flow, payload, trigger=trigger.id)
        if "text/event-stream" in headers.get("accept", "") or settings.get("stream"):
            return StreamingResponse(
                self._stream(handle.run_id, 0),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Run-Id": handle.run_id},
            )
        wait = min(300.0, float(request.query_params.get("wait", "30")))
        try:
            result = await asyncio.wait_for(handle.result(), wait)
        except TimeoutError:
            return JSONResponse(
                {
                    "run_id": handle.run_id,
                    "status": "running",
                    "poll": f"/api/runs/{handle.run_id}",
                },
                status_code=202,
            )
        return JSONResponse(
            {
                "run_id": handle.run_id,
                "status": result.status,
                "output": result.output,
                "error": result.error,
            }
        )

    def _may_call(self, headers: dict[str, str], flow: Flow) -> bool:
        """The admin token, or a member token of the flow's workspace."""
        if self._is_admin(headers):
            return True
        try:
            self.gateway.tokens.authenticate(_bearer(headers), flow.workspace or "")
        except PermissionError:
            return False
        return True

    async def receive_webhook(self, request: Request) -> Response:
        """
        summary: A webhook delivery for a deployed flow
        description: The signature is checked by the trigger's source scheme (401 if wrong);
          a delivery seen before does not run again; the run starts in the background.
        """
        flow_id = request.path_params["flow_id"]
        try:
            flow = self.deployments.flow(flow_id)
        except LookupError:
            raise ApiError(404, "not_found", f"no active flow '{flow_id}'") from None
        trigger = next(
            (n for n in flow.nodes if n.type == "trigger" and n.config.get("kind") == "webhook"),
            None,
        )
        if trigger is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' has no webhook trigger")
        settings = trigger.config.get("webhook") or {}
        secret_ref = settings.get("secret")
        secret = (
            self.gateway.vault.get(flow.workspace or "", str(secret_ref["secret"]))
            if secret_ref
            else None
        )
        body = await request.body()
        try:
            delivery = webhooks.verify(
                settings.get("source", "generic"), secret, dict(request.headers), body
            )
        except webhooks.SignatureError as exc:
            return _error(401, "bad_signature", str(exc))
        if not webhooks.accepts(settings.get("events") or [], delivery):
            return JSONResponse({"ignored": delivery.event}, status_code=202)
        run_id = uuid.uuid4().hex
        earlier = self.deployments.first_delivery(flow_id, delivery.delivery_id, run_id)
        if earlier is not None:
            return JSONResponse({"duplicate": True, "run_id": earlier})
        await self.runtime.start(flow, delivery.payload, run_id=run_id, trigger=trigger.id)
        return JSONResponse({"run_id": run_id}, status_code=202)

    # ------------------------------------------------------------------------ administration

    async def list_workspaces(self, _request: Request) -> Response:
        """
        summary: Workspaces
        """
        stored = [
            {"slug": w.slug, "name": w.name, "builtin": False}
            for w in self.gateway.workspaces.all()
        ]
        known = {w["slug"] for w in stored}
        builtin = [
            {"slug": slug, "name": slug, "builtin": True}
            for slug in sorted(self.gateway.builtin)
            if slug not in known
        ]
        return JSONResponse({"workspaces": stored + builtin})

    async def create_workspace(self, request: Request) -> Response:
        """
        summary: Create a workspace
        requestBody: {description: "{name}"}
        """
        workspace = self.gateway.workspaces.create(str((await _body(request)).get("name", "")))
        return JSONResponse({"slug": workspace.slug, "name": workspace.name}, status_code=201)

    async def list_servers(self, request: Request) -> Response:
        """
        summary: A workspace's servers (secret references, never values)
        """
        slug = request.path_params["slug"]
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
        requestBody: {description: "{name, config: {command, args, env, cwd} or {url, transport,
          headers}}"}
        """
        slug = request.path_params["slug"]
        body = await _body(request)
        server = self.gateway.workspaces.add_server(
            slug, str(body.get("name", "")), body.get("config") or {}
        )
        await self.gateway.notify(slug)
        return JSONResponse({"name": server.name, "kind": server.kind}, status_code=201)

    async def change_server(self, request: Request) -> Response:
        """
        summary: Enable or disable a server, or one of its tools
        requestBody: {description: "{enabled, tool?}"}
        """
        slug, name = request.path_params["slug"], request.path_params["name"]
        body = await _body(request)
        enabled = bool(body.get("enabled", True))
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
        slug, name = request.path_params["slug"], request.path_params["name"]
        self.gateway.workspaces.remove_server(slug, name)
        await self.gateway.stop_server(slug, name)
        return JSONResponse({"removed": name})

    async def list_tools(self, request: Request) -> Response:
        """
        summary: The workspace's tools (starts its servers), with annotations
        """
        tools = await self.gateway.list_tools(request.path_params["slug"])
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
        entries = self.gateway.vault.entries(request.path_params["slug"])
        return JSONResponse({"secrets": [e.__dict__ for e in entries]})

    async def set_secret(self, request: Request) -> Response:
        """
        summary: Set a secret
        requestBody: {description: "{value}"}
        """
        slug, name = request.path_params["slug"], request.path_params["name"]
        value = (await _body(request)).get("value")
        if not isinstance(value, str) or not value:
            raise ApiError(400, "bad_request", "value: a non-empty string")
        self.gateway.workspaces.get(slug)
        self.gateway.vault.set(slug, name, value)
        return JSONResponse({"name": name, "set": True})

    async def delete_secret(self, request: Request) -> Response:
        """
        summary: Delete a secret
        """
        self.gateway.vault.delete(request.path_params["slug"], request.path_params["name"])
        return JSONResponse({"deleted": request.path_params["name"]})

    async def list_tokens(self, request: Request) -> Response:
        """
        summary: Tokens (never the tokens themselves)
        """
        now = time.time()
        tokens = self.gateway.tokens.all(request.path_params["slug"])
        return JSONResponse({"tokens": [{**t.__dict__, "state": t.state(now)} for t in tokens]})

    async def create_token(self, request: Request) -> Response:
        """
        summary: Create a token; the answer holds it once
        requestBody: {description: "{member, role, expires_in_s?}"}
        """
        slug = request.path_params["slug"]
        self.gateway.workspaces.get(slug)
        body = await _body(request)
        expires = body.get("expires_in_s")
        info, token = self.gateway.tokens.create(
            slug,
            str(body.get("member", "")),
            str(body.get("role", "")),
            float(expires) if expires is not None else None,
        )
        return JSONResponse({**info.__dict__, "token": token}, status_code=201)

    async def revoke_token(self, request: Request) -> Response:
        """
        summary: Revoke a token (connected clients are cut off at their next request)
        """
        self.gateway.tokens.revoke(request.path_params["slug"], request.path_params["token_id"])
        return JSONResponse({"revoked": request.path_params["token_id"]})

    async def usage(self, request: Request) -> Response:
        """
        summary: Calls, error rate and latency per member, tool and server
        parameters:
          - {name: since, in: query, schema: {type: number}, description: "a Unix time"}
        """
        since = request.query_params.get("since")
        report = self.gateway.log.usage(
            request.path_params["slug"], float(since) if since else None
        )
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
            request.path_params["slug"],
            since=float(query["since"]) if query.get("since") else None,
            tool=query.get("tool"),
            server=query.get("server"),
            member=query.get("member"),
            outcome=query.get("outcome"),
            limit=min(1000, int(query.get("limit", "100"))),
        )
        return JSONResponse({"calls": [c.__dict__ for c in entries]})


def _endpoints(flow: Flow) -> list[str]:
    """The URLs a deployed flow answers on."""
    urls = []
    for node in flow.nodes:
        if node.type != "trigger":
            continue
        kind = node.config.get("kind")
        if kind == "endpoint":
            urls.append(f"/api/run/{node.config['endpoint']['slug']}")
        elif kind == "webhook":
            urls.append(f"/hooks/{flow.id}")
    return urls
