"""Durable runs on DBOS Transact: a run is a workflow (run id = workflow id).

DBOS carries the run's lifecycle: start, recovery after a crash (pending workflows are re-run
when a runtime launches), and later queues for scale-out. The workflow body is the interpreter;
it makes no DBOS calls of its own, so replays are deterministic by construction: side-effecting
and pausing nodes read their recorded outcomes (`StoreRecorder`), pure nodes are recomputed,
and events already in the history are not emitted twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSConfig, SetWorkflowID

from engine import __version__
from engine.flow import Flow, from_document, to_document
from engine.paths import data_dir
from engine.run.context import NodeContext, Outcome, Services
from engine.run.debug import Debugger
from engine.run.events import Event, EventLog
from engine.run.graph import FlowGraph
from engine.run.interpreter import Interpreter
from engine.run.recorder import StoreRecorder
from engine.run.runtime import (
    CheckedFlows,
    RunHandle,
    RunResult,
    child_run_id,
    execute,
    pick_trigger,
)
from engine.run.store import RunStore
from engine.store.db import create_engine

# Bump the suffix when the interpreter changes how it replays recorded runs.
APPLICATION_VERSION = f"aerostudio-{__version__}-replay1"

_active: DurableRuntime | None = None


class RuntimeBusy(RuntimeError):
    """Another process already runs this database's runs."""


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


class RuntimeLock:
    """One process at a time executes the runs of a SQLite file: whoever holds this lock.

    The OS drops the lock when its holder dies, even by `kill -9`, so a restart can take over.
    PostgreSQL runtimes share work through DBOS executor ids instead and take no lock.
    """

    def __init__(self, url: str) -> None:
        self.path = (
            Path(url.removeprefix("sqlite:///") + ".lock") if url.startswith("sqlite:///") else None
        )
        self._file: Any = None

    def acquire(self) -> bool:
        if self.path is None:
            return True
        import fcntl

        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class DurableRuntime:
    """Runs that survive the process: SQLite in the data directory, or PostgreSQL."""

    def __init__(
        self,
        url: str | None = None,
        *,
        services: Services | None = None,
        executor_id: str = "local",
        poll_s: float = 0.1,
    ) -> None:
        self.url = url or default_url()
        self.store = RunStore(create_engine(self.url))
        self.services = services or Services()
        self.executor_id = executor_id
        self.poll_s = poll_s
        self.handles: dict[str, RunHandle] = {}
        self.lock = RuntimeLock(self.url)
        self.checked = CheckedFlows()
        self._documents: dict[int, tuple[Flow, dict[str, Any]]] = {}
        self._starting: dict[str, Flow] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}
        self._buffers: dict[str, list[Event]] = {}
        if self.services.children is None:
            self.services.children = self

    def _system_url(self) -> str:
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            return f"sqlite:///{path.with_name(path.stem + '-dbos.sqlite')}"
        return self.url

    def launch(self) -> None:
        """Start DBOS in the running event loop; pending runs of this executor are recovered."""
        global _active
        if not self.lock.acquire():
            raise RuntimeBusy(f"another Aerostudio runtime is running the runs of {self.url}")
        _active = self
        _configure_dbos_logging()
        config: DBOSConfig = {
            "name": "aerostudio",
            "system_database_url": self._system_url(),
            "application_version": APPLICATION_VERSION,
            "executor_id": self.executor_id,
            "log_level": "ERROR",
        }
        DBOS(config=config)
        DBOS.launch()

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
        for run_id in list(self._buffers):  # events of runs still paused or going
            await asyncio.to_thread(self.flush, run_id)
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
        handle = self._handle(run_id, flow, [], breakpoints)
        self._starting[run_id] = flow
        with SetWorkflowID(run_id):
            await DBOS.start_workflow_async(run_workflow, run_id)
        return handle

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
                self.start(
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
            return await asyncio.wait_for(self._result(child_id), timeout_s)
        except TimeoutError:
            await asyncio.to_thread(self.cancel, child_id)
            raise

    async def _result(self, run_id: str) -> RunResult:
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
        buffer = self._buffers.setdefault(run_id, [])
        events = EventLog(run_id, history, sink=buffer.append)
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
        self._flushers[run_id] = asyncio.ensure_future(self._flush_loop(run_id, handle))
        try:
            result = await execute(interpreter, handle, row["options"]["trigger"], row["input"])
            await _stop(self._flushers.pop(run_id))
            await asyncio.to_thread(
                self.store.finish_run,
                run_id,
                result.status,
                result.output,
                result.error,
                self._take_batch(run_id),
            )
        except BaseException as exc:  # whoever waits for the run must hear of it
            flusher = self._flushers.pop(run_id, None)
            if flusher is not None:
                flusher.cancel()
            if not handle.done.done():
                handle.done.set_exception(exc)
            raise
        handle.done.set_result(result)
        return result

    def _take_batch(self, run_id: str) -> list[Event]:
        """The events not yet written (taken on the event loop, where they are appended)."""
        buffer = self._buffers.get(run_id, [])
        batch = buffer[:]
        del buffer[: len(batch)]
        return batch

    def flush(self, run_id: str) -> None:
        """Write the events still buffered for this run."""
        self.store.append_events(run_id, self._take_batch(run_id))

    async def _flush_loop(self, run_id: str, handle: RunHandle) -> None:
        """Write events in batches, and watch for a cancel asked from another process."""
        while True:
            await asyncio.sleep(self.poll_s)
            batch = self._take_batch(run_id)
            writing = asyncio.ensure_future(
                asyncio.to_thread(self.store.append_events, run_id, batch)
            )
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                await writing  # a batch taken is a batch written, even when stopped
                raise
            if await asyncio.to_thread(self.store.cancel_requested, run_id):
                handle.cancel()


async def _stop(flusher: asyncio.Task[None]) -> None:
    """Stop an event flusher, letting a batch it is writing land first."""
    flusher.cancel()
    await asyncio.gather(flusher, return_exceptions=True)
