"""The inspector against real widgets (offscreen): forms from config schemas, undo, validation."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from engine.flow import from_document
from studio.commands import move_nodes_command
from studio.document import FlowDocument
from studio.panels.fields import EnumField, NumberField, ToolField
from studio.panels.forms import ListEditor
from studio.panels.text_fields import JsonField, TextField
from studio.window import MainWindow


def select(window, qtbot, node_id):
    """Select a node on the canvas (None: nothing); the window is active so fields take focus."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.scene.select_nodes([node_id] if node_id else [])
    qtbot.waitUntil(lambda: window.inspector.node_id == node_id)
    return window.inspector


def config_editor(inspector, key):
    return inspector.config_form.editors[key]


def replace_text(qtbot, edit, text):
    """Select everything in a text editor and type `text` over it, as a user would."""
    edit.setFocus()
    edit.selectAll()
    if text:
        qtbot.keyClicks(edit, text)
    else:
        qtbot.keyClick(edit, Qt.Key.Key_Delete)


def control_flow():
    def node(node_id, node_type, config):
        return {"id": node_id, "type": node_type, "position": [0, 0], "config": config}

    return from_document(
        {
            "format": "aerostudio.flow/1",
            "id": "control",
            "name": "Control",
            "nodes": [
                node("start", "trigger", {"kind": "manual"}),
                node("check", "logic", {"mode": "if", "condition": "input.ok"}),
                node("each", "loop", {"items": "input.items"}),
                node("fan", "parallel", {"branches": ["a"]}),
            ],
            "edges": [
                {"id": "e1", "from": "start", "to": "check"},
                {"id": "e2", "from": "check", "handle": "true", "to": "each"},
                {"id": "e3", "from": "each", "handle": "done", "to": "fan"},
            ],
        }
    )


def control_window(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    main = MainWindow(FlowDocument(control_flow()))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    return main


def test_selecting_a_node_shows_its_fields(window, qtbot):
    inspector = select(window, qtbot, "extract")
    assert inspector.title.text() == "Find order number"
    prompt = config_editor(inspector, "prompt")
    assert isinstance(prompt, TextField)
    assert prompt.edit.toPlainText() == "{{ nodes.screen.text }}"
    assert isinstance(config_editor(inspector, "output_schema"), JsonField)
    assert isinstance(config_editor(inspector, "max_tokens"), NumberField)
    assert inspector.common_form.editors["label"].line.text() == "Find order number"
    inspector = select(window, qtbot, "lookup")
    assert isinstance(config_editor(inspector, "tool"), ToolField)
    assert config_editor(inspector, "tool").combo.currentText() == "orders__get_order"


def test_nothing_selected_shows_the_flow_settings(window, qtbot):
    inspector = select(window, qtbot, "extract")
    inspector = select(window, qtbot, None)
    assert inspector.flow_form is not None
    assert inspector.flow_form.editors["name"].line.text() == "Support triage"


def test_opening_another_flow_shows_its_settings_and_edits_go_to_it(window, qtbot):
    from engine.paths import examples_dir

    inspector = window.inspector
    window.open_path(examples_dir() / "daily-digest.flow.json")
    name = inspector.flow_form.editors["name"].line
    assert name.text() == window.document.flow.name != "Support triage"
    name.setFocus()
    name.selectAll()
    qtbot.keyClicks(name, "Digest, renamed")
    qtbot.keyClick(name, Qt.Key.Key_Return)
    assert window.document.flow.name == "Digest, renamed"


def test_editing_the_prompt_is_one_undo_step(window, qtbot):
    inspector = select(window, qtbot, "extract")
    before = window.undo_stack.count()
    edit = config_editor(inspector, "prompt").edit
    edit.setFocus()
    edit.moveCursor(edit.textCursor().MoveOperation.End)
    qtbot.keyClicks(edit, " please")
    expected = "{{ nodes.screen.text }} please"
    qtbot.waitUntil(lambda: window.document.flow.node("extract").config["prompt"] == expected)
    window.view.setFocus()
    assert window.undo_stack.count() == before + 1
    assert edit.toPlainText() == expected
    window.undo_stack.undo()
    assert window.document.flow.node("extract").config["prompt"] == "{{ nodes.screen.text }}"
    assert edit.toPlainText() == "{{ nodes.screen.text }}"


def test_refreshing_keeps_the_cursor_of_an_unchanged_field(window, qtbot):
    inspector = select(window, qtbot, "extract")
    edit = config_editor(inspector, "system").edit
    edit.setFocus()
    cursor = edit.textCursor()
    cursor.setPosition(7)
    edit.setTextCursor(cursor)
    window.undo_stack.push(move_nodes_command(window.document, {"extract": (10, 10)}))
    assert edit.textCursor().position() == 7


def test_clearing_a_required_field_marks_it_and_badges_the_node(window, qtbot):
    inspector = select(window, qtbot, "extract")
    prompt = config_editor(inspector, "prompt")
    replace_text(qtbot, prompt.edit, "")
    qtbot.waitUntil(lambda: "prompt" not in window.document.flow.node("extract").config)
    assert any("required" in message for _, _, message in prompt.problems)
    assert "border" in prompt.edit.styleSheet()
    assert "required" in prompt.edit.toolTip()
    assert window.scene.node_items["extract"].issues


def test_clearing_the_tool_marks_the_tool_picker(window, qtbot):
    inspector = select(window, qtbot, "lookup")
    tool = config_editor(inspector, "tool")
    line = tool.combo.lineEdit()
    line.setFocus()
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: "tool" not in window.document.flow.node("lookup").config)
    assert tool.problems
    assert "border" in tool.combo.styleSheet()
    assert window.scene.node_items["lookup"].issues
    tool.set_tool_names(["orders__get_order", "orders__refund_order"])
    assert tool.combo.count() == 2


def test_invalid_json_is_shown_and_not_committed(window, qtbot):
    inspector = select(window, qtbot, "extract")
    schema = config_editor(inspector, "output_schema")
    before = window.document.flow
    replace_text(qtbot, schema.edit, '{"type": ')
    qtbot.waitUntil(lambda: not schema.error.isHidden())
    assert "Not JSON" in schema.error.text()
    schema.flush()
    window.view.setFocus()
    assert window.document.flow is before
    replace_text(qtbot, schema.edit, '{"type": "string"}')
    qtbot.waitUntil(
        lambda: window.document.flow.node("extract").config["output_schema"] == {"type": "string"}
    )
    assert schema.error.isHidden()


def test_an_enum_and_a_number_round_trip(qtbot, monkeypatch):
    window = control_window(qtbot, monkeypatch)
    inspector = select(window, qtbot, "check")
    mode = config_editor(inspector, "mode")
    assert isinstance(mode, EnumField)
    mode.combo.setCurrentIndex(mode.combo.findText("switch"))
    mode.combo.activated.emit(mode.combo.currentIndex())
    assert window.document.flow.node("check").config["mode"] == "switch"
    assert "switch needs" in inspector.banner.text()
    window.undo_stack.undo()
    assert window.document.flow.node("check").config["mode"] == "if"
    assert mode.combo.currentText() == "if"

    inspector = select(window, qtbot, "each")
    spin = config_editor(inspector, "max_iterations").spin
    assert spin.value() == 100
    assert spin.maximum() == 10000
    spin.setValue(250)
    assert window.document.flow.node("each").config["max_iterations"] == 250
    window.undo_stack.undo()
    assert "max_iterations" not in window.document.flow.node("each").config
    assert spin.value() == 100


def test_completion_offers_upstream_nodes_only(window, qtbot):
    inspector = select(window, qtbot, "extract")
    edit = config_editor(inspector, "prompt").edit
    edit.setFocus()
    edit.moveCursor(edit.textCursor().MoveOperation.End)
    qtbot.keyClicks(edit, " {{ nodes.")
    completer = edit.completer
    qtbot.waitUntil(lambda: completer.popup().isVisible())
    model = completer.completionModel()
    offered = {model.index(i, 0).data() for i in range(model.rowCount())}
    assert offered == {"nodes.start.", "nodes.screen."}
    names = inspector.context.completions.stringList()
    assert "input." in names
    assert "nodes.lookup." not in names
    completer.popup().hide()


def test_completion_offers_every_name_a_run_gives_an_expression(window, qtbot):
    """input, run, error, and vars and nodes (as themselves while none is upstream): typing a
    name outside them (`trigger.`) is offered nothing."""
    from engine.flow.expressions import SCOPE_NAMES

    names = select(window, qtbot, "start").context.completions.stringList()
    assert names == ["error.", "input.", "nodes.", "run.", "vars."]
    assert {n.split(".")[0] for n in names} == SCOPE_NAMES
    names = select(window, qtbot, "extract").context.completions.stringList()
    assert names == ["error.", "input.", "run.", "vars.", "nodes.screen.", "nodes.start."]


def test_no_completion_outside_template_tags(window, qtbot):
    inspector = select(window, qtbot, "extract")
    edit = config_editor(inspector, "system").edit
    edit.setFocus()
    qtbot.keyClicks(edit, " no")
    assert not edit.completer.popup().isVisible()


def test_parallel_branches_add_and_remove_are_undoable(qtbot, monkeypatch):
    window = control_window(qtbot, monkeypatch)
    inspector = select(window, qtbot, "fan")
    branches = config_editor(inspector, "branches")
    assert isinstance(branches, ListEditor)
    assert len(branches.rows) == 1
    qtbot.mouseClick(branches.add_button, Qt.MouseButton.LeftButton)
    assert window.document.flow.node("fan").config["branches"] == ["a", "branch_2"]
    assert len(branches.rows) == 2
    assert "branch_2" in window.scene.node_items["fan"].handles
    qtbot.mouseClick(branches.rows[0].buttons["remove"], Qt.MouseButton.LeftButton)
    assert window.document.flow.node("fan").config["branches"] == ["branch_2"]
    window.undo_stack.undo()
    assert window.document.flow.node("fan").config["branches"] == ["a", "branch_2"]
    assert [r.editor.line.text() for r in branches.rows] == ["a", "branch_2"]
    window.undo_stack.undo()
    assert window.document.flow.node("fan").config["branches"] == ["a"]
    assert len(branches.rows) == 1


def test_editing_a_row_of_objects(window, qtbot):
    inspector = select(window, qtbot, "route")
    routes = config_editor(inspector, "routes")
    name = routes.rows[1].editor.editors["name"].line
    name.setFocus()
    name.selectAll()
    qtbot.keyClicks(name, "refunds")
    qtbot.keyClick(name, Qt.Key.Key_Return)
    routes_after = window.document.flow.node("route").config["routes"]
    assert [r["name"] for r in routes_after] == ["status", "refunds"]
    assert routes_after[1]["keywords"][0] == "refund"


def test_node_fields_label_and_retry(window, qtbot):
    inspector = select(window, qtbot, "extract")
    label = inspector.common_form.editors["label"].line
    label.setFocus()
    label.selectAll()
    qtbot.keyClicks(label, "Order number")
    qtbot.keyClick(label, Qt.Key.Key_Return)
    assert window.document.flow.node("extract").label == "Order number"
    assert inspector.title.text() == "Order number"
    retry = inspector.common_form.editors["retry"]
    qtbot.mouseClick(retry.toggle, Qt.MouseButton.LeftButton, pos=QPoint(6, 6))
    assert window.document.flow.node("extract").retry is not None
    variable = inspector.common_form.editors["output_variable"]
    variable.line.setFocus()
    qtbot.keyClicks(variable.line, "1bad")
    qtbot.keyClick(variable.line, Qt.Key.Key_Return)
    assert window.document.flow.node("extract").output_variable is None
    assert variable.problems


def test_every_node_type_has_a_form_inside_the_window(qtbot, monkeypatch):
    from engine.nodes import NODE_SPECS

    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    nodes = [
        {"id": node_type.replace("_", "-"), "type": node_type, "position": [0, 90 * i]}
        for i, node_type in enumerate(NODE_SPECS)
    ]
    flow = from_document(
        {"format": "aerostudio.flow/1", "id": "all", "name": "All", "nodes": nodes}
    )
    window = MainWindow(FlowDocument(flow))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    for node in nodes:
        inspector = select(window, qtbot, node["id"])
        assert inspector.config_form.editors
        strays = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window]
        assert strays == []
