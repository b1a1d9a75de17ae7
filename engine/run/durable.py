"""Durable runs on DBOS Transact: a run is a workflow (run id = workflow id).

DBOS carries the run's lifecycle: start, recovery after a crash (pending workflows are re-run
when a runtime launches) and, on PostgreSQL, a queue that the runtime processes of one database
share (each with its own executor id). The workflow body is the interpreter; it makes no DBOS
calls of its own, so replays are deterministic by construction: side-effecting and pausing nodes
read their recorded outcomes (`StoreRecorder`), pure nodes are recomputed, and events already in
the history are not emitted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dbos import DBOS, DBOSConfig, Queue, SetWorkflowID

from engine import __version__
from engine.flow import Flow, from_document, to_document
from engine.paths import data_dir
from engine.run.context import NodeContext, Outcome, Services
from engine.run.debug import Debugger
from engine.run.event_writer import EventWriter
from engine.run.events import Event, EventLog
from engine.run.graph import FlowGraph
from engine.run.interpreter import Interpreter
from engine.run.locks import RuntimeBusy, RuntimeLock
from engine.run.recorder import StoreRecorder
from engine.run.runtime import (
    CheckedFlows,
    RunHandle,
    RunResult,
    child_run_id,
    execute,
    pick_trigger,
)
from engine.run.store import FINISHED, RunStore
from engine.store.db import create_engine

if TYPE_CHECKING:
    from engine.run.retention import Retention

# Bump the suffix when the interpreter changes how it replays recorded runs.
APPLICATION_VERSION = f"aerostudio-{__version__}-replay1"

# The queue the runtime processes of one PostgreSQL database take their runs from.
RUNS_QUEUE = "aerostudio-runs"
QUEUE_POLL_S = 0.05
DEFAULT_WORKERS = 100

_active: DurableRuntime | None = None

__all__ = ["DurableRuntime", "QueuedRun", "RuntimeBusy", "StartedRun", "default_url"]


@DBOS.workflow(name="aerostudio.run")
async def run_workflow(run_id: str) -> str:
    if _active is None:
        raise RuntimeError("no Aerostudio runtime is launched in this process")
    result = await _active.execute(run_id)
    return result.status


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted (DBOS's own handler keeps the
    stream it saw first, which breaks when the process swaps its streams)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_dbos_logging() -> None:
    """Only DBOS's errors reach the console; installed before DBOS adds a handler of its own."""
    dbos_logger = logging.getLogger("dbos")
    if not dbos_logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("dbos: %(message)s"))
        dbos_logger.addHandler(handler)
        dbos_logger.propagate = False
    dbos_logger.setLevel(logging.ERROR)


def default_url() -> str:
    return f"sqlite:///{data_dir() / 'runs.sqlite'}"


class StartedRun(Protocol):
    """What a caller gets back for a run it submitted: its id and, when awaited, its result."""

    @property
    def run_id(self) -> str: ...

    async def result(self) -> RunResult: ...


@dataclass(frozen=True)
class QueuedRun:
    """A run handed to the runs queue: whichever runtime process takes it executes it."""

    run_id: str
    runtime: DurableRuntime

    async def result(self) -> RunResult:
        return await self.runtime.outcome(self.run_id)


class DurableRuntime:
    """Runs that survive the process: SQLite in the data directory (one process), or PostgreSQL
    (any number of processes, each with its own stable executor id, sharing the runs queue).

    `workers`: how many queued runs one process executes at once (DBOS keeps this setting per
    queue in the database, so the process that launched last sets it for all). A run paused at a
    review holds its place, so the default (100) leaves room for many of them.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        services: Services | None = None,
        executor_id: str = "local",
        poll_s: float = 0.1,
        workers: int | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers: at least 1 run at a time (got {workers})")
        self.url = url or default_url()
        self.store = RunStore(create_engine(self.url))
        self.services = services or Services()
        self.executor_id = executor_id
        self.poll_s = poll_s
        self.workers = workers or DEFAULT_WORKERS
        self.shared = self.store.engine.dialect.name == "postgresql"
        self.handles: dict[str, RunHandle] = {}
        self.lock = RuntimeLock(self.url, executor_id)
        self._queue: Queue | None = None
        self.checked = CheckedFlows()
        self._documents: dict[int, tuple[Flow, dict[str, Any]]] = {}
        self._starting: dict[str, Flow] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._writers: dict[str, EventWriter] = {}
        if self.services.children is None:
            self.services.children = self

    @property
    def system_url(self) -> str:
        """DBOS's database: a sibling SQLite file, or the same PostgreSQL database."""
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            return f"sqlite:///{path.with_name(path.stem + '-dbos.sqlite')}"
        return self.url

    def prune(self, policy: Retention) -> list[str]:
        """Delete the finished runs `policy` does not keep, with their DBOS workflows; returns
        their ids. Needs no launch: the store and DBOS's database only."""
        from engine.run import retention

        forget = partial(retention.forget_workflows, self.system_url)
        return retention.prune(self.store, policy, forget=forget)

    def launch(self) -> None:
        """Start DBOS in the running event loop; pending runs of this executor are recovered
        (on PostgreSQL: put back on the runs queue, for whichever process is free)."""
        global _active
        self.lock.acquire()
        _active = self
        _configure_dbos_logging()
        config: DBOSConfig = {
            "name": "aerostudio",
            "system_database_url": self.system_url,
            "application_version": APPLICATION_VERSION,
            "executor_id": self.executor_id,
            "log_level": "ERROR",
        }
        DBOS(config=config)
        DBOS.launch()
        if self.shared:
            self._queue = self._register_queue()

    def _register_queue(self) -> Queue:
        """The runs queue, registered in the database (every process on it then takes runs
        from it). DBOS refuses its synchronous calls on an event loop, so from a thread."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(
                DBOS.register_queue,
                RUNS_QUEUE,
                worker_concurrency=self.workers,
                polling_interval_sec=QUEUE_POLL_S,
                on_conflict="always_update",
            ).result()

    def shutdown(self) -> None:
        global _active
        for flusher in self._flushers.values():
            flusher.cancel()
        DBOS.destroy(destroy_registry=False)
        _active = None
        self.store.engine.dispose()
        self.lock.release()

    async def __aenter__(self) -> DurableRuntime:
        self.launch()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the model connections and tool sessions the runs opened, then stop DBOS."""
        if self.services.llm is not None:
            await self.services.llm.aclose()
            self.services.llm = None
        if self.services.tools is not None:
            await self.services.tools.aclose()
        flushers, self._flushers = list(self._flushers.values()), {}
        for flusher in flushers:
            await _stop(flusher)
        for writer in list(self._writers.values()):  # events of runs still paused or going
            await writer.write()
        self.shutdown()

    # ---------------------------------------------------------------------------- starting

    async def start(
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
        parent: str | None = None,
    ) -> RunHandle:
        """Start a run in this process: its events, debug controls and result are here (what
        the studio and the CLI need to step through a run)."""
        run_id = await self._create(flow, payload, run_id, trigger, pinned, depth, context, parent)
        handle = self._handle(run_id, flow, [], breakpoints)
        self._starting[run_id] = flow
        with SetWorkflowID(run_id):
            await DBOS.start_workflow_async(run_workflow, run_id)
        return handle

    async def submit(
        self,
        flow: Flow,
        payload: Any = None,
        *,
        run_id: str | None = None,
        trigger: str | None = None,
        depth: int = 0,
        context: Any = None,
        parent: str | None = None,
    ) -> StartedRun:
        """Start a run that needs no one watching it here (a webhook's, an endpoint's, a
        delegated one): on PostgreSQL it goes on the runs queue and any runtime process of the
        database executes it; on SQLite this process does."""
        if self._queue is None:
            return await self.start(
                flow,
                payload,
                run_id=run_id,
                trigger=trigger,
                depth=depth,
                context=context,
                parent=parent,
            )
        run_id = await self._create(flow, payload, run_id, trigger, None, depth, context, parent)
        with SetWorkflowID(run_id):
            await self._queue.enqueue_async(run_workflow, run_id)
        return QueuedRun(run_id, self)

    async def _create(
        self,
        flow: Flow,
        payload: Any,
        run_id: str | None,
        trigger: str | None,
        pinned: Mapping[str, Outcome] | None,
        depth: int,
        context: Any,
        parent: str | None,
    ) -> str:
        """Validate the flow and record the run (flow, input, options) for whoever executes it."""
        self.checked.check(flow)
        start_node = pick_trigger(flow, trigger)
        run_id = run_id or uuid.uuid4().hex
        options = {
            "trigger": start_node,
            "pinned": {
                k: {"handle": v.handle, "output": v.output, "variables": dict(v.variables)}
                for k, v in (pinned or {}).items()
            },
            "depth": depth,
            "context": context,
            "parent": parent,
        }
        await asyncio.to_thread(
            self.store.create_run, run_id, flow.id, self._document(flow), payload, options
        )
        return run_id

    async def run_child(
        self,
        parent: NodeContext,
        find: Callable[[], Flow],
        payload: Any,
        context: Any,
        timeout_s: float,
    ) -> RunResult:
        """A delegated run of `flow` for the node `parent`: started once (after a restart the
        parent finds it again by its id), awaited up to `timeout_s`, cancelled after that."""
        child_id = child_run_id(parent.run_id, parent.key)
        if await asyncio.to_thread(self.store.run, child_id) is None:
            # Started outside the parent's DBOS context: a top-level workflow of its own, which
            # DBOS does not tie to the parent's step order.
            starting = asyncio.get_running_loop().create_task(
                self.submit(
                    find(),
                    payload,
                    run_id=child_id,
                    depth=parent.depth + 1,
                    context=context,
                    parent=parent.run_id,
                ),
                context=contextvars.Context(),
            )
            await starting
        try:
            return await asyncio.wait_for(self.outcome(child_id), timeout_s)
        except TimeoutError:
            await asyncio.to_thread(self.cancel, child_id)
            raise

    async def outcome(self, run_id: str) -> RunResult:
        """The result of a run, whichever process runs it."""
        while True:
            handle = self.handles.get(run_id)
            if handle is not None:
                return await handle.result()
            row = await asyncio.to_thread(self.store.run, run_id)
            if row is not None and row["status"] not in ("running", "paused"):
                return RunResult(row["status"], row["output"], row["error"])
            await asyncio.sleep(self.poll_s)

    def _document(self, flow: Flow) -> dict[str, Any]:
        """The flow's JSON document, kept per flow object (flows are immutable)."""
        cached = self._documents.get(id(flow))
        if cached is None or cached[0] is not flow:
            if len(self._documents) > 64:
                self._documents.clear()
            cached = self._documents[id(flow)] = (flow, to_document(flow))
        return cached[1]

    def _handle(
        self, run_id: str, flow: Flow, history: list[Event], breakpoints: Iterable[str] = ()
    ) -> RunHandle:
        writer = EventWriter(self.store, run_id, written=history[-1]["seq"] if history else 0)
        self._writers[run_id] = writer
        events = EventLog(run_id, history, sink=writer.add)
        handle = RunHandle(
            run_id,
            flow,
            events,
            Debugger(breakpoints),
            StoreRecorder(self.store, run_id, self.poll_s),
        )
        self.handles[run_id] = handle
        return handle

    def pins_from_run(self, earlier: str, flow: Flow, node_id: str) -> dict[str, Outcome]:
        """To run again from `node_id`: the outcomes of an earlier run's nodes, except that node
        and everything after it (they run anew)."""
        if node_id not in flow.node_map:
            raise LookupError(f"flow '{flow.id}' has no node '{node_id}'")
        rerun = FlowGraph(flow).reachable_from(node_id)
        records = self.store.records(earlier)
        pins: dict[str, Outcome] = {}
        for event in self.store.events(earlier):
            key = event.get("key")
            if event["type"] != "node_finished" or key != event["node_id"] or key in rerun:
                continue
            node = flow.node_map.get(key)
            if node is None:
                continue
            record = records.get(key)
            variables = (
                record.variables
                if record
                else (event["output"] if node.config.get("action") == "set_variables" else {})
            )
            pins[key] = Outcome(event["handle"], event["output"], variables)
        return pins

    def post(self, run_id: str, message: dict[str, Any], node_id: str | None = None) -> None:
        """Answer a paused run, whichever process is running it."""
        self.store.post_message(run_id, message, node_id)

    def cancel(self, run_id: str) -> None:
        self.store.request_cancel(run_id)
        handle = self.handles.get(run_id)
        if handle is not None:
            handle.cancel()

    # --------------------------------------------------------------------------- executing

    async def execute(self, run_id: str) -> RunResult:
        """The workflow body: (re)run the interpreter over the run's recorded state."""
        row = await asyncio.to_thread(self.store.run, run_id)
        if row is None:
            raise LookupError(f"no run '{run_id}'")
        flow = self._starting.pop(run_id, None) or from_document(row["flow"])
        handle = self.handles.get(run_id)
        if handle is None:
            history = await asyncio.to_thread(self.store.events, run_id)
            handle = self._handle(run_id, flow, history)
        if row["cancel_requested"]:  # cancelled while it waited in the queue
            handle.cancel()
        pinned = {
            k: Outcome(v["handle"], v["output"], v["variables"])
            for k, v in row["options"].get("pinned", {}).items()
        }
        interpreter = Interpreter(
            flow,
            run_id,
            events=handle.events,
            services=self.services,
            recorder=handle.recorder,
            debugger=handle.debugger,
            pinned=pinned,
            depth=row["options"].get("depth", 0),
            context=row["options"].get("context"),
        )
        writer = self._writers[run_id]
        self._flushers[run_id] = asyncio.ensure_future(self._tend(run_id, handle, writer))
        try:
            result = await execute(interpreter, handle, row["options"]["trigger"], row["input"])
            flusher = self._flushers.pop(run_id, None)  # aclose() may have stopped it already
            if flusher is not None:
                await _stop(flusher)
            await writer.write(
                partial(self.store.finish_run, run_id, result.status, result.output, result.error)
            )
        except BaseException as exc:  # whoever waits for the run must hear of it
            flusher = self._flushers.pop(run_id, None)
            if flusher is not None:
                flusher.cancel()
            if not handle.done.done():
                handle.done.set_exception(exc)
            raise
        # Its events and result are in the store now; whoever asks later reads them there.
        self.handles.pop(run_id, None)
        self._writers.pop(run_id, None)
        handle.done.set_result(result)
        return result

    def flush(self, run_id: str) -> None:
        """Write the events of this run not written yet (on the event loop)."""
        writer = self._writers.get(run_id)
        if writer is not None:
            writer.write_now()

    async def _tend(self, run_id: str, handle: RunHandle, writer: EventWriter) -> None:
        """Write the run's events as they come, and watch for a cancel asked from another
        process (if either fails, both stop: the run's closing write takes what is left)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(writer.run())
            group.create_task(self._watch_cancel(run_id, handle))

    async def _watch_cancel(self, run_id: str, handle: RunHandle) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if await asyncio.to_thread(self.store.cancel_requested, run_id):
                handle.cancel()

    # --------------------------------------------------------------------------- following

    async def follow(
        self, run_id: str, after: int = 0, beat_s: float = 15
    ) -> AsyncIterator[Event | None]:
        """The run's events after seq `after`, in order, until `run_finished`, and None after
        `beat_s` without one (time for a keep-alive). Only events the store has: a restart
        renumbers none of them, so whoever resumes after the last seq seen misses none and sees
        none twice. A run of this process is read from memory up to what is written; another's
        from the store, polled."""
        seen = after
        quiet_since = time.monotonic()
        while True:
            handle, writer = self.handles.get(run_id), self._writers.get(run_id)
            ended = False
            if handle is not None and writer is not None:
                events = handle.events.history[seen : writer.written]
            else:
                # The status first: a run's last events are committed with its final status,
                # so once it reads finished, the events read next include them all.
                row = await asyncio.to_thread(self.store.run, run_id)
                ended = row is not None and row["status"] in FINISHED
                events = await asyncio.to_thread(self.store.events, run_id, seen)
            for event in events:
                seen = event["seq"]
                quiet_since = time.monotonic()
                yield event
                if event["type"] == "run_finished":
                    return
            if ended:
                return
            if time.monotonic() - quiet_since > beat_s:
                quiet_since = time.monotonic()
                yield None
            if writer is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(writer.wait_written(seen), beat_s)
            else:
                await asyncio.sleep(self.poll_s)


async def _stop(flusher: asyncio.Task[None]) -> None:
    """Stop an event flusher, letting a batch it is writing land first."""
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
