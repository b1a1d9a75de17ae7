"""A durable run seen and steered from any process of its database.

The process running a run writes its events and its debug state (breakpoints, waiting nodes) to
the store, and polls the store for what other processes asked of it: a cancel, debug commands.
Any process follows the run's events from the store (its own runs, from memory up to what the
store has).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from functools import partial
from typing import Any

from engine.run.debug import NODE_ACTIONS, Debugger, DebugRefused, check_command
from engine.run.event_writer import EventWriter
from engine.run.events import Event
from engine.run.runtime import RunHandle, RunResult
from engine.run.store import FINISHED, DebugCommand, RunStore

EMPTY: dict[str, Any] = {"breakpoints": [], "waiting": []}


class SharedDebugger(Debugger):
    """A durable run's debugger: its state is written to the run's row whenever it changes, so
    every process shows the same breakpoints and waiting nodes. `written`: what the row has."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        breakpoints: Iterable[str] = (),
        written: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(breakpoints)
        self.store = store
        self.run_id = run_id
        self._written = written or EMPTY
        self._writing = asyncio.Lock()  # a later state never lands before an earlier one

    async def changed(self, taken: int = 0) -> None:
        """Write the state if the row has another, and drop the stored commands up to `taken`
        (applied) in the same write."""
        async with self._writing:
            state = self.state()
            if state == self._written and not taken:
                return
            await asyncio.to_thread(self.store.publish_debug, self.run_id, state, taken)
            self._written = state

    async def take(self, commands: list[DebugCommand]) -> None:
        """Apply debug commands stored by other processes, in order."""
        for command in commands:
            self.apply(command.action, command.node_id)
        await self.changed(taken=commands[-1].id)


async def ask_debug(store: RunStore, run_id: str, action: str, node_id: str | None) -> None:
    """Store a debug command for the process that runs the run (it applies them in order within
    its poll interval); refused for an unknown or finished run, or a command that cannot apply."""
    row = await asyncio.to_thread(store.run, run_id)
    if row is None:
        raise DebugRefused("not_found", f"no run '{run_id}'")
    if row["status"] in FINISHED:
        raise DebugRefused("finished", f"run {run_id} is already {row['status']}")
    check_command(action, node_id, {node["id"] for node in row["flow"]["nodes"]})
    node_id = node_id if action in NODE_ACTIONS else None
    await asyncio.to_thread(store.post_debug, run_id, action, node_id)


class Watches:
    """The runs this process executes, watched over: each one's event writer, and a task that
    writes its events as they come and applies what other processes ask of the run."""

    def __init__(self, store: RunStore, poll_s: float) -> None:
        self.store = store
        self.poll_s = poll_s
        self.writers: dict[str, EventWriter] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def writer(self, run_id: str, history: list[Event]) -> EventWriter:
        """The run's writer, numbering its events after the history the store has."""
        writer = EventWriter(self.store, run_id, written=history[-1]["seq"] if history else 0)
        self.writers[run_id] = writer
        return writer

    def start(self, run_id: str, handle: RunHandle) -> None:
        self._tasks[run_id] = asyncio.ensure_future(self._tend(run_id, handle))

    async def finish(self, run_id: str, result: RunResult) -> None:
        """The run ended: stop watching it, then write its last events with how it ended."""
        task = self._tasks.pop(run_id, None)  # close() may have stopped it already
        if task is not None:
            await _stop(task)
        end = partial(self.store.finish_run, run_id, result.status, result.output, result.error)
        await self.writers[run_id].write(end)

    def abandon(self, run_id: str) -> None:
        """The run's body raised: stop watching it (its writer stays, for `close`)."""
        task = self._tasks.pop(run_id, None)
        if task is not None:
            task.cancel()

    def forget(self, run_id: str) -> None:
        """The run's events and result are in the store: whoever asks reads them there."""
        self.writers.pop(run_id, None)

    def flush(self, run_id: str) -> None:
        """Write the events of this run not written yet (on the event loop)."""
        writer = self.writers.get(run_id)
        if writer is not None:
            writer.write_now()

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def close(self) -> None:
        """Stop watching, then write the events of runs still paused or going."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            await _stop(task)
        for writer in list(self.writers.values()):
            await writer.write()

    async def _tend(self, run_id: str, handle: RunHandle) -> None:
        """Write the run's events, and apply other processes' requests (if either fails, both
        stop: the run's closing write takes what is left)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.writers[run_id].run())
            group.create_task(self._watch(run_id, handle))

    async def _watch(self, run_id: str, handle: RunHandle) -> None:
        """Every `poll_s`, one query for a cancel or debug commands asked from another process."""
        debugger = handle.debugger
        assert isinstance(debugger, SharedDebugger)
        # Its first breakpoints; recovered, the row may still show the last process's state.
        await debugger.changed()
        while True:
            await asyncio.sleep(self.poll_s)
            asked = await asyncio.to_thread(self.store.requests, run_id)
            if asked.cancel:
                handle.cancel()
            if asked.debug:
                await debugger.take(asked.debug)

    async def follow(
        self, handles: Mapping[str, RunHandle], run_id: str, after: int = 0, beat_s: float = 15
    ) -> AsyncIterator[Event | None]:
        """The run's events after seq `after`, in order, until `run_finished`, and None after
        `beat_s` without one (time for a keep-alive). Only events the store has: a restart
        renumbers none of them, so whoever resumes after the last seq seen misses none and sees
        none twice. A run of this process (in `handles`) is read from memory up to what its writer
        wrote; another's from the store, polled."""
        seen = after
        quiet_since = time.monotonic()
        while True:
            handle, writer = handles.get(run_id), self.writers.get(run_id)
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


async def _stop(task: asyncio.Task[None]) -> None:
    """Stop a run's watch, letting a batch of events it is writing land first."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
