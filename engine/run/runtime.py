"""Starting runs and controlling them: the Python API the CLI and the HTTP API wrap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.flow import Flow, has_errors, validate
from engine.run.context import Inbox, Outcome, Services
from engine.run.debug import Debugger
from engine.run.errors import RunEnded
from engine.run.events import EventLog
from engine.run.interpreter import Interpreter, NodeFailure


class FlowInvalid(ValueError):
    """A flow with validation errors does not run."""

    def __init__(self, issues: list[Any]) -> None:
        errors = [i for i in issues if i.severity == "error"]
        first = errors[0]
        super().__init__(
            f"{first.where}: {first.code}: {first.message}"
            + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else "")
        )
        self.issues = issues


@dataclass(frozen=True)
class RunResult:
    status: str
    output: Any = None
    error: dict[str, Any] | None = None


@dataclass
class RunHandle:
    """A run in this process: its events, debug controls, inbox and eventual result."""

    run_id: str
    flow: Flow
    events: EventLog
    debugger: Debugger
    inbox: Inbox
    task: asyncio.Task[RunResult] = field(init=False)

    async def result(self) -> RunResult:
        return await asyncio.shield(self.task)

    def resume(self, decision: str | None = None, **fields: Any) -> None:
        """Answer a pause: a review decision (approve/reject, reviewer, comment, form) or a code."""
        self.inbox.put({"decision": decision, **fields})

    def cancel(self) -> None:
        self.task.cancel()


def pick_trigger(flow: Flow, trigger: str | None) -> str:
    triggers = sorted(n.id for n in flow.nodes if n.type == "trigger")
    if trigger is not None:
        if trigger not in triggers:
            raise ValueError(f"'{trigger}' is not a trigger of flow '{flow.id}'")
        return trigger
    return triggers[0]


class Runtime:
    def __init__(self, services: Services | None = None) -> None:
        self.services = services or Services()
        self.runs: dict[str, RunHandle] = {}

    def start(
        self,
        flow: Flow,
        payload: Any = None,
        *,
        run_id: str | None = None,
        trigger: str | None = None,
        breakpoints: Iterable[str] = (),
        pinned: Mapping[str, Outcome] | None = None,
    ) -> RunHandle:
        """Validate the flow and start a run; its events begin with `run_started`."""
        issues = validate(flow)
        if has_errors(issues):
            raise FlowInvalid(issues)
        start_node = pick_trigger(flow, trigger)
        run_id = run_id or uuid.uuid4().hex
        handle = RunHandle(run_id, flow, EventLog(run_id), Debugger(breakpoints), Inbox())
        interpreter = Interpreter(
            flow,
            run_id,
            events=handle.events,
            services=self.services,
            inbox=handle.inbox,
            debugger=handle.debugger,
            pinned=pinned,
        )
        handle.task = asyncio.ensure_future(self._run(interpreter, handle, start_node, payload))
        self.runs[run_id] = handle
        return handle

    async def _run(
        self, interpreter: Interpreter, handle: RunHandle, trigger: str, payload: Any
    ) -> RunResult:
        events = handle.events
        events.emit("run_started", flow_id=handle.flow.id, trigger=trigger)
        try:
            result = await asyncio.wait_for(
                self._body(interpreter, trigger, payload), handle.flow.settings.timeout_s
            )
        except TimeoutError:
            limit = handle.flow.settings.timeout_s
            result = RunResult(
                "failed",
                error={"type": "limit", "message": f"settings.timeout_s ({limit:g}) reached"},
            )
        except asyncio.CancelledError:
            result = RunResult("cancelled")
        events.emit(
            "run_finished", status=result.status, output=result.output, error=result.error, usage={}
        )
        return result

    async def _body(self, interpreter: Interpreter, trigger: str, payload: Any) -> RunResult:
        try:
            output, _ = await interpreter.run_main(trigger, payload)
            return RunResult("succeeded", output)
        except RunEnded as ended:
            return RunResult(ended.status, ended.output)
        except NodeFailure as failure:
            handler = self._handler_for(interpreter.flow, failure.node_id)
            if handler is None:
                return RunResult("failed", error=failure.error)
            try:
                output = await interpreter.run_handler(handler, failure.error)
            except RunEnded as ended:
                return RunResult(ended.status, ended.output, failure.error)
            mark = interpreter.flow.node_map[handler].config.get("mark_run", "failed")
            return RunResult(str(mark), output, failure.error)

    @staticmethod
    def _handler_for(flow: Flow, node_id: str) -> str | None:
        """The first error handler (by id) whose scope covers the failed node."""
        for node in sorted(flow.nodes, key=lambda n: n.id):
            if node.type != "error_handler":
                continue
            scope = node.config.get("scope", "all")
            if scope == "all" or (isinstance(scope, list) and node_id in scope):
                return node.id
        return None
