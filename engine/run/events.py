"""Run events (docs/flows.md §3): one protocol for the studio, the API stream and the logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from engine.redaction import Redactor

Event = dict[str, Any]
Subscriber = Callable[[Event], None]

EVENT_TYPES = frozenset(
    {
        "run_started",
        "node_started",
        "node_delta",
        "tool_call",
        "tool_result",
        "node_finished",
        "node_failed",
        "node_skipped",
        "run_paused",
        "run_resumed",
        "message",
        "run_finished",
    }
)


class EventLog:
    """Numbers a run's events, keeps them (history) and hands each to the subscribers.

    In-process only: the history and the subscribers get an event before any store has it, and
    a restart may give its seq to another. A durable run's stream for anyone else is
    `DurableRuntime.follow`. Every event's fields pass through `redactor` (the workspace's secret
    values) first, so no history, subscriber, store or stream ever holds a secret."""

    def __init__(
        self,
        run_id: str,
        history: list[Event] | None = None,
        sink: Subscriber | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run_id = run_id
        self.history: list[Event] = list(history or [])
        self.finished_keys = {
            e["key"]
            for e in self.history
            if e["type"] in ("node_finished", "node_skipped") and "key" in e
        }
        self._started = any(e["type"] == "run_started" for e in self.history)
        self._subscribers: list[Subscriber] = [sink] if sink else []
        self._clock = clock
        self._changed = asyncio.Event()
        self.redactor = Redactor()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Receive every later event; returns a function that unsubscribes."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def replayed(self, event_type: str, fields: dict[str, Any]) -> bool:
        """Whether a replay after a restart is re-living an event the history already has."""
        if event_type == "run_started":
            return self._started
        return event_type.startswith("node_") and fields.get("key") in self.finished_keys

    def emit(self, event_type: str, **fields: Any) -> Event | None:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type '{event_type}'")
        if not fields.keys().isdisjoint(("type", "run_id", "seq", "ts")):
            raise ValueError("event fields may not replace type, run_id, seq or ts")
        if self.replayed(event_type, fields):
            return None
        event = {
            "type": event_type,
            "run_id": self.run_id,
            "seq": len(self.history) + 1,
            "ts": self._clock(),
            **self.redactor.value(fields),
        }
        self.history.append(event)
        for subscriber in list(self._subscribers):
            subscriber(event)
        self._changed.set()
        return event

    async def wait_for(self, predicate: Callable[[Event], bool]) -> Event:
        """The first event (past or future) matching `predicate`."""
        seen = 0
        while True:
            for event in self.history[seen:]:
                if predicate(event):
                    return event
            seen = len(self.history)
            self._changed.clear()
            await self._changed.wait()


def node_table(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each node execution (by key) with its status, handle, duration, output or error."""
    table: dict[str, dict[str, Any]] = {}
    for event in events:
        key = event.get("key")
        if key is None:
            if event["type"] == "run_paused" and event.get("node_id"):
                for row in table.values():
                    if row["node_id"] == event["node_id"] and row["status"] == "running":
                        row["status"] = "paused"
            continue
        row = table.setdefault(key, {"node_id": event["node_id"], "status": "queued"})
        if event["type"] == "node_started":
            row.update(status="running", attempt=event["attempt"])
        elif event["type"] == "node_finished":
            row.update(
                status="succeeded",
                handle=event["handle"],
                output=event["output"],
                duration_ms=event["duration_ms"],
            )
        elif event["type"] == "node_failed":
            row.update(
                status="retrying" if event["will_retry"] else "failed",
                error=event["error"]["message"],
            )
        elif event["type"] == "node_skipped":
            row["status"] = "skipped"
    return table


async def load_secrets(redactor: Redactor, lookup: Any, workspace: str) -> None:
    """Have `redactor` look for every secret value of the run's workspace, when its vault can
    list them (`secret_values`); values read later are added as they are read."""
    listing = getattr(lookup, "secret_values", None)
    if listing is not None:
        redactor.add(str(value) for value in await listing(workspace))
