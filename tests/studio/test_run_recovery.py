"""The studio's own runtime (`aerostudio runtime`, started by RuntimeConnection) is killed with
SIGKILL mid-run: the studio notices, starts it again, the durable run is recovered and completes,
and the canvas catches up from the run's event stream."""

from __future__ import annotations

import json
import os
import signal

import pytest

from engine.paths import data_dir
from studio.document import FlowDocument
from studio.runtime import runtime_log
from studio.window import MainWindow
from tests.flow.builders import edge, end, flow, node, set_vars, trigger
from tests.studio.harness import (
    click,
    closing,
    drive,
    finished,
    open_window,
    paused_at,
    statuses,
    until,
)

pytestmark = pytest.mark.timeout(240)
START_S = 90.0  # a process start on a loaded machine

TIMER = flow(
    [
        trigger(),
        set_vars("a", greeting="hello"),
        node("later", "schedule_message", {"text": "{{ vars.greeting }} again", "delay_s": 3}),
        end("done", "{{ nodes.later.message_id }}"),
    ],
    [edge("start", "a"), edge("a", "later"), edge("later", "done")],
)


def runtime_pid() -> int | None:
    try:
        return int(json.loads((data_dir() / "runtime.json").read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_a_killed_runtime_is_started_again_and_the_run_completes(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = open_window(qtbot, FlowDocument(TIMER))
    session, panel = window.runs, window.runs.panel
    states: list[str] = []
    session.connection.state_changed.connect(states.append)

    async def scenario():
        async with closing(session):
            # Starting the runtime takes a while: Stop cancels the run's start meanwhile.
            click(qtbot, panel.run_button)
            assert panel.status.text() == "Connecting to the runtime…"
            await until(lambda: session.connection.state == "connecting", "the runtime's start")
            click(qtbot, panel.stop_button)
            await until(lambda: panel.status.text() == "Start cancelled", "the start cancelled")
            assert panel.run_button.isEnabled() and not panel.stop_button.isEnabled()
            await until(lambda: session.connection.state == "connected", "the runtime", START_S)
            assert session.state is None and await session.connection.client.runs() == []
            first = runtime_pid()
            assert first is not None and session.connection.owns_process

            click(qtbot, panel.run_button)
            await until(lambda: paused_at(window, "later", "timer"), "the timer to be set")
            assert statuses(window) == {"start": "succeeded", "a": "succeeded", "later": "paused"}
            os.kill(first, signal.SIGKILL)

            await until(lambda: finished(window), "the run to complete", START_S)
            assert "restarting" in states and states[-1] == "connected"
            why = "its process ended with signal SIGKILL"
            log = runtime_log().read_text(encoding="utf-8")
            assert f"studio: restarting the local runtime: {why}" in log
            assert why in session.runtime_label.text()
            assert runtime_pid() not in (None, first) and session.connection.owns_process
            state = session.state
            assert state.status == "succeeded"
            assert [m["text"] for m in state.messages] == ["hello again"]
            assert statuses(window) == dict.fromkeys(("start", "a", "later", "done"), "succeeded")
            assert "succeeded" in panel.status.text()
            detail = await session.connection.client.run(state.run_id)
            assert detail["status"] == "succeeded"

    drive(scenario())
