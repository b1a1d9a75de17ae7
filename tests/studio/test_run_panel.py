"""Running and step-debugging from the studio against a real runtime, served in-process on the
test's Qt-driven asyncio loop (qasync), as tests/api does."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import qasync
from PySide6.QtCore import Qt

from engine.api.app import EngineApi
from engine.paths import examples_dir
from engine.run import Services
from engine.run.durable import DurableRuntime
from engine.run.library import FlowLibrary
from studio.document import FlowDocument
from studio.window import MainWindow
from tests.flow.builders import edge, end, flow, node, set_vars, trigger
from tests.gateway.conftest import serving
from tests.gateway_fixtures import temporary_gateway

pytestmark = pytest.mark.timeout(180)
TOKEN = "admin-token-for-studio-tests"
WAIT_MS = 30_000

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


@pytest.fixture
def loop(qapp):
    """An asyncio loop driven by Qt's: qtbot's waits run its callbacks."""
    event_loop = qasync.QEventLoop(qapp, already_running=True)
    # Plain threads for asyncio.to_thread: qasync's QThreads abort the process when a closed
    # loop's pool is still alive at exit.
    event_loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="test-loop"))
    asyncio.set_event_loop(event_loop)
    yield event_loop
    # Not stop(): that calls QApplication.exit(), which would end every later test's waits.
    event_loop._QEventLoop__is_running = False
    asyncio.events._set_running_loop(None)
    event_loop.close()
    asyncio.set_event_loop(None)


def wait_for(qtbot, awaitable, timeout=WAIT_MS):
    task = asyncio.ensure_future(awaitable)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


@pytest.fixture
def runtime_url(loop, qtbot, tmp_path):
    gateway = temporary_gateway(tmp_path)
    services = Services(tools=gateway, secrets=gateway.vault, flows=FlowLibrary([examples_dir()]))
    runtime = DurableRuntime(
        f"sqlite:///{tmp_path / 'runs.sqlite'}", services=services, poll_s=0.02
    )
    runtime.launch()
    server = serving(EngineApi(runtime, gateway, TOKEN).app)
    try:
        yield wait_for(qtbot, server.__aenter__())
        wait_for(qtbot, server.__aexit__(None, None, None))
    finally:
        wait_for(qtbot, runtime.aclose())


@pytest.fixture
def studio(qtbot, monkeypatch, runtime_url):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = MainWindow(FlowDocument(REVIEW))
    window.resize(1400, 860)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.runs.connection.use(runtime_url, TOKEN)
    yield window
    session = window.runs
    session.shutdown()
    qtbot.waitUntil(lambda: not session._tasks, timeout=WAIT_MS)


def statuses(window):
    return {node_id: ring.status for node_id, ring in window.runs.overlay.rings.items()}


def paused_at(window, node_id, kind):
    state = window.runs.state
    return state is not None and node_id in state.pauses and state.pauses[node_id].kind == kind


def select(window, node_id):
    window.scene.select_nodes([node_id])


def test_run_shows_live_states_and_a_review_approved_in_the_panel_resumes_it(qtbot, studio):
    panel = studio.runs.panel
    panel.form.editors["name"].setText("ada")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: paused_at(studio, "review", "approval"), timeout=WAIT_MS)
    assert panel.prompt.isVisible() and "Ship ada?" in panel.prompt.title.text()
    assert statuses(studio) == {"start": "succeeded", "a": "succeeded", "review": "paused"}
    panel.prompt.comment.setText("looks good")
    qtbot.mouseClick(panel.prompt.approve, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: studio.runs.state.finished, timeout=WAIT_MS)
    state = studio.runs.state
    assert (state.status, state.output) == ("succeeded", "hello ada, approved")
    assert state.latest("review").output["comment"] == "looks good"
    assert statuses(studio) == dict.fromkeys(("start", "a", "review", "done"), "succeeded")
    taken = {e.edge_id for e in studio.scene.edge_items if e.pen().widthF() == 3}
    assert taken == {"start-out-a", "a-out-review", "review-approved-done"}
    assert not panel.prompt.isVisible()
    assert "succeeded" in panel.status.text() and panel.run_button.isEnabled()
    history = studio.runs.history.list
    qtbot.waitUntil(lambda: history.topLevelItemCount() == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: history.topLevelItem(0).text(1) == "succeeded", timeout=WAIT_MS)


def test_breakpoint_step_and_continue(qtbot, studio):
    session, panel = studio.runs, studio.runs.panel
    panel.form.editors["name"].setText("bo")
    select(studio, "a")
    session.actions["breakpoint"].trigger()  # F9
    assert set(session.overlay.dots) == {"a"}
    qtbot.mouseClick(panel.debug_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: paused_at(studio, "a", "breakpoint"), timeout=WAIT_MS)
    assert statuses(studio) == {"start": "succeeded", "a": "paused"}
    assert panel.step_button.isEnabled() and panel.continue_button.isEnabled()
    assert not panel.prompt.isVisible()
    select(studio, "start")
    output = studio.runs.data.tree.findItems("output", Qt.MatchFlag.MatchExactly, 0)[0]
    assert output.child(0).text(0) == "name" and output.child(0).text(1) == "bo"

    qtbot.mouseClick(panel.step_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: paused_at(studio, "review", "breakpoint"), timeout=WAIT_MS)
    assert statuses(studio) == {"start": "succeeded", "a": "succeeded", "review": "paused"}
    assert session.state.latest("review") is None  # exactly one node ran
    select(studio, "a")
    assert "hello bo" in [
        studio.runs.data.tree.topLevelItem(i).child(0).text(1)
        for i in range(studio.runs.data.tree.topLevelItemCount())
        if studio.runs.data.tree.topLevelItem(i).text(0) == "output"
    ]

    qtbot.mouseClick(panel.continue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: paused_at(studio, "review", "approval"), timeout=WAIT_MS)
    qtbot.mouseClick(panel.prompt.approve, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.state.finished, timeout=WAIT_MS)
    assert session.state.output == "hello bo, approved"


def test_a_run_opened_from_the_history_replays_onto_the_canvas(qtbot, studio):
    session = studio.runs
    session.panel.form.editors["name"].setText("cy")
    session.run()
    qtbot.waitUntil(lambda: paused_at(studio, "review", "approval"), timeout=WAIT_MS)
    session.answer("review", {"decision": "reject"})
    qtbot.waitUntil(lambda: session.state.finished, timeout=WAIT_MS)
    finished = session.state
    studio.set_document(FlowDocument(REVIEW))  # as if the flow were opened again
    assert session.state is None and statuses(studio) == {}
    history = session.history.list
    qtbot.waitUntil(lambda: history.topLevelItemCount() == 1, timeout=WAIT_MS)
    history.itemActivated.emit(history.topLevelItem(0), 0)
    qtbot.waitUntil(lambda: session.state is not None and session.state.finished, timeout=WAIT_MS)
    assert session.state is not finished and session.state.run_id == finished.run_id
    assert statuses(studio) == {
        "start": "succeeded",
        "a": "succeeded",
        "review": "succeeded",
        "done": "skipped",
    }
    assert session.state.latest("review").handle == "rejected"
    assert session.state.latest("start").output == {"name": "cy", "urgent": False}


def test_runtime_errors_are_readable_lines(qtbot, studio):
    panel = studio.runs.panel
    panel.tabs.setCurrentIndex(1)
    panel.json_edit.setPlainText("{not json")
    studio.runs.run()
    qtbot.waitUntil(lambda: "not valid JSON" in panel.status.text(), timeout=WAIT_MS)
    panel.json_edit.setPlainText("{}")
    studio.document.replace(flow([trigger(), end("x")], [edge("start", "x"), edge("x", "start")]))
    studio.runs.run()
    qtbot.waitUntil(lambda: panel.status.text().startswith("⚠"), timeout=WAIT_MS)
    assert "Traceback" not in panel.status.text()
