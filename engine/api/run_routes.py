"""Routes of flows and runs: validate a flow, start runs and list them, follow a run's events
as server-sent events (resumable by sequence number), cancel, answer a pause, step-debug."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from engine.api.errors import SEQ_MAX, ApiError, flow_body, json_body, whole_number
from engine.api.members import DEVELOPER, VIEWER, caller, check_flow, check_workspace
from engine.api.routing import Router
from engine.gateway.tokens import Member
from engine.run.debug import DebugRefused
from engine.run.durable import DurableRuntime
from engine.run.events import node_table
from engine.run.store import FINISHED


async def event_stream(runtime: DurableRuntime, run_id: str, after: int) -> AsyncIterator[str]:
    """A run's events after `after` as server-sent events, until run_finished: only events the
    store has (a restart renumbers none), and a keep-alive comment after 15 s without one."""
    async for event in runtime.follow(run_id, after, beat_s=15):
        if event is None:
            yield ": keep-alive\n\n"
        else:
            data = json.dumps(event, default=str)
            yield f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n"


class RunRoutes:
    """Runs on one durable runtime: any of them, whichever process of the database runs it."""

    def __init__(self, runtime: DurableRuntime) -> None:
        self.runtime = runtime

    def routes(self, route: Router) -> list[Route]:
        return [
            route("/api/flows/validate", self.validate_flow, ["POST"], DEVELOPER),
            route("/api/runs", self.list_runs, ["GET"], VIEWER),
            route("/api/runs", self.start_run, ["POST"], DEVELOPER),
            route("/api/runs/{run_id}", self.get_run, ["GET"], VIEWER),
            route("/api/runs/{run_id}/events", self.run_events, ["GET"], VIEWER),
            route("/api/runs/{run_id}/cancel", self.cancel_run, ["POST"], DEVELOPER),
            route("/api/runs/{run_id}/resume", self.resume_run, ["POST"], DEVELOPER),
            route("/api/runs/{run_id}/debug", self.debug_run, ["POST"], DEVELOPER),
        ]

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

        body = await json_body(request)
        flow = flow_body(body)
        issues = validate(flow, tools=body.get("tools"))
        return JSONResponse({"issues": [i.to_dict() for i in issues]})

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

        body = await json_body(request)
        flow = flow_body(body)
        check_flow(caller(request), flow)
        pinned = None
        if body.get("from_run") and body.get("from_node"):
            await asyncio.to_thread(self._run_row, str(body["from_run"]), caller(request))
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
        found = await asyncio.to_thread(
            self.runtime.store.list_runs,
            limit,
            request.query_params.get("flow_id"),
            caller(request).workspaces,
        )
        return JSONResponse({"runs": found})

    def _run_row(self, run_id: str, member: Member) -> dict[str, Any]:
        """The run, if there is one and the member may see its flow's workspace."""
        row = self.runtime.store.run(run_id)
        if row is None:
            raise ApiError(404, "not_found", f"no run '{run_id}'")
        check_workspace(member, (row["flow"] or {}).get("workspace"))
        return row

    async def get_run(self, request: Request) -> Response:
        """
        summary: A run with its nodes' states, outputs and errors
        """
        run_id = request.path_params["run_id"]
        if run_id in self.runtime.handles:
            self.runtime.flush(run_id)
        row = await asyncio.to_thread(self._run_row, run_id, caller(request))
        events = await asyncio.to_thread(self.runtime.store.events, run_id)
        debug = row["debug"] or {}  # written by the process that runs it
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
                "breakpoints": debug.get("breakpoints", []),
                "waiting": debug.get("waiting", []),
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
        await asyncio.to_thread(self._run_row, run_id, caller(request))
        given = request.query_params.get("after") or request.headers.get("last-event-id")
        after = whole_number(given, "after", 0, high=SEQ_MAX)
        return StreamingResponse(
            event_stream(self.runtime, run_id, after),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def cancel_run(self, request: Request) -> Response:
        """
        summary: Cancel a run
        """
        run_id = request.path_params["run_id"]
        row = await asyncio.to_thread(self._run_row, run_id, caller(request))
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
        row = await asyncio.to_thread(self._run_row, run_id, caller(request))
        if row["status"] in FINISHED:
            raise ApiError(409, "finished", f"run {run_id} is already {row['status']}")
        body = await json_body(request)
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
        summary: Step-debug a run
        description: Applied at once by the process that runs the run (200, with its debug
          state); asked of another process, stored for the run's process, which applies the
          commands in order within its poll interval (202, queued).
        requestBody:
          schema: {type: object, required: [action], properties: {action: {type: string,
            enum: [pause, step, continue, set_breakpoint, clear_breakpoint]},
            node_id: {type: string}}}
        responses:
          200: {description: "{breakpoints, waiting}"}
          202: {description: "{run_id, queued: true}"}
          400: {description: "an unknown action, or a node the run's flow does not have"}
          404: {description: "no such run"}
          409: {description: "the run is finished"}
        """
        run_id = request.path_params["run_id"]
        row = await asyncio.to_thread(self.runtime.store.run, run_id)
        if row is not None:  # else the debugger's own 404
            check_workspace(caller(request), (row["flow"] or {}).get("workspace"))
        body = await json_body(request)
        action, node = str(body.get("action")), body.get("node_id")
        node_id = None if node is None else str(node)
        try:
            debugger = await self.runtime.debug(run_id, action, node_id)
        except DebugRefused as exc:
            status = {"not_found": 404, "finished": 409}.get(exc.reason, 400)
            raise ApiError(status, exc.reason, str(exc)) from None
        if debugger is None:
            return JSONResponse({"run_id": run_id, "queued": True}, status_code=202)
        return JSONResponse(debugger.state())
