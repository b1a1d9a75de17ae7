"""Bundled examples run to their end from the studio, offline (demo model, demo MCP servers over
stdio, mail to the outbox), their pauses answered in the run panel's prompts: an auth code read
from the mail the runtime wrote, a review, a timer fired now."""

from __future__ import annotations

import re

import pytest

from engine.paths import data_dir, examples_dir
from studio.document import FlowDocument
from studio.window import MainWindow
from tests.studio.harness import (
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


@pytest.fixture
def example(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)

    def open_example(name: str) -> MainWindow:
        window = open_window(qtbot, FlowDocument())
        window.open_path(examples_dir() / f"{name}.flow.json")  # as File ▸ Open example does
        assert window.document.flow.id == name
        return window

    return open_example


def mailed_codes() -> list[str]:
    """The codes in the outbox's mails, oldest first."""
    mails = sorted((data_dir() / "outbox").glob("*.eml"))
    found = (re.search(r"Your code is (\d+)", m.read_text(encoding="utf-8")) for m in mails)
    return [match.group(1) for match in found if match]


def test_support_triage_refund_with_an_emailed_code_and_a_review(qtbot, example, tmp_path):
    window = example("support-triage")
    panel = window.runs.panel
    assert panel.trigger_id() == "start"

    async def scenario():
        async with connected(window, tmp_path) as session:
            panel.tabs.setCurrentIndex(1)
            panel.json_edit.setPlainText(
                '{"text": "I want a refund for order A-1003", "user_id": "u2", "user_name": "Cy"}'
            )
            click(qtbot, panel.run_button)
            await until(lambda: paused_at(window, "verify", "auth"), "the code prompt")
            assert panel.prompt.code.isVisible() and panel.prompt.submit.isVisible()
            assert "6-digit code" in panel.prompt.title.text()
            (code,) = await until(mailed_codes, "the mail with the code")

            asked = session.state.pauses["verify"].seq
            panel.prompt.code.setText(f"{(int(code) + 1) % 10**6:06d}")  # a wrong code
            click(qtbot, panel.prompt.submit)
            await until(
                lambda: (
                    paused_at(window, "verify", "auth")
                    and session.state.pauses["verify"].seq > asked
                ),
                "the code asked again",
            )
            assert statuses(window)["verify"] == "paused"

            panel.prompt.code.setText(code)
            panel.prompt.code.returnPressed.emit()  # Enter submits
            await until(lambda: paused_at(window, "review", "approval"), "the review")
            assert "Refund order A-1003" in panel.prompt.title.text()
            click(qtbot, panel.prompt.approve)
            await until(lambda: finished(window), "the run to finish")

            state = session.state
            assert state.status == "succeeded", state.error
            assert state.latest("verify").output["verified"] is True
            assert state.messages[-1]["text"].startswith("Done:")
            ran = ("start", "screen", "extract", "lookup", "verify", "route", "review", "refund")
            shown = statuses(window)
            assert {n: shown[n] for n in (*ran, "refunded")} == dict.fromkeys(
                (*ran, "refunded"), "succeeded"
            )
            assert {n for n, s in shown.items() if s != "succeeded"} <= {
                "refuse",
                "not_found",
                "denied",
                "status_reply",
                "clarify",
                "declined",
                "refund_failed",
            }
            assert all(s == "skipped" for n, s in shown.items() if n not in (*ran, "refunded"))
            edges = {e.id: (e.source, e.handle, e.target) for e in window.document.flow.edges}
            taken = {edges[edge_id] for edge_id in taken_edges(window)}
            assert {
                ("verify", "verified", "route"),
                ("route", "refund", "review"),
                ("review", "approved", "refund"),
            } <= taken
            assert "succeeded" in panel.status.text() and not panel.prompt.isVisible()

    drive(scenario())


def test_daily_digest_waits_on_its_reminder_timer_until_fired_now(qtbot, example, tmp_path):
    window = example("daily-digest")
    panel = window.runs.panel
    assert panel.trigger_id() == "morning"

    async def scenario():
        async with connected(window, tmp_path) as session:
            click(qtbot, panel.run_button)
            await until(lambda: paused_at(window, "remind", "timer"), "the reminder's timer")
            assert panel.prompt.fire.isVisible() and not panel.prompt.approve.isVisible()
            assert "sending in 3600 s" in panel.prompt.title.text()
            assert [m["text"][:14] for m in session.state.messages] == ["*Error digest*"]
            click(qtbot, panel.prompt.fire)
            await until(lambda: finished(window), "the run to finish")
            state = session.state
            assert state.status == "succeeded", state.error
            assert state.messages[-1]["text"].startswith("Reminder:")
            assert statuses(window) == dict.fromkeys(
                ("morning", "stats", "each", "summarize", "format", "post", "remind"), "succeeded"
            )
            assert len(state.executions_of("summarize")) >= 3  # one per service in the loop

    drive(scenario())
