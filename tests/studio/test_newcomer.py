"""A newcomer's path through support-triage, using only what the studio shows: the auth code is
read from the mail the prompt shows (the local outbox), the review shows its rendered details and
a form made from the node's `form` schema, and a partial refund typed there reaches the flow's
output (offline: demo model, demo MCP servers)."""

from __future__ import annotations

import re

import pytest

from engine.paths import examples_dir
from studio.document import FlowDocument
from studio.window import MainWindow
from tests.studio.harness import click, connected, drive, finished, open_window, paused_at, until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def triage(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = open_window(qtbot, FlowDocument())
    window.open_path(examples_dir() / "support-triage.flow.json")
    return window


def test_a_partial_refund_with_the_code_from_the_outbox_shown_in_the_prompt(
    qtbot, triage, tmp_path
):
    window, panel = triage, triage.runs.panel
    prompt = panel.prompt

    async def scenario():
        async with connected(window, tmp_path) as session:
            panel.tabs.setCurrentIndex(1)
            panel.json_edit.setPlainText(
                '{"text": "My headphones arrived broken, I want a refund for order A-1003", '
                '"user_id": "u2", "user_name": "Chloé"}'
            )
            click(qtbot, panel.run_button)
            await until(lambda: paused_at(window, "verify", "auth"), "the code prompt")
            assert prompt.mail_note.isVisible() and "outbox" in prompt.mail_note.text()
            assert not prompt.mail.isVisible()
            click(qtbot, prompt.show_mail)
            shown = prompt.mail.toPlainText()
            assert prompt.mail.isVisible() and "To: chloe@example.com" in shown
            code = re.search(r"Your code is (\d{6})", shown).group(1)
            prompt.code.setText(code)
            click(qtbot, prompt.submit)

            await until(lambda: paused_at(window, "review", "approval"), "the review")
            assert "Refund order A-1003 for Chloé Martin?" in prompt.title.text()
            details = prompt.details.text()
            assert prompt.details.isVisible()
            assert details.startswith("Order total 89.0 EUR, status processing, already refunded")
            assert "The customer wrote: My headphones arrived broken" in details
            assert prompt.form.isVisible() and set(prompt.form.editors) == {"amount", "reason"}
            amount, reason = prompt.form.editors["amount"], prompt.form.editors["reason"]
            assert amount.placeholderText() == "Leave empty to refund what is left"

            amount.setText("0")  # the schema's exclusiveMinimum: refused before it is sent
            click(qtbot, prompt.approve)
            assert prompt.error.isVisible() and "amount" in prompt.error.text()
            assert paused_at(window, "review", "approval")

            amount.setText("25.5")
            reason.setText("Left earbud broken")
            click(qtbot, prompt.approve)
            await until(lambda: finished(window), "the run to finish")

            state = session.state
            assert state.status == "succeeded", state.error
            assert state.latest("review").output["form"] == {
                "amount": 25.5,
                "reason": "Left earbud broken",
            }
            refund = state.latest("refund").output["structured"]
            assert (refund["amount"], refund["remaining"]) == (25.5, 63.5)
            assert state.messages[-1]["text"].startswith("Done: 25.5 ")
            assert "for order A-1003" in state.messages[-1]["text"]

    drive(scenario())
