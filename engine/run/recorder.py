"""Where a run keeps what must not happen twice: node outcomes, timers, answers to pauses.

`MemoryRecorder` keeps nothing (runs in this process only); `StoreRecorder` commits to the run
store, so a run replayed after a crash reuses every recorded outcome.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engine.run.store import Record, RunStore


class MemoryRecorder:
    def __init__(self) -> None:
        self._inbox: list[tuple[str | None, dict[str, Any]]] = []
        self._waiters: list[asyncio.Future[None]] = []

    def recorded(self, key: str) -> Record | None:
        return None

    async def commit(self, key: str, record: Record) -> Record:
        return record

    def post(self, message: dict[str, Any], node_id: str | None = None) -> None:
        self._inbox.append((node_id, message))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def _take(self, node_id: str, addressed: bool) -> dict[str, Any] | None:
        for index, (to, message) in enumerate(self._inbox):
            if to == node_id or (to is None and not addressed):
                del self._inbox[index]
                return message
        return None

    async def _wait(
        self, node_id: str, addressed: bool, timeout_s: float | None
    ) -> dict[str, Any] | None:
        async def taken() -> dict[str, Any]:
            while (message := self._take(node_id, addressed)) is None:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter
            return message

        try:
            return await asyncio.wait_for(taken(), timeout_s)
        except TimeoutError:
            return None

    async def wait_message(
        self, node_id: str, key: str, timeout_s: float | None
    ) -> dict[str, Any] | None:
        return await self._wait(node_id, False, timeout_s)

    async def sleep(self, key: str, seconds: float, node_id: str = "") -> None:
        await self._wait(node_id, True, seconds)


class StoreRecorder:
    """Records in the run store; waits poll it, so any process may answer a paused run."""

    def __init__(self, store: RunStore, run_id: str, poll_s: float = 0.1) -> None:
        self.store = store
        self.run_id = run_id
        self.poll_s = poll_s
        self._records = store.records(run_id)
        # The waits whose last look found no answer, none being taken now: the run waits for
        # someone (what `runs recover` needs to know before it leaves a run paused).
        self.idle: set[str] = set()

    def recorded(self, key: str) -> Record | None:
        return self._records.get(key)

    async def commit(self, key: str, record: Record) -> Record:
        committed = self.store.commit_record(self.run_id, key, record)
        self._records[key] = committed
        return committed

    def post(self, message: dict[str, Any], node_id: str | None = None) -> None:
        self.store.post_message(self.run_id, message, node_id)

    async def wait_message(
        self, node_id: str, key: str, timeout_s: float | None
    ) -> dict[str, Any] | None:
        """The next answer for this node; the wait's deadline is recorded, so it survives a
        restart without starting over."""
        deadline = None if timeout_s is None else await self._due(f"{key}#wait", timeout_s)
        while True:
            self.idle.discard(key)
            message = await asyncio.to_thread(self.store.take_message, self.run_id, node_id, key)
            if message is not None:
                return message
            if deadline is not None and time.time() >= deadline:
                return None
            self.idle.add(key)
            await asyncio.sleep(self.poll_s)

    async def sleep(self, key: str, seconds: float, node_id: str = "") -> None:
        """Until the recorded due time, or until a message posted to this node fires it now."""
        due = await self._due(f"{key}#timer", seconds)
        while time.time() < due:
            fired = await asyncio.to_thread(
                self.store.take_message, self.run_id, node_id, f"{key}#fire", True
            )
            if fired is not None:
                return
            await asyncio.sleep(min(self.poll_s, max(0.0, due - time.time())))

    async def _due(self, key: str, seconds: float) -> float:
        record = self.recorded(key)
        if record is None:
            record = await self.commit(key, Record(key, "due", time.time() + seconds, {}, 0.0))
        return float(record.output)
