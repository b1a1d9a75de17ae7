"""Run ▸ Attach to remote run…: the run, debug and data panels on a run of a real server on
loopback, with Pause, Step, Continue and a review's answer going to the server."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.api.client import ApiClient
from engine.flow import to_document
from studio.window import MainWindow
from tests.flow.builders import edge, end, flow, node, set_vars, trigger
from tests.memory_keyring import memory_keyring
from tests.studio.harness import drive, until
from tests.studio.remote_server import members_server

pytestmark = pytest.mark.timeout(120)

SHIP = flow(
    [
        trigger(),
        set_vars("a", greeting="hello {{ input.name }}"),
        node("review", "human_review", {"title": "Ship {{ input.name }}?"}),
        end("done", "{{ vars.greeting }}, {{ nodes.review.decision }}"),
    ],
    [edge("start", "a"), edge("a", "review"), edge("review", "done", "approved")],
    id="ship",
    name="Ship",
)


@pytest.fixture(autouse=True)
def _keyring():
    with memory_keyring():
        yield


@contextlib.asynccontextmanager
async def serving(window, folder):
    """A server with a run of SHIP stopped at a breakpoint before `a`; yields (URL, tokens,
    run id). The window's dialogs and session are shut down while the loop still runs."""
    async with members_server(folder) as (url, tokens):
        async with ApiClient(url, tokens["developer"]) as client:
            run_id = await client.start_run(to_document(SHIP), {"name": "ada"}, breakpoints=["a"])
            deadline = time.monotonic() + 30
            while (await client.run(run_id))["waiting"] != ["a"]:
                assert time.monotonic() < deadline, "the run did not stop before a"
                await asyncio.sleep(0.02)
        try:
            yield url, tokens, run_id
        finally:
            window.remote.shutdown()
            window.runs.shutdown()
            await until(lambda: not window.runs._tasks, "the session's calls to end")


def attach(window, url, token):
    """Through the dialog, as a user: server, token, List runs, Attach."""
    window.remote.actions["attach"].trigger()
    dialog = window.remote.attach_dialog
    dialog.form.url.setEditText(url)
    dialog.form.token.setText(token)
    QTest.mouseClick(dialog.list_button, Qt.MouseButton.LeftButton)
    return dialog


def statuses(window):
    return {node_id: ring.status for node_id, ring in window.runs.overlay.rings.items()}


def paused_at(window, node_id, kind):
    state = window.runs.state
    return state is not None and node_id in state.pauses and state.pauses[node_id].kind == kind


@pytest.fixture
def studio(window, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    return window


def test_attach_step_continue_pause_and_answer_a_review_on_the_server(studio, tmp_path):
    session = studio.runs

    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens, run_id):
            dialog = attach(studio, url, tokens["developer"])
            await until(lambda: dialog.runs.topLevelItemCount() == 1, "the server's runs")
            assert dialog.runs.topLevelItem(0).text(1) == "ship"
            QTest.mouseClick(dialog.attach_button, Qt.MouseButton.LeftButton)
            await until(lambda: paused_at(studio, "a", "breakpoint"), "the remote breakpoint")
            assert not dialog.isVisible()
            assert studio.document.flow.id == "ship"
            assert session.state.run_id == run_id
            assert set(session.overlay.dots) == {"a"}
            assert url in session.runtime_label.text() and "remote" in session.runtime_label.text()

            session.actions["step"].trigger()
            await until(lambda: paused_at(studio, "review", "breakpoint"), "the step")
            assert statuses(studio)["a"] == "succeeded"
            studio.scene.select_nodes(["a"])
            assert session.data.tree.topLevelItemCount() > 0  # the data panel shows a's output

            session.actions["continue"].trigger()
            await until(lambda: paused_at(studio, "review", "approval"), "the review")
            assert session.panel.prompt.isVisible()
            studio.remote.actions["pause"].trigger()
            QTest.mouseClick(session.panel.prompt.approve, Qt.MouseButton.LeftButton)
            await until(lambda: paused_at(studio, "done", "breakpoint"), "the pause")
            assert statuses(studio)["review"] == "succeeded"

            session.actions["continue"].trigger()
            await until(lambda: session.state.finished, "the end of the run")
            assert (session.state.status, session.state.output) == (
                "succeeded",
                "hello ada, approved",
            )
            async with ApiClient(url, tokens["viewer"]) as client:
                assert (await client.run(run_id))["status"] == "succeeded"

            studio.remote.actions["detach"].trigger()
            assert session.state is None
            assert session.runtime_label.text() == "Runtime: local (it starts with the next run)"
            assert studio.document.flow.id == "ship"

    drive(scenario())


def test_a_viewer_sees_the_run_but_stepping_it_needs_a_developer(studio, tmp_path):
    session = studio.runs

    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens, run_id):
            dialog = attach(studio, url, tokens["viewer"])
            await until(lambda: dialog.runs.topLevelItemCount() == 1, "the server's runs")
            QTest.mouseClick(dialog.attach_button, Qt.MouseButton.LeftButton)
            await until(lambda: paused_at(studio, "a", "breakpoint"), "the remote breakpoint")
            session.actions["step"].trigger()
            await until(lambda: "developer" in session.panel.status.text(), "the refusal")
            assert paused_at(studio, "a", "breakpoint")
            async with ApiClient(url, tokens["developer"]) as client:
                await client.cancel(run_id)
            await until(lambda: session.state.finished, "the cancelled run to show")
            assert session.state.status == "cancelled"

    drive(scenario())


def test_attaching_to_a_run_of_the_open_file_keeps_the_file_open(studio, tmp_path):
    """The run's flow is the file being edited: it stays open (its path, not modified),
    instead of being replaced by an unsaved copy."""
    from engine.flow import save
    from studio.document import FlowDocument

    path = tmp_path / "ship.flow.json"
    save(SHIP, path)
    document = FlowDocument.open(path)
    studio.set_document(document)

    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens, run_id):
            dialog = attach(studio, url, tokens["developer"])
            await until(lambda: dialog.runs.topLevelItemCount() == 1, "the server's runs")
            QTest.mouseClick(dialog.attach_button, Qt.MouseButton.LeftButton)
            await until(lambda: paused_at(studio, "a", "breakpoint"), "the remote breakpoint")
            assert studio.document is document and document.path == path
            assert not document.modified and "•" not in studio.windowTitle()
            assert studio.runs.state.run_id == run_id

    drive(scenario())
