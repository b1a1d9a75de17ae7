"""The engine API (Starlette): flows, runs and their event streams, step-debugging, and the
gateway's administration, for the studio and the CLI alike, on a local runtime or a server.

Every route declares the least role it needs (viewer, developer or admin: engine.api.members)
and wants a member's token (`Authorization: Bearer ...`), but for the health check, the OpenAPI
schema, endpoints (which check their API key) and webhooks (their signature). Host and Origin
are checked against DNS rebinding. Errors are JSON objects `{"error": code, "message": text}`
that a person can read; never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from engine import __version__
from engine.api import webhooks
from engine.api.deployments import DeploymentRefused, Deployments
from engine.api.errors import ApiError, whole_number
from engine.api.errors import error_response as _error
from engine.api.errors import json_body as _body
from engine.api.members import (
    ADMIN,
    DEVELOPER,
    PUBLIC,
    VIEWER,
    MemberRoutes,
    Members,
    Role,
    allows,
    bearer,
    forbidden,
    unauthorized,
)
from engine.api.openapi import describe_api
from engine.api.schedules import Scheduler
from engine.flow import Flow, Node
from engine.gateway.core import Gateway
from engine.gateway.server import GatewayApp
from engine.gateway.tokens import AuthError, ServerTokens
from engine.httpguard import LOCAL_HOSTS, HostCheck
from engine.run.durable import DurableRuntime
from engine.run.events import node_table

FINISHED = ("succeeded", "failed", "cancelled")
SEQ_MAX = 2**31  # event sequence numbers and versions: past any real one, within any database


def _after(seq: int) -> Callable[[dict[str, Any]], bool]:
    return lambda event: int(event["seq"]) > seq


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
    ) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.members = Members(ServerTokens(gateway.engine), runtime_token)
        self.host_check = HostCheck(hosts)
        self.mcp = GatewayApp(gateway, hosts=hosts)
        self.deployments = Deployments(gateway.engine)
        self.scheduler = Scheduler(self.deployments, runtime)
        routes = self._routes()
        self.openapi_document = describe_api(routes)
        self.app = Starlette(
            routes=[*routes, Mount("/", app=self.mcp.app)],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self.mcp.running(), self.scheduler.running():
            yield

    # --------------------------------------------------------------------------------- routes

    def _routes(self) -> list[BaseRoute]:
        """Each route with the least role it needs: viewers read; developers run, debug and
        deploy flows and manage servers (as in the gateway); admins do everything."""

        def route(path: str, handler: Handler, methods: list[str], role: Role) -> Route:
            return Route(path, self._guarded(handler, role), methods=methods)

        people = MemberRoutes(self.members)
        return [
            route("/api/health", self.health, ["GET"], PUBLIC),
            route("/api/openapi.json", self.openapi, ["GET"], PUBLIC),
            route("/api/me", people.me, ["GET"], VIEWER),
            route("/api/members", people.list_members, ["GET"], ADMIN),
            route("/api/members", people.add_member, ["POST"], ADMIN),
            route("/api/members/{token_id}", people.revoke_member, ["DELETE"], ADMIN),
            route("/api/flows/validate", self.validate_flow, ["POST"], DEVELOPER),
            route("/api/runs", self.list_runs, ["GET"], VIEWER),
            route("/api/runs", self.start_run, ["POST"], DEVELOPER),
            route("/api/runs/{run_id}", self.get_run, ["GET"], VIEWER),
            route("/api/runs/{run_id}/events", self.run_events, ["GET"], VIEWER),
            route("/api/runs/{run_id}/cancel", self.cancel_run, ["POST"], DEVELOPER),
            route("/api/runs/{run_id}/resume", self.resume_run, ["POST"], DEVELOPER),
            route("/api/runs/{run_id}/debug", self.debug_run, ["POST"], DEVELOPER),
            route("/api/deployments", self.list_deployments, ["GET"], VIEWER),
            route("/api/deployments", self.deploy, ["POST"], DEVELOPER),
            route("/api/deployments/{flow_id}/flow", self.deployed_flow, ["GET"], VIEWER),
            route("/api/deployments/{flow_id}/diff", self.diff_deployments, ["GET"], VIEWER),
            route("/api/deployments/{flow_id}/activate", self.activate, ["POST"], DEVELOPER),
            route("/api/deployments/{flow_id}/deactivate", self.deactivate, ["POST"], DEVELOPER),
            route("/api/run/{slug}", self.call_endpoint, ["POST"], PUBLIC),
            route("/hooks/{flow_id}", self.receive_webhook, ["POST"], PUBLIC),
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
            route("/api/workspaces/{slug}/usage", self.usage, ["GET"], VIEWER),
            route("/api/workspaces/{slug}/calls", self.calls, ["GET"], VIEWER),
            route(
                "/api/workspaces/{slug}/client-config/{editor}",
                self.client_config,
                ["POST"],
                VIEWER,
            ),
        ]

    def _guarded(self, handler: Handler, role: Role) -> Handler:
        """The handler behind the Host/Origin checks and, unless public, a member's token of at
        least `role`: 401 without one, 403 naming the role needed."""

        async def guarded(request: Request) -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            refused = self.host_check.refusal(headers)
            if refused is not None:
                return _error(*refused)
            if role != PUBLIC:
                try:
                    member = await asyncio.to_thread(self.members.authenticate, bearer(headers))
                except AuthError as exc:
                    return unauthorized(str(exc))
                if not allows(member, role):
                    return forbidden(member, role)
                request.state.member = member
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
        guarded.role = role  # type: ignore[attr-defined]  # read by tests/api/test_roles.py
        return guarded

    # ------------------------------------------------------------------------------- general

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

    async def validate_flow(self, request: Request) -> Response:
        """
        summary: Validate a flow document
        requestBody:
          description: a flow document, and the tools to check its tool calls against
          schema: {type: object, required: [flow], properties: {flow: {type: object},
            tools: {type: array, items: {type: object}}}}
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
        requestBody:
          description: the flow, its input, and where to start and pause; from_run and
            from_node re-run from a node with the outputs of an earlier run before it
          schema: {type: object, required: [flow], properties: {flow: {type: object}, input: {},
            trigger: {type: string}, breakpoints: {type: array, items: {type: string}},
            from_run: {type: string}, from_node: {type: string}}}
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
        limit = whole_number(request.query_params.get("limit"), "limit", 50, high=500)
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
                "last_seq": events[-1]["seq"] if events else 0,
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
        given = request.query_params.get("after") or request.headers.get("last-event-id")
        after = whole_number(given, "after", 0, high=SEQ_MAX)
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
            ended = False
            if handle is not None:
                events = handle.events.history[seen:]
            else:
                # The status first: a run's last events are committed with its final status,
                # so once it reads finished, the events read next include them all.
                row = await asyncio.to_thread(self.runtime.store.run, run_id)
                ended = row is not None and row["status"] in FINISHED
                events = await asyncio.to_thread(self.runtime.store.events, run_id, seen)
            for event in events:
                if event["seq"] <= seen:
                    continue
                seen = event["seq"]
                data = json.dumps(event, default=str)
                yield f"id: {seen}\nevent: {event['type']}\ndata: {data}\n\n"
                if event["type"] == "run_finished":
                    return
            if ended:
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
        requestBody:
          description: a review's decision, an auth code, or a timer fired early; node_id
            when several nodes wait
          schema: {type: object, properties: {decision: {type: string, enum: [approve, reject]},
            reviewer: {type: string}, comment: {type: string}, form: {type: object},
            code: {type: string}, fire: {type: boolean}, node_id: {type: string}}}
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
        requestBody:
          schema: {type: object, required: [action], properties: {action: {type: string,
            enum: [pause, step, continue, set_breakpoint, clear_breakpoint]},
            node_id: {type: string}}}
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
        requestBody:
          schema: {type: object, required: [flow], properties: {flow: {type: object},
            activate: {type: boolean, default: true}}}
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

    async def deployed_flow(self, request: Request) -> Response:
        """
        summary: A deployed version's flow document (the active version by default)
        description: What a client compares its flow with before it deploys.
        parameters:
          - {name: version, in: query, schema: {type: integer}}
        responses:
          200: {description: "{flow_id, version, flow}"}
          404: {description: "no such version, or no active one"}
        """
        from engine.flow import to_document

        flow_id = request.path_params["flow_id"]
        given = request.query_params.get("version")
        versions = self.deployments.versions(flow_id)
        active = next((d.version for d in versions if d.active), None)
        version = whole_number(given, "version", 0, high=SEQ_MAX) if given else active
        if version is None:
            raise ApiError(404, "not_found", f"flow '{flow_id}' has no active version")
        flow = self.deployments.flow(flow_id, version)
        return JSONResponse({"flow_id": flow_id, "version": version, "flow": to_document(flow)})

    async def diff_deployments(self, request: Request) -> Response:
        """
        summary: A unified diff between two versions
        parameters:
          - {name: from, in: query, schema: {type: integer}}
          - {name: to, in: query, schema: {type: integer}}
        """
        query = request.query_params
        flow_id = request.path_params["flow_id"]
        old, new = (whole_number(query.get(k), k, 0, high=SEQ_MAX) for k in ("from", "to"))
        diff = self.deployments.diff(flow_id, old, new)
        return JSONResponse({"diff": diff})

    async def activate(self, request: Request) -> Response:
        """
        summary: Activate a version (deploy it, or roll back to it)
        requestBody:
          schema: {type: object, required: [version], properties: {version: {type: integer}}}
        """
        flow_id = request.path_params["flow_id"]
        version = whole_number((await _body(request)).get("version"), "version", 0, high=SEQ_MAX)
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
        requestBody: {description: "the trigger's input", schema: {}}
        """
        flow, trigger = self._endpoint(request.path_params["slug"])
        settings = trigger.config["endpoint"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        if settings.get("auth", "api_key") != "public" and not self._may_call(headers, flow):
            return _error(401, "unauthorized", "this endpoint needs an API key (Bearer token)")
        payload = await request.json() if await request.body() else {}
        handle = await self.runtime.submit(flow, payload, trigger=trigger.id)
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
        """A token of one of the server's members, or of the flow's workspace's, whatever its
        role."""
        token = bearer(headers)
        try:
            self.members.authenticate(token)
        except AuthError:
            try:
                self.gateway.tokens.authenticate(token, flow.workspace or "")
            except AuthError:
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
        await self.runtime.submit(flow, delivery.payload, run_id=run_id, trigger=trigger.id)
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
        requestBody:
          schema: {type: object, required: [name], properties: {name: {type: string}}}
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
        requestBody:
          description: "a stdio server (command, args, env, cwd) or a remote one (url,
            transport, headers); env and header values are strings or {secret: NAME}"
          schema: {type: object, required: [name, config], properties: {name: {type: string},
            config: {type: object, properties: {command: {type: string},
            args: {type: array, items: {type: string}}, env: {type: object},
            cwd: {type: string}, url: {type: string}, transport: {type: string},
            headers: {type: object}}}}}
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
        requestBody:
          schema: {type: object, properties: {enabled: {type: boolean, default: true},
            tool: {type: string}}}
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

        slug, name = request.path_params["slug"], request.path_params["name"]
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
        requestBody:
          schema: {type: object, required: [value], properties: {value: {type: string}}}
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
        requestBody:
          schema: {type: object, required: [member, role], properties: {member: {type: string},
            role: {type: string, enum: [admin, developer, viewer]},
            expires_in_s: {type: number}}}
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

        slug, editor = request.path_params["slug"], request.path_params["editor"]
        if slug not in self.gateway.builtin:
            self.gateway.workspaces.get(slug)
        body = await _body(request) if await request.body() else {}
        token = str(body.get("token") or "<TOKEN>")
        url = f"{str(request.base_url).rstrip('/')}/ws/{slug}/mcp"
        config = client_config(editor, url, token, slug)
        return JSONResponse(
            {"editor": editor, "url": url, "config": config, "where": WHERE_TO_PASTE[editor]}
        )


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
