"""The chat panel against a real runtime: a message-triggered example (support-triage) answers in
bubbles, asks for an emailed code that is typed into the chat, offers buttons that send their
value, and keeps one conversation_id across the conversation's runs."""

from __future__ import annotations

import pytest

from engine.paths import examples_dir
from studio.document import FlowDocument
from studio.panels.chat import Conversation, message_trigger
from studio.run_state import RunState
from studio.window import MainWindow
from tests.flow.builders import edge, flow, node, trigger
from tests.studio.harness import REVIEW, click, connected, drive, open_window, until
from tests.studio.test_run_prompts import mailed_codes

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    main = open_window(qtbot, FlowDocument())
    main.open_path(examples_dir() / "support-triage.flow.json")
    return main


def said(window, who):
    return [line.text for line in window.runs.chat.lines if line.who == who]


def test_the_chat_is_offered_for_flows_that_take_messages(window):
    assert window.runs.chat_dock.isVisible()
    window.set_document(FlowDocument(REVIEW))
    assert not window.runs.chat_dock.isVisible()
    window.open_path(examples_dir() / "delegation.flow.json")
    assert window.runs.chat_dock.isVisible()


def test_a_conversation_with_support_triage(qtbot, window, tmp_path):
    chat = window.runs.chat

    async def type_the_code(count: int) -> None:
        codes = await until(lambda: len(mailed_codes()) == count and mailed_codes(), "the mail")
        await until(lambda: "6-digit code" in (said(window, "bot") or [""])[-1], "the code prompt")
        chat.input.setText(codes[-1])
        chat.input.returnPressed.emit()

    async def scenario():
        async with connected(window, tmp_path) as session:
            conversation = session.conversation
            chat.input.setText("Where is my order A-1002?")
            click(qtbot, chat.send_button)
            assert said(window, "user") == ["Where is my order A-1002?"]
            await type_the_code(1)
            await until(lambda: any("order A-1002 is" in t for t in said(window, "bot")), "reply")
            await until(lambda: session.state.finished, "the first run to finish")
            assert session.state.status == "succeeded"
            assert session.state.latest("verify").output["verified"] is True

            chat.input.setText("Hello, it is about A-1001")  # neither status nor refund
            chat.input.returnPressed.emit()
            await type_the_code(2)
            question = await until(
                lambda: next((b for b in chat.bubbles if b.buttons), None), "the buttons"
            )
            assert question.line.text.startswith("Do you want to know where your order is")
            assert [b.text() for b in question.buttons] == ["Where is my order?", "I want a refund"]
            await until(lambda: session.state.finished, "the second run to finish")
            click(qtbot, question.buttons[0])
            assert not any(b.isEnabled() for b in question.buttons)  # answered once
            assert said(window, "user")[-1] == "Where is order A-1001?"  # the button's value
            await type_the_code(3)
            await until(lambda: any("order A-1001 is" in t for t in said(window, "bot")), "reply")

            assert len(conversation.runs) == 3
            client = session.connection.client
            inputs = [(await client.run(run_id))["input"] for run_id in conversation.runs]
            assert {i["conversation_id"] for i in inputs} == {conversation.id}
            assert [i["text"] for i in inputs] == [
                "Where is my order A-1002?",
                "Hello, it is about A-1001",
                "Where is order A-1001?",
            ]
            assert {(i["platform"], i["user_name"]) for i in inputs} == {
                ("studio", conversation.user_name)
            }
            assert {"user_id", "channel_id"} <= set(inputs[0])

            click(qtbot, chat.new_button)
            assert session.conversation.id != conversation.id and chat.lines == []

    drive(scenario())


def test_a_conversation_shows_each_message_once_and_proactive_ones_as_notes():
    pinged = flow(
        [
            trigger(kind="message"),
            node("hi", "send_message", {"text": "hi {{ input.user_name }}"}),
            node(
                "page",
                "send_proactive",
                {"platform": "slack", "bot": "ops", "to": "#ops", "text": "ping"},
            ),
        ],
        [edge("start", "hi"), edge("hi", "page")],
    )
    assert message_trigger(pinged) == "start"
    conversation = Conversation("ana")
    events = [
        {"type": "run_started", "seq": 1, "run_id": "r1", "trigger": "start"},
        {"type": "message", "seq": 2, "text": "hi ana", "buttons": [], "key": "hi"},
        {"type": "message", "seq": 3, "text": "ping", "platform": "slack", "to": "#ops"},
        {"type": "run_finished", "seq": 4, "status": "failed", "error": {"message": "boom"}},
    ]
    assert conversation.unseen(RunState.from_events(events, pinged)) == []  # not its run
    conversation.runs.append("r1")
    lines = conversation.unseen(RunState.from_events(events, pinged))
    assert [(line.who, line.text) for line in lines] == [
        ("bot", "hi ana"),
        ("note", "sent to slack #ops: ping"),
        ("note", "run r1 failed: boom"),
    ]
    assert conversation.unseen(RunState.from_events(events, pinged)) == []  # read again
