"""Starting runs and controlling them: the Python API the CLI and the HTTP API wrap."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.flow import Flow, has_errors, validate
from engine.run.context import NodeContext, Outcome, Recorder, Services
from engine.run.debug import Debugger
from engine.run.errors import RunEnded
from engine.run.events import EventLog, load_secrets
from engine.run.interpreter import Interpreter, NodeFailure
from engine.run.recorder import MemoryRecorder

_CHILD_IDS = uuid.UUID("6f1d4a52-93a8-4f0e-9a51-0c6b7e2d8a11")


def child_run_id(run_id: str, key: str) -> str:
    """The id of the run a delegating node starts: the same after a restart, so the child is
    found again rather than started twice."""
    return uuid.uuid5(_CHILD_IDS, f"{run_id}/{key}").hex


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
    """A run in this process: its events, debug controls and eventual result."""

    run_id: str
    flow: Flow
    events: EventLog
    debugger: Debugger
    recorder: Recorder
    task: asyncio.Task[RunResult] | None = None
    cancelled: bool = False
    runner: asyncio.Future[RunResult] | None = None
    done: asyncio.Future[RunResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    async def result(self) -> RunResult:
        return await asyncio.shield(self.done)

    def resume(
        self, decision: str | None = None, node_id: str | None = None, **fields: Any
    ) -> None:
        """Answer a pause: a review decision (approve/reject, reviewer, comment, form) or a code."""
        self.recorder.post({"decision": decision, **fields}, node_id)

    def cancel(self) -> None:
        """Stop the run; asked before its body started, the body is stopped as it starts."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


def pick_trigger(flow: Flow, trigger: str | None) -> str:
    """The trigger named, else the first manual trigger by id, else the first trigger by id."""
    triggers = sorted(n.id for n in flow.nodes if n.type == "trigger")
    if trigger is not None:
        if trigger not in triggers:
            raise ValueError(f"'{trigger}' is not a trigger of flow '{flow.id}'")
        return trigger
    manual = [t for t in triggers if flow.node_map[t].config.get("kind", "manual") == "manual"]
    return (manual or triggers)[0]


async def execute(
    interpreter: Interpreter, handle: RunHandle, trigger: str, payload: Any
) -> RunResult:
    """Run the interpreter to its end: status, output and error, and the closing event."""
    events = handle.events
    events.emit("run_started", flow_id=handle.flow.id, trigger=trigger)
    handle.task = asyncio.ensure_future(_body(interpreter, trigger, payload))
    if handle.cancelled:
        handle.task.cancel()
    try:
        result = await asyncio.wait_for(asyncio.shield(handle.task), handle.flow.settings.timeout_s)
    except TimeoutError:
        handle.task.cancel()
        limit = handle.flow.settings.timeout_s
        result = RunResult(
            "failed", error={"type": "limit", "message": f"settings.timeout_s ({limit:g}) reached"}
        )
    except asyncio.CancelledError:
        # Only a cancel someone asked for ends the run; a process going down (its tasks all
        # cancelled at once) leaves the run unfinished, for its recovery to carry on.
        if not (handle.cancelled and handle.task.cancelled()):
            raise
        result = RunResult("cancelled")
    except Exception as exc:  # a bug must fail the run visibly, never leave it hanging
        result = RunResult(
            "failed", error={"type": "internal", "message": f"{type(exc).__name__}: {exc}"}
        )
    redact = events.redactor.value
    result = RunResult(result.status, redact(result.output), redact(result.error))
    events.emit(
        "run_finished", status=result.status, output=result.output, error=result.error, usage={}
    )
    return result


async def _body(interpreter: Interpreter, trigger: str, payload: Any) -> RunResult:
    secrets, workspace = interpreter.services.secrets, interpreter.flow.workspace or ""
    await load_secrets(interpreter.events.redactor, secrets, workspace)
    try:
        output, _ = await interpreter.run_main(trigger, payload)
        return RunResult("succeeded", output)
    except RunEnded as ended:
        return RunResult(ended.status, ended.output)
    except NodeFailure as failure:
        handler = handler_for(interpreter.flow, failure.node_id)
        if handler is None:
            return RunResult("failed", error=failure.error)
        try:
            output = await interpreter.run_handler(handler, failure.error)
        except RunEnded as ended:
            return RunResult(ended.status, ended.output, failure.error)
        mark = interpreter.flow.node_map[handler].config.get("mark_run", "failed")
        return RunResult(str(mark), output, failure.error)


def handler_for(flow: Flow, node_id: str) -> str | None:
    """The first error handler (by id) whose scope covers the failed node."""
    for node in sorted(flow.nodes, key=lambda n: n.id):
        if node.type != "error_handler":
            continue
        scope = node.config.get("scope", "all")
        if scope == "all" or (isinstance(scope, list) and node_id in scope):
            return node.id
    return None


class CheckedFlows:
    """Flows already validated, by identity: flows are immutable, so starting the same one again
    (a deployed flow, a bench loop) skips validation."""

    def __init__(self, size: int = 64) -> None:
        self._flows: OrderedDict[int, Flow] = OrderedDict()
        self._size = size

    def check(self, flow: Flow) -> None:
        if self._flows.get(id(flow)) is flow:
            self._flows.move_to_end(id(flow))
            return
        issues = validate(flow)
        if has_errors(issues):
            raise FlowInvalid(issues)
        self._flows[id(flow)] = flow
        if len(self._flows) > self._size:
            self._flows.popitem(last=False)


class Runtime:
    """Runs flows in this process only (nothing survives it); see DurableRuntime for more."""

    def __init__(self, services: Services | None = None) -> None:
        self.services = services or Services()
        self.runs: dict[str, RunHandle] = {}
        self.checked = CheckedFlows()
        if self.services.children is None:
            self.services.children = self

    def start(
        self,
        flow: Flow,
        payload: Any = None,
        *,
        run_id: str | None = None,
        trigger: str | None = None,
        breakpoints: Iterable[str] = (),
        pinned: Mapping[str, Outcome] | None = None,
        depth: int = 0,
        context: Any = None,
    ) -> RunHandle:
        """Validate the flow and start a run; its events begin with `run_started`. `depth` and
        `context` are a delegated run's (see `run_child`)."""
        self.checked.check(flow)
        start_node = pick_trigger(flow, trigger)
        run_id = run_id or uuid.uuid4().hex
        handle = RunHandle(run_id, flow, EventLog(run_id), Debugger(breakpoints), MemoryRecorder())
        interpreter = Interpreter(
            flow,
            run_id,
            events=handle.events,
            services=self.services,
            recorder=handle.recorder,
            debugger=handle.debugger,
            pinned=pinned,
            depth=depth,
            context=context,
        )
        handle.runner = asyncio.ensure_future(
            self._execute(interpreter, handle, start_node, payload)
        )
        self.runs[run_id] = handle
        return handle

    async def run_child(
        self,
        parent: NodeContext,
        find: Callable[[], Flow],
        payload: Any,
        context: Any,
        timeout_s: float,
    ) -> RunResult:
        """A delegated run for the node `parent`, awaited up to `timeout_s`."""
        child_id = child_run_id(parent.run_id, parent.key)
        handle = self.runs.get(child_id) or self.start(
            find(), payload, run_id=child_id, depth=parent.depth + 1, context=context
        )
        try:
            return await asyncio.wait_for(handle.result(), timeout_s)
        except TimeoutError:
            handle.cancel()
            raise

    @staticmethod
    async def _execute(
        interpreter: Interpreter, handle: RunHandle, trigger: str, payload: Any
    ) -> RunResult:
        result = await execute(interpreter, handle, trigger, payload)
        handle.done.set_result(result)
        return result
