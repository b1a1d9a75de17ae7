"""Step-debugging, outside durable history: breakpoints, pause, step, continue."""

from __future__ import annotations

import asyncio
from collections.abc import Container, Iterable
from typing import Any

from engine.run.events import EventLog

# The debug commands a client sends by name; the breakpoint ones name a node.
ACTIONS = ("pause", "step", "continue", "set_breakpoint", "clear_breakpoint")
NODE_ACTIONS = ("set_breakpoint", "clear_breakpoint")


class DebugRefused(Exception):
    """A debug command that cannot apply. `reason`: bad_request (an unknown action or node),
    not_found (no such run) or finished (the run is over)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_command(action: str, node_id: str | None, nodes: Container[str]) -> None:
    """Refuse an unknown action, or a breakpoint on a node the run's flow does not have."""
    if action not in ACTIONS:
        raise DebugRefused(
            "bad_request", f"unknown debug action '{action}' (one of: {', '.join(ACTIONS)})"
        )
    if action in NODE_ACTIONS and (node_id is None or node_id not in nodes):
        raise DebugRefused("bad_request", f"no node '{node_id}' in this run's flow")


class Debugger:
    """Gates each node before it starts.

    Free-running, a node passes unless it has a breakpoint or a pause was asked for. Paused, each
    `step()` lets exactly one waiting node through; `resume()` lets everything run again.
    """

    def __init__(self, breakpoints: Iterable[str] = ()) -> None:
        self.breakpoints: set[str] = set(breakpoints)
        self.waiting: list[str] = []
        self._free = True
        self._tokens: asyncio.Queue[None] = asyncio.Queue()

    def set_breakpoint(self, node_id: str) -> None:
        self.breakpoints.add(node_id)

    def clear_breakpoint(self, node_id: str) -> None:
        self.breakpoints.discard(node_id)

    def pause(self) -> None:
        self._free = False

    def step(self) -> None:
        self._free = False
        self._tokens.put_nowait(None)

    def resume(self) -> None:
        self._free = True
        for _ in self.waiting:
            self._tokens.put_nowait(None)

    def apply(self, action: str, node_id: str | None = None) -> None:
        """One command by its name in ACTIONS (checked by whoever accepted it)."""
        if action in NODE_ACTIONS:
            assert node_id is not None
            (self.set_breakpoint if action == "set_breakpoint" else self.clear_breakpoint)(node_id)
        else:
            {"pause": self.pause, "step": self.step, "continue": self.resume}[action]()

    async def command(self, action: str, node_id: str | None = None) -> None:
        """Apply a command and make its effect known (see `changed`)."""
        self.apply(action, node_id)
        await self.changed()

    def state(self) -> dict[str, Any]:
        """What a client shows: the breakpoints and the nodes waiting at one."""
        return {"breakpoints": sorted(self.breakpoints), "waiting": list(self.waiting)}

    async def changed(self) -> None:
        """The state changed; called before the event that tells of it. Nothing to do in
        memory; a durable run's debugger writes its state where other processes read it."""

    async def before(self, node_id: str, events: EventLog) -> None:
        if self._free and node_id not in self.breakpoints:
            return
        self.waiting.append(node_id)
        await self.changed()
        events.emit(
            "run_paused", node_id=node_id, kind="breakpoint", prompt=f"paused before {node_id}"
        )
        try:
            await self._tokens.get()
        finally:
            self.waiting.remove(node_id)
        await self.changed()
        events.emit("run_resumed", node_id=node_id, kind="breakpoint")
