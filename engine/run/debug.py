"""Step-debugging, outside durable history: breakpoints, pause, step, continue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from engine.run.events import EventLog


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

    async def before(self, node_id: str, events: EventLog) -> None:
        if self._free and node_id not in self.breakpoints:
            return
        self.waiting.append(node_id)
        events.emit(
            "run_paused", node_id=node_id, kind="breakpoint", prompt=f"paused before {node_id}"
        )
        try:
            await self._tokens.get()
        finally:
            self.waiting.remove(node_id)
        events.emit("run_resumed", node_id=node_id, kind="breakpoint")
