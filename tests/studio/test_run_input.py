"""The run panel's input: a form from a flat input schema, otherwise a note saying where the
input comes from (the chat for a message trigger, JSON for the rest)."""

from __future__ import annotations

from engine.flow import from_document
from studio.panels.run import RunPanel


def _flow(trigger_config: dict) -> object:
    return from_document(
        {
            "format": "aerostudio.flow/1",
            "id": "input",
            "name": "Input",
            "nodes": [
                {"id": "start", "type": "trigger", "position": [0, 0], "config": trigger_config},
                {
                    "id": "done",
                    "type": "action",
                    "position": [260, 0],
                    "config": {"action": "end", "end": {"output": "{{ input }}"}},
                },
            ],
            "edges": [{"id": "e1", "from": "start", "handle": "out", "to": "done"}],
        }
    )


def test_a_flat_schema_gives_a_form_and_its_values(qtbot):
    panel = RunPanel()
    qtbot.addWidget(panel)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    panel.set_flow(_flow({"kind": "manual", "input_schema": schema}))
    assert list(panel.form.editors) == ["name"] and panel.form_note.isHidden()
    assert panel.payload() == {"name": ""}


def test_a_message_trigger_points_to_the_chat_and_json(qtbot):
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.set_flow(_flow({"kind": "message"}))
    assert not panel.form_note.isHidden() and "Chat tab" in panel.form_note.text()
    assert panel.payload() == {}
    panel.tabs.setCurrentIndex(1)
    panel.json_edit.setPlainText('{"text": "hi"}')
    assert panel.payload() == {"text": "hi"}


def test_a_nested_schema_is_edited_as_json(qtbot):
    panel = RunPanel()
    qtbot.addWidget(panel)
    schema = {"type": "object", "properties": {"order": {"type": "object"}}}
    panel.set_flow(_flow({"kind": "manual", "input_schema": schema}))
    assert panel.tabs.currentIndex() == 1 and "not a flat object" in panel.form_note.text()
