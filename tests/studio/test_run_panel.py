"""Running and step-debugging from the studio against a real runtime, served in-process
(see tests/studio/harness.py)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.document import FlowDocument
from studio.window import MainWindow
from tests.flow.builders import edge, end, flow, node, set_vars, trigger
from tests.studio.harness import (
    REVIEW,
    click,
    connected,
    drive,
    finished,
    open_window,
    paused_at,
    statuses,
    taken_edges,
    until,
)

pytestmark = pytest.mark.timeout(180)


# ------------------------------------------------------------------------------------ tests


def test_run_shows_live_states_and_a_review_approved_in_the_panel_resumes_it(
    qtbot, studio, tmp_path
):
    async def scenario():
        async with connected(studio, tmp_path):
            panel = studio.runs.panel
            panel.form.editors["name"].setText("ada")
            click(qtbot, panel.run_button)
            await until(lambda: paused_at(studio, "review", "approval"), "the review")
            assert panel.prompt.isVisible() and "Ship ada?" in panel.prompt.title.text()
            assert statuses(studio) == {"start": "succeeded", "a": "succeeded", "review": "paused"}
            panel.prompt.comment.setText("looks good")
            click(qtbot, panel.prompt.approve)
            await until(lambda: finished(studio), "the run to finish")
            state = studio.runs.state
            assert (state.status, state.output) == ("succeeded", "hello ada, approved")
            assert state.latest("review").output["comment"] == "looks good"
            assert statuses(studio) == dict.fromkeys(("start", "a", "review", "done"), "succeeded")
            assert taken_edges(studio) == {"start-out-a", "a-out-review", "review-approved-done"}
            assert not panel.prompt.isVisible()
            assert "succeeded" in panel.status.text() and panel.run_button.isEnabled()
            history = studio.runs.history.list
            await until(
                lambda: (
                    history.topLevelItemCount() == 1
                    and history.topLevelItem(0).text(1) == "succeeded"
                ),
                "the run in the history",
            )

    drive(scenario())


def test_breakpoint_step_and_continue(qtbot, studio, tmp_path):
    async def scenario():
        async with connected(studio, tmp_path) as session:
            panel, tree = session.panel, session.data.tree
            panel.form.editors["name"].setText("bo")
            studio.scene.select_nodes(["a"])
            session.actions["breakpoint"].trigger()  # F9
            assert set(session.overlay.dots) == {"a"}
            click(qtbot, panel.debug_button)

            await until(lambda: paused_at(studio, "a", "breakpoint"), "the breakpoint")
            assert statuses(studio) == {"start": "succeeded", "a": "paused"}
            assert panel.step_button.isEnabled() and panel.continue_button.isEnabled()
            assert not panel.prompt.isVisible()
            studio.scene.select_nodes(["start"])
            output = tree.findItems("output", Qt.MatchFlag.MatchExactly, 0)[0]
            assert (output.child(0).text(0), output.child(0).text(1)) == ("name", "bo")

            click(qtbot, panel.step_button)
            await until(lambda: paused_at(studio, "review", "breakpoint"), "one step")
            assert statuses(studio) == {"start": "succeeded", "a": "succeeded", "review": "paused"}
            assert session.state.latest("review") is None  # exactly one node ran
            studio.scene.select_nodes(["a"])
            output = tree.findItems("output", Qt.MatchFlag.MatchExactly, 0)[0]
            assert output.child(0).text(1) == "hello bo"

            click(qtbot, panel.continue_button)
            await until(lambda: paused_at(studio, "review", "approval"), "the review")
            click(qtbot, panel.prompt.approve)
            await until(lambda: finished(studio), "the run to finish")
            assert session.state.output == "hello bo, approved"

    drive(scenario())


def test_a_run_opened_from_the_history_replays_onto_the_canvas(studio, tmp_path):
    async def scenario():
        async with connected(studio, tmp_path) as session:
            session.panel.form.editors["name"].setText("cy")
            session.run()
            await until(lambda: paused_at(studio, "review", "approval"), "the review")
            session.answer("review", {"decision": "reject"})
            await until(lambda: finished(studio), "the run to finish")
            earlier = session.state
            studio.set_document(FlowDocument(REVIEW))  # as if the flow were opened again
            assert session.state is None and statuses(studio) == {}
            history = session.history.list
            await until(lambda: history.topLevelItemCount() == 1, "the run in the history")
            history.itemActivated.emit(history.topLevelItem(0), 0)
            await until(lambda: finished(studio), "the run replayed")
            assert session.state is not earlier and session.state.run_id == earlier.run_id
            assert statuses(studio) == {
                "start": "succeeded",
                "a": "succeeded",
                "review": "succeeded",
                "done": "skipped",
            }
            assert session.state.latest("review").handle == "rejected"
            assert session.state.latest("start").output == {"name": "cy", "urgent": False}

    drive(scenario())


def test_run_from_a_selected_node_pins_the_nodes_before_it(qtbot, studio, tmp_path):
    async def scenario():
        async with connected(studio, tmp_path) as session:
            panel = session.panel
            panel.form.editors["name"].setText("di")
            click(qtbot, panel.run_button)
            await until(lambda: paused_at(studio, "review", "approval"), "the review")
            click(qtbot, panel.prompt.reject)
            await until(lambda: finished(studio), "the first run to finish")
            first = session.state
            panel.form.editors["name"].setText("someone else")  # not used: the input is pinned

            studio.scene.select_nodes(["review"])
            click(qtbot, panel.run_from_button)
            await until(
                lambda: session.state is not first and paused_at(studio, "review", "approval"),
                "the second run at the review",
            )
            second = session.state
            assert second.run_id != first.run_id
            assert second.latest("start").pinned and second.latest("a").pinned
            assert second.latest("a").output == {"greeting": "hello di"}
            assert studio.runs.overlay.rings["a"].badge == "pinned"
            click(qtbot, panel.prompt.approve)
            await until(lambda: second.finished, "the second run to finish")
            assert (second.status, second.output) == ("succeeded", "hello di, approved")

    drive(scenario())


def test_stop_cancels_a_running_run_and_the_canvas_shows_it(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    waiting = flow(
        [
            trigger(),
            set_vars("a", x=1),
            node("later", "schedule_message", {"text": "much later", "delay_s": 600}),
            end("done"),
        ],
        [edge("start", "a"), edge("a", "later"), edge("later", "done")],
    )
    window = open_window(qtbot, FlowDocument(waiting))

    async def scenario():
        async with connected(window, tmp_path) as session:
            panel = session.panel
            click(qtbot, panel.run_button)
            await until(lambda: paused_at(window, "later", "timer"), "the timer")
            assert statuses(window)["later"] == "paused" and panel.stop_button.isEnabled()
            click(qtbot, panel.stop_button)
            await until(lambda: finished(window), "the run to stop")
            assert session.state.status == "cancelled"
            assert statuses(window) == {
                "start": "succeeded",
                "a": "succeeded",
                "later": "cancelled",
            }
            assert "cancelled" in panel.status.text()
            assert not panel.stop_button.isEnabled() and panel.run_button.isEnabled()
            assert not panel.prompt.isVisible()
            assert session.state.messages == []  # the timer never fired

    drive(scenario())


def test_runtime_errors_are_readable_lines(studio, tmp_path):
    async def scenario():
        async with connected(studio, tmp_path) as session:
            panel = session.panel
            panel.tabs.setCurrentIndex(1)
            panel.json_edit.setPlainText("{not json")
            session.run()
            await until(lambda: "not valid JSON" in panel.status.text(), "the JSON error")
            assert panel.run_button.isEnabled()
            panel.json_edit.setPlainText("{}")
            cyclic = flow([trigger(), end("x")], [edge("start", "x"), edge("x", "start")])
            studio.document.replace(cyclic)
            session.run()
            await until(lambda: panel.status.text().startswith("⚠"), "the refusal")
            assert "Traceback" not in panel.status.text()
            assert panel.run_button.isEnabled()

    drive(scenario())
