"""What the studio's end-to-end tests share: a runtime served in this process, a scenario
driver on a qasync loop, polling waits with deadlines, and a small review flow.

Each test's scenario is a coroutine run on a qasync loop (an asyncio loop driven by Qt's own) by an
`asyncio.Runner`, which closes the loop and its worker threads when the scenario ends. Waits poll
a condition with a deadline; never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.api.app import EngineApi
from engine.paths import data_dir, examples_dir
from engine.run import Services
from engine.run.durable import DurableRuntime
from engine.run.library import FlowLibrary
from engine.run.mail import Outbox
from studio.app import EventLoop
from studio.document import FlowDocument
from studio.run_session import RunSession
from studio.window import MainWindow
from tests.flow.builders import edge, end, flow, node, set_vars, trigger
from tests.gateway.conftest import serving
from tests.gateway_fixtures import temporary_gateway

TOKEN = "admin-token-for-studio-tests"
WAIT_S = 30.0

REVIEW = flow(
    [
        trigger(
            input_schema={
                "type": "object",
                "properties": {"name": {"type": "string"}, "urgent": {"type": "boolean"}},
            }
        ),
        set_vars("a", greeting="hello {{ input.name }}"),
        node("review", "human_review", {"title": "Ship {{ input.name }}?"}),
        end("done", "{{ vars.greeting }}, {{ nodes.review.decision }}"),
    ],
    [edge("start", "a"), edge("a", "review"), edge("review", "done", "approved")],
)


# ---------------------------------------------------------------------------------- helpers


def drive(scenario: Coroutine[Any, Any, Any]) -> Any:
    """Run a test's scenario on an asyncio loop driven by Qt's event loop, then close the loop
    and stop its worker threads. (Not `qasync.run`: on Python 3.11 it installs a global loop
    policy, and DBOS's own thread would get a Qt loop too.)"""
    workers = qasync.QThreadExecutor()

    def qt_loop() -> asyncio.AbstractEventLoop:
        loop = EventLoop(QApplication.instance())
        loop.set_default_executor(workers)
        return loop

    gc.disable()  # see below: collections happen between scenarios, never inside Qt's dispatch
    try:
        with asyncio.Runner(loop_factory=qt_loop) as runner:
            return runner.run(scenario)
    finally:
        gc.enable()
        # DBOS replaces a loop's default executor with its own once a run starts; the loop then
        # closes DBOS's, and these threads are ours to stop (else the loop has stopped them).
        with contextlib.suppress(RuntimeError):
            workers.shutdown()
        # The scenario's garbage, freed here on the GUI thread and outside Qt's dispatch. (Not
        # the closed loop: DBOS keeps it until the next runtime launches; EventLoop.close has
        # already destroyed its Qt timers.)
        gc.collect()


async def until(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)
    return value


@contextlib.asynccontextmanager
async def in_process_runtime(folder: Path) -> AsyncIterator[str]:
    """The engine API over a durable runtime in this process, with what `aerostudio runtime`
    gives runs: the demo workspace's tools, the examples to delegate to, mail to the outbox."""
    gateway = temporary_gateway(folder)
    services = Services(
        tools=gateway,
        secrets=gateway.vault,
        flows=FlowLibrary([examples_dir()]),
        mail=Outbox(data_dir() / "outbox"),
    )
    runtime = DurableRuntime(f"sqlite:///{folder / 'runs.sqlite'}", services=services, poll_s=0.02)
    runtime.launch()
    try:
        async with serving(EngineApi(runtime, gateway, TOKEN).app) as url:
            yield url
    finally:
        await runtime.aclose()


@contextlib.asynccontextmanager
async def closing(session: RunSession) -> AsyncIterator[RunSession]:
    """The session, shut down at the end with every call it started finished."""
    try:
        yield session
    finally:
        session.shutdown()
        await until(lambda: not session._tasks, "the session's calls to end")


@contextlib.asynccontextmanager
async def connected(window: MainWindow, folder: Path) -> AsyncIterator[RunSession]:
    """The window's run session talking to an in-process runtime."""
    async with in_process_runtime(folder) as url:
        window.runs.connection.use(url, TOKEN)
        async with closing(window.runs) as session:
            yield session


def open_window(qtbot: Any, document: FlowDocument) -> MainWindow:
    window = MainWindow(document)
    window.resize(1400, 860)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def statuses(window: MainWindow) -> dict[str, str]:
    return {node_id: ring.status for node_id, ring in window.runs.overlay.rings.items()}


def paused_at(window: MainWindow, node_id: str, kind: str) -> bool:
    state = window.runs.state
    return state is not None and node_id in state.pauses and state.pauses[node_id].kind == kind


def finished(window: MainWindow) -> bool:
    return window.runs.state is not None and window.runs.state.finished


def taken_edges(window: MainWindow) -> set[str]:
    return {e.edge_id for e in window.scene.edge_items if e.pen().widthF() == 3}


def click(qtbot: Any, button: Any) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
