"""Routes that start deployed flows from outside: an endpoint trigger's URL (checked by an API
key: a member's or a workspace's token) and a webhook trigger's (checked by its signature)."""

from __future__ import annotations

import asyncio
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from engine.api import webhooks
from engine.api.deployments import Deployments
from engine.api.errors import ApiError, check_input, error_response, json_value
from engine.api.members import DEVELOPER, PUBLIC, Members, allows, bearer, forbidden
from engine.api.routing import Router
from engine.api.run_routes import event_stream
from engine.flow import Flow, Node
from engine.gateway.core import Gateway
from engine.gateway.tokens import AuthError
from engine.run.durable import DurableRuntime


class TriggerRoutes:
    """Runs submitted here go through the runtime's queue: nobody watches them step by step."""

    def __init__(
        self,
        runtime: DurableRuntime,
        deployments: Deployments,
        gateway: Gateway,
        members: Members,
    ) -> None:
        self.runtime = runtime
        self.deployments = deployments
        self.gateway = gateway
        self.members = members

    def routes(self, route: Router) -> list[Route]:
        """Public routes: each checks its own key or signature."""
        return [
            route("/api/run/{slug}", self.call_endpoint, ["POST"], PUBLIC),
            route("/hooks/{flow_id}", self.receive_webhook, ["POST"], PUBLIC),
        ]

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
        responses:
          422: {description: "the input does not fit the trigger's input_schema (errors)"}
        """
        flow, trigger = self._endpoint(request.path_params["slug"])
        settings = trigger.config["endpoint"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        if settings.get("auth", "api_key") != "public":
            refused = self._refusal(headers, flow)
            if refused is not None:
                return refused
        payload = await json_value(request) if await request.body() else {}
        check_input(trigger.config.get("input_schema"), payload)
        handle = await self.runtime.submit(flow, payload, trigger=trigger.id)
        if "text/event-stream" in headers.get("accept", "") or settings.get("stream"):
            return StreamingResponse(
                event_stream(self.runtime, handle.run_id, 0),
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

    def _refusal(self, headers: dict[str, str], flow: Flow) -> Response | None:
        """None for a token that may run the flow: a developer's or an admin's (a run has side
        effects, which a viewer may not start, as on POST /api/runs), of the server's members
        in the flow's workspace or of that workspace's own members; else a 401 or a 403."""
        token = bearer(headers)
        try:
            member = self.members.authenticate(token)
        except AuthError:
            try:
                member = self.gateway.tokens.authenticate(token, flow.workspace or "")
            except AuthError:
                return error_response(
                    401, "unauthorized", "this endpoint needs an API key (Bearer token)"
                )
        if not allows(member, DEVELOPER):
            return forbidden(member, DEVELOPER)
        if not member.may_use(flow.workspace):
            return error_response(
                403,
                "forbidden",
                f"member '{member.name}' is not in workspace '{flow.workspace}', the flow's",
            )
        return None

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
            return error_response(401, "bad_signature", str(exc))
        if not webhooks.accepts(settings.get("events") or [], delivery):
            return JSONResponse({"ignored": delivery.event}, status_code=202)
        run_id = uuid.uuid4().hex
        earlier = self.deployments.first_delivery(flow_id, delivery.delivery_id, run_id)
        if earlier is not None:
            return JSONResponse({"duplicate": True, "run_id": earlier})
        await self.runtime.submit(flow, delivery.payload, run_id=run_id, trigger=trigger.id)
        return JSONResponse({"run_id": run_id}, status_code=202)
