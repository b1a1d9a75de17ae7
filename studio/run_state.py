"""What a run looks like from its events (docs/flows.md §3): per-node states, taken and dead edges.

Qt-free, so it is tested without a display and the canvas, the data inspector and the history
all read the same reduction of the same stream, live or replayed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.flow import Flow

NODE_STATUSES = (
    "queued",
    "running",
    "paused",
    "retrying",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
)
FINISHED_RUN = ("succeeded", "failed", "cancelled")


def format_duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 // 1000)} s"


@dataclass
class Execution:
    """One execution of a node: `key` is the node id, or e.g. `each[0]/summarize` in a loop."""

    key: str
    node_id: str
    status: str = "queued"
    attempt: int = 0
    handle: str | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    pinned: bool = False
    """Not run: its output was taken from an earlier run (run from a node)."""

    def elapsed_ms(self, now: float | None = None) -> float | None:
        """The reported duration, or the time so far for a node still running."""
        if self.duration_ms is not None:
            return self.duration_ms
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else (now or time.time())
        return max(0.0, (end - self.started_at) * 1000)

    def details(self) -> dict[str, Any]:
        """What the data inspector shows, as plain JSON."""
        shown: dict[str, Any] = {"status": self.status, "attempt": self.attempt}
        if self.pinned:
            shown["pinned"] = True
        if self.handle is not None:
            shown["handle"] = self.handle
        shown["output"] = self.output
        if self.error is not None:
            shown["error"] = self.error
        elapsed = self.elapsed_ms()
        shown["timings"] = {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": round(elapsed, 3) if elapsed is not None else None,
        }
        if isinstance(self.output, dict) and "usage" in self.output:
            shown["usage"] = self.output["usage"]
        if self.tool_calls:
            shown["tool_calls"] = self.tool_calls
        if self.text:
            shown["streamed_text"] = self.text
        return shown


@dataclass
class Pause:
    node_id: str
    kind: str
    prompt: str
    seq: int
    details: str = ""
    """A review's rendered details (the order, the customer's words), shown under its title."""
    form: dict[str, Any] | None = None
    """A review's form (a JSON Schema) whose values go with the decision."""


class RunState:
    """The reduction of one run's events; `apply` them in order (duplicates are ignored)."""

    def __init__(self, run_id: str = "", flow: Flow | None = None) -> None:
        self.run_id = run_id
        self.flow = flow
        self.trigger: str | None = None
        self.status = "queued"
        self.last_seq = 0
        self.executions: dict[str, Execution] = {}
        self.pauses: dict[str, Pause] = {}
        self.output: Any = None
        self.error: Any = None
        self.usage: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]], flow: Flow | None = None) -> RunState:
        state = cls(flow=flow)
        for event in events:
            state.apply(event)
        return state

    # ------------------------------------------------------------------------------ reducing

    def apply(self, event: dict[str, Any]) -> bool:
        """Fold one event in; False when it was already seen (a resumed stream repeats none,
        but a replay after a reconnect may)."""
        seq = int(event.get("seq", self.last_seq + 1))
        if seq <= self.last_seq:
            return False
        self.last_seq = seq
        self.run_id = self.run_id or str(event.get("run_id", ""))
        kind = event["type"]
        ts = float(event.get("ts") or time.time())
        if kind == "run_started":
            self.status, self.started_at = "running", ts
            self.trigger = event.get("trigger")
        elif kind == "run_paused":
            node_id = str(event.get("node_id") or "")
            form = event.get("form")
            self.pauses[node_id] = Pause(
                node_id,
                str(event.get("kind", "")),
                str(event.get("prompt") or ""),
                seq,
                str(event.get("details") or ""),
                form if isinstance(form, dict) else None,
            )
            self.status = "paused"
        elif kind == "run_resumed":
            self.pauses.pop(str(event.get("node_id") or ""), None)
            if not self.pauses:
                self.status = "running"
        elif kind == "message":
            self.messages.append(event)
        elif kind == "run_finished":
            self._finish(event, ts)
        elif "key" in event:
            self._apply_node_event(kind, event, seq, ts)
        return True

    def _apply_node_event(self, kind: str, event: dict[str, Any], seq: int, ts: float) -> None:
        key = str(event["key"])
        execution = self.executions.get(key)
        if execution is None:
            execution = self.executions[key] = Execution(key, str(event["node_id"]))
        execution.seq = seq
        if kind == "node_started":
            execution.status, execution.started_at = "running", ts
            execution.attempt = int(event.get("attempt", execution.attempt + 1))
            execution.finished_at = execution.duration_ms = None
            execution.error = None
        elif kind == "node_finished":
            execution.status, execution.finished_at = "succeeded", ts
            execution.handle = event.get("handle")
            execution.output = event.get("output")
            execution.duration_ms = event.get("duration_ms")
            execution.pinned = bool(event.get("pinned"))
        elif kind == "node_failed":
            execution.status = "retrying" if event.get("will_retry") else "failed"
            execution.finished_at = ts
            error = event.get("error")
            execution.error = error if isinstance(error, dict) else {"message": str(error)}
        elif kind == "node_skipped":
            execution.status, execution.finished_at = "skipped", ts
        elif kind == "node_delta":
            execution.text += str(event.get("text", ""))
        elif kind == "tool_call":
            execution.tool_calls.append(
                {"tool": event.get("tool"), "arguments": event.get("arguments"), "at": ts}
            )
        elif kind == "tool_result":
            for call in reversed(execution.tool_calls):
                if call["tool"] == event.get("tool") and "is_error" not in call:
                    call["is_error"] = event.get("is_error")
                    call["latency_ms"] = round((ts - call["at"]) * 1000, 3)
                    break

    def _finish(self, event: dict[str, Any], ts: float) -> None:
        self.status = str(event.get("status", "succeeded"))
        self.output, self.error = event.get("output"), event.get("error")
        self.usage = dict(event.get("usage") or {})
        self.finished_at = ts
        self.pauses.clear()
        # An `end` node finishes the run from inside: it never reports node_finished itself.
        settled = "succeeded" if self.status == "succeeded" else "cancelled"
        for execution in self.executions.values():
            if execution.status in ("running", "queued", "retrying", "paused"):
                execution.status, execution.finished_at = settled, ts

    # ------------------------------------------------------------------------------- reading

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN

    def summary(self) -> str:
        """One line for the run panel: how the run ended, what it waits for, or what runs."""
        short = self.run_id[:8]
        if self.finished:
            took = ""
            if self.started_at is not None and self.finished_at is not None:
                took = f" in {format_duration((self.finished_at - self.started_at) * 1000)}"
            text = f"Run {short} {self.status}{took}"
            if self.status == "succeeded" and self.output is not None:
                text += f": {json.dumps(self.output, default=str)[:200]}"
            elif self.error:
                error = self.error
                text += f": {error.get('message', error) if isinstance(error, dict) else error}"
            return text
        if self.pauses:
            pause = min(self.pauses.values(), key=lambda p: p.seq)
            if pause.kind == "breakpoint":
                return f"Run {short} paused before {pause.node_id} (Step or Continue)"
            return f"Run {short} waiting at {pause.node_id}: {pause.prompt}"
        running = sorted({e.node_id for e in self.executions.values() if e.status == "running"})
        return f"Run {short} running {', '.join(running)}".rstrip()

    def executions_of(self, node_id: str) -> list[Execution]:
        """A node's executions in the order they happened (several inside a loop)."""
        found = [e for e in self.executions.values() if e.node_id == node_id]
        return sorted(found, key=lambda e: (e.started_at or 0.0, e.key))

    def latest(self, node_id: str) -> Execution | None:
        found = [e for e in self.executions.values() if e.node_id == node_id]
        return max(found, key=lambda e: e.seq) if found else None

    def node_status(self, node_id: str) -> str | None:
        """The node's state for the canvas; None when the run has not reached it."""
        if node_id in self.pauses:
            return "paused"
        executions = [e for e in self.executions.values() if e.node_id == node_id]
        if any(e.status == "running" for e in executions):
            return "running"
        if executions:
            return max(executions, key=lambda e: e.seq).status
        if not self.finished and self._activated(node_id):
            return "queued"
        return None

    def node_statuses(self) -> dict[str, str]:
        node_ids = {e.node_id for e in self.executions.values()} | set(self.pauses)
        if self.flow is not None:
            node_ids |= set(self.flow.node_map)
        statuses = {n: self.node_status(n) for n in sorted(node_ids) if n}
        return {n: s for n, s in statuses.items() if s is not None}

    def _activated(self, node_id: str) -> bool:
        if self.flow is None:
            return False
        return any(
            self.edge_state(edge.source, edge.handle) == "taken"
            for edge in self.flow.edges
            if edge.target == node_id
        )

    def edge_state(self, source: str, handle: str) -> str | None:
        """ "taken", "dead" or None (not settled yet) for the edges leaving `source` by `handle`."""
        executions = [e for e in self.executions.values() if e.node_id == source]
        if not executions:
            return "dead" if self.finished else None
        if any(e.handle == handle for e in executions):
            return "taken"
        if handle == "error" and any(e.status == "failed" for e in executions):
            return "taken"
        if all(e.status in ("succeeded", "skipped", "failed", "cancelled") for e in executions):
            return "dead"
        return None

    def edge_states(self) -> dict[str, str]:
        """Each settled edge of the flow by id: taken or dead."""
        if self.flow is None:
            return {}
        states = {edge.id: self.edge_state(edge.source, edge.handle) for edge in self.flow.edges}
        return {edge_id: s for edge_id, s in states.items() if s is not None}
