"""A run's events on their way to the store, and how far the store has them.

A restart reloads a run's history from the store and numbers its next events after the last one
written, so an event that was only in memory at a `kill -9` can see its `seq` reused by another.
Whoever streams events outside the run's process therefore reads no further than `written`.

`run_finished` is held back until the run's closing write, which commits it with the run's status
in one transaction: no flush or batch lands it ahead of the status, so whoever reads it finds the
run finished, and a process killed in between replays the run's end instead of repeating it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from engine.run import faults
from engine.run.events import Event
from engine.run.store import RunStore

# At most one write per run this often while its events come: a token stream costs a run at most
# 40 commits a second, and reaches a watcher within this (plus one commit) of its emission.
BATCH_S = 0.025
RETRY_S = 1.0  # after a failed write (the database away): its batch is written again then

Commit = Callable[[list[Event]], None]
log = logging.getLogger(__name__)


class EventWriter:
    """Writes one run's events in order, a batch at a time, as soon as they come; `written` is
    the last `seq` the store has."""

    def __init__(self, store: RunStore, run_id: str, written: int) -> None:
        self.store = store
        self.run_id = run_id
        self.written = written
        self._pending: list[Event] = []
        self._closing: list[Event] = []  # run_finished, for the closing write only
        self._arrived = asyncio.Event()
        self._advanced = asyncio.Event()
        # One batch at a time, in order, whichever thread writes it: a batch that lands before
        # an earlier one would leave a gap that a restart fills with other events.
        self._lock = threading.Lock()

    def add(self, event: Event) -> None:
        """Queue an event (the run's EventLog sink, on the event loop)."""
        if event["type"] == "run_finished":
            self._closing.append(event)
            return
        self._pending.append(event)
        self._arrived.set()

    async def run(self) -> None:
        """Write batches as events come, until cancelled (a batch taken is written first)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            started = loop.time()
            try:
                await self.write()
            except Exception as exc:  # its batch is pending again, for the next round
                cause = getattr(exc, "orig", None) or exc  # the driver's words, not the rows
                log.error("writing the events of run %s failed: %s", self.run_id, cause)
                await asyncio.sleep(RETRY_S)
            await asyncio.sleep(max(0.0, started + BATCH_S - loop.time()))

    async def write(self, commit: Commit | None = None) -> None:
        """Write the pending events: by `commit(batch)` when given (the run's closing
        transaction, with run_finished), else as a batch of their own."""
        self._lock.acquire()  # held, if at all, by a write in a thread, which needs no loop
        batch = self._take(closing=commit is not None)
        # Handed to a thread at once: `write_now` may block the loop on the lock until it ran.
        writing = asyncio.get_running_loop().run_in_executor(None, self._commit, batch, commit)
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            await writing
            raise
        finally:
            if writing.done() and writing.exception() is not None:
                self._put_back(batch)
        self._advance(batch)

    def write_now(self) -> None:
        """Write the pending events before returning (on the event loop; waits for a batch
        being written in a thread)."""
        with self._lock:
            batch = self._take()
            try:
                self.store.append_events(self.run_id, batch)
            except Exception:
                self._put_back(batch)
                raise
        self._advance(batch)

    async def wait_written(self, after: int) -> None:
        """Return once the store has an event after seq `after`."""
        while self.written <= after:
            self._advanced.clear()
            await self._advanced.wait()

    def _take(self, closing: bool = False) -> list[Event]:
        batch, self._pending = self._pending, []
        if closing:
            batch, self._closing = batch + self._closing, []
        self._arrived.clear()
        return batch

    def _put_back(self, batch: list[Event]) -> None:
        """A batch that failed to land goes first in line again: no event may be skipped."""
        closing = [e for e in batch if e["type"] == "run_finished"]
        self._pending[:0] = [e for e in batch if e["type"] != "run_finished"]
        self._closing[:0] = closing
        self._arrived.set()

    def _commit(self, batch: list[Event], commit: Commit | None) -> None:
        try:
            if commit is not None:
                commit(batch)
            else:
                self.store.append_events(self.run_id, batch)
        finally:
            self._lock.release()

    def _advance(self, batch: list[Event]) -> None:
        if faults.ACTIVE and any(e["type"] == "run_paused" for e in batch):
            faults.point("after_pause_written")
        if batch:
            self.written = max(self.written, batch[-1]["seq"])
            self._advanced.set()
