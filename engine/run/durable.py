"""Durable runs on DBOS Transact: a run is a workflow (run id = workflow id).

DBOS carries the run's lifecycle: start, recovery after a crash (pending workflows are re-run
when a runtime launches) and, on PostgreSQL, a queue that the runtime processes of one database
share (each with its own executor id). The workflow body is the interpreter; it makes no DBOS
calls of its own, so replays are deterministic by construction: side-effecting and pausing nodes
read their recorded outcomes (`StoreRecorder`), pure nodes are recomputed, and events already in
the history are not emitted twice. The run store and DBOS are reconciled at launch
(`engine.run.reconcile`), so a kill between their commits strands no run (docs/durability.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dbos import DBOS, DBOSConfig, Queue, SetWorkflowID

from engine.flow import Flow, to_document
from engine.paths import data_dir, private_file
from engine.run import faults, replay, rerun, watch
from engine.run.context import NodeContext, Outcome, Services
from engine.run.dbos_logging import configure_dbos_logging
from engine.run.debug import Debugger, check_command
from engine.run.events import Event, EventLog
from engine.run.locks import RuntimeBusy, RuntimeLock
from engine.run.reconcile import Reconciled, log_failure, reconcile
from engine.run.recorder import StoreRecorder
from engine.run.runtime import (
    CheckedFlows,
    RunHandle,
    RunResult,
    child_run_id,
    pick_trigger,
)
from engine.run.store import RunStore
from engine.store.db import create_engine

if TYPE_CHECKING:
    from engine.run.retention import Retention

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
        self.starting: dict[str, Flow] = {}
        self.creating: set[str] = set()  # runs whose row is written, their workflow not yet
        self.failures: dict[str, Exception] = {}  # why a run's body raised in this process
        self._reconciling: asyncio.Task[Reconciled] | None = None
        self.watches = watch.Watches(self.store, poll_s)
        if self.services.children is None:
            self.services.children = self

    @property
    def system_url(self) -> str:
        """DBOS's database: a sibling SQLite file, or the same PostgreSQL database."""
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            return f"sqlite:///{private_file(path.with_name(path.stem + '-dbos.sqlite'))}"
        return self.url

    def prune(self, policy: Retention) -> list[str]:
        """Delete the finished runs `policy` does not keep, with their DBOS workflows; returns
        their ids. Needs no launch: the store and DBOS's database only."""
        from engine.run import retention

        forget = partial(retention.forget_workflows, self.system_url)
        return retention.prune(self.store, policy, forget=forget)

    def launch(self) -> None:
        """Start DBOS in the running event loop; pending runs of this executor are recovered
        (on PostgreSQL: put back on the runs queue, for whichever process is free), and runs
        left between the run store and DBOS by a crash are reconciled (see `reconciled`)."""
        global _active
        self.lock.acquire()
        _active = self
        configure_dbos_logging()
        config: DBOSConfig = {
            "name": "aerostudio",
            "system_database_url": self.system_url,
            "application_version": replay.APPLICATION_VERSION,
            "executor_id": self.executor_id,
            "log_level": "ERROR",
        }
        DBOS(config=config)
        DBOS.launch()
        if self.shared:
            self._queue = self._register_queue()
        self._reconciling = asyncio.get_running_loop().create_task(reconcile(self))
        self._reconciling.add_done_callback(log_failure)

    async def reconciled(self) -> Reconciled:
        """What the launch did about runs a crash left between the run store and DBOS."""
        if self._reconciling is None:
            raise RuntimeError("the runtime is not launched")
        return await asyncio.shield(self._reconciling)

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
        if self._reconciling is not None:
            self._reconciling.cancel()
        self.watches.cancel()
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
        if self._reconciling is not None:  # the next launch reconciles what is left
            self._reconciling.cancel()
            await asyncio.gather(self._reconciling, return_exceptions=True)
        await self.watches.close()
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
        try:
            handle = self.new_handle(run_id, flow, [], breakpoints)
            self.starting[run_id] = flow
            await self.begin(run_id)
        finally:
            self.creating.discard(run_id)
        faults.point("after_workflow_start")
        return handle

    async def begin(self, run_id: str) -> None:
        """Start the workflow of a recorded run, in this process (a no-op if it exists)."""
        with SetWorkflowID(run_id):
            await DBOS.start_workflow_async(run_workflow, run_id)

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
        try:
            with SetWorkflowID(run_id):
                await self._queue.enqueue_async(run_workflow, run_id)
        finally:
            self.creating.discard(run_id)
        faults.point("after_workflow_start")
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
        """Validate the flow and record the run (flow, input, options) for whoever executes it.
        Its workflow is started next (the caller's `creating` until then): should this process
        die in between, the next launch of its executor id starts it (`reconcile`)."""
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
            "executor": self.executor_id,
        }
        self.creating.add(run_id)
        try:
            await asyncio.to_thread(
                self.store.create_run, run_id, flow.id, self._document(flow), payload, options
            )
        except BaseException:
            self.creating.discard(run_id)
            raise
        faults.point("after_run_row")
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

    def new_handle(
        self,
        run_id: str,
        flow: Flow,
        history: list[Event],
        breakpoints: Iterable[str] = (),
        debug: dict[str, Any] | None = None,
    ) -> RunHandle:
        """`debug`: the debug state the run's row has (after a restart, the last process's,
        which this one's replaces as it starts to watch the run)."""
        events = EventLog(run_id, history, sink=self.watches.writer(run_id, history).add)
        handle = RunHandle(
            run_id,
            flow,
            events,
            watch.SharedDebugger(self.store, run_id, breakpoints, written=debug),
            StoreRecorder(self.store, run_id, self.poll_s),
        )
        self.handles[run_id] = handle
        return handle

    def pins_from_run(self, earlier: str, flow: Flow, node_id: str) -> dict[str, Outcome]:
        """To run again from `node_id`: the outcomes of an earlier run's nodes before it."""
        return rerun.pins_from_run(self.store, earlier, flow, node_id)

    def post(self, run_id: str, message: dict[str, Any], node_id: str | None = None) -> None:
        """Answer a paused run, whichever process is running it."""
        self.store.post_message(run_id, message, node_id)

    def cancel(self, run_id: str) -> None:
        self.store.request_cancel(run_id)
        handle = self.handles.get(run_id)
        if handle is not None:
            handle.cancel()

    async def debug(self, run_id: str, action: str, node_id: str | None = None) -> Debugger | None:
        """Step-debug a run, whichever process runs it: a run of this process takes the command
        at once (its debugger is returned); another's is stored, and its process applies it
        within its poll interval (None). Raises DebugRefused."""
        handle = self.handles.get(run_id)
        if handle is None:
            await watch.ask_debug(self.store, run_id, action, node_id)
            return None
        check_command(action, node_id, handle.flow.node_map)
        await handle.debugger.command(action, node_id)
        return handle.debugger

    # --------------------------------------------------------------------------- executing

    async def execute(self, run_id: str) -> RunResult:
        """The workflow body (`replay.execute`); why it failed is kept for recovery to report,
        rather than wait for a run that will not go on."""
        try:
            return await replay.execute(self, run_id)
        except Exception as exc:
            self.failures[run_id] = exc
            raise

    def flush(self, run_id: str) -> None:
        """Write the events of this run not written yet (on the event loop)."""
        self.watches.flush(run_id)

    def follow(
        self, run_id: str, after: int = 0, beat_s: float = 15
    ) -> AsyncIterator[Event | None]:
        """The run's events after seq `after` until `run_finished`, whichever process runs it
        (see `Watches.follow`)."""
        return self.watches.follow(self.handles, run_id, after, beat_s)
