"""The run panel: the trigger's input (a form made from its `input_schema`, or JSON), the run and
debug buttons, running again from a node, a status line, and the prompts of a paused run (review,
auth code, timer)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.flow import Flow
from studio.panels.prompt import PromptArea, flat_fields


def _input_note(fields: dict[str, str] | None, kind: Any) -> str:
    """What the Form tab says when it has no fields to show."""
    if fields is None:
        return "This trigger's input is not a flat object: edit it as JSON."
    if kind == "message":
        return (
            "A message trigger: talk to the flow in the Chat tab, or give a message as JSON "
            '({"text": ..., "user_id": ..., "conversation_id": ...}).'
        )
    return "This trigger declares no input fields: the run's input is {}, or the JSON you give."


class InputForm(QWidget):
    """Editors for a flat object schema: text, number and check fields."""

    def __init__(self) -> None:
        super().__init__()
        self.layout_ = QFormLayout(self)
        self.editors: dict[str, QWidget] = {}
        self.types: dict[str, str] = {}

    def build(self, fields: dict[str, str], schema: dict[str, Any]) -> None:
        values = self.values()
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        self.editors, self.types = {}, dict(fields)
        properties = schema.get("properties") or {}
        for name, kind in fields.items():
            editor: QWidget
            if kind == "boolean":
                editor = QCheckBox()
            elif kind == "integer":
                editor = QSpinBox()
                editor.setRange(-(2**31), 2**31 - 1)
            elif kind == "number":
                editor = QDoubleSpinBox()
                editor.setRange(-1e12, 1e12)
                editor.setDecimals(4)
            else:
                editor = QLineEdit()
                editor.setPlaceholderText(str((properties.get(name) or {}).get("description", "")))
            editor.setObjectName(f"input:{name}")
            self.editors[name] = editor
            self.layout_.addRow(name, editor)
        self.set_values(values)

    def values(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                result[name] = editor.isChecked()
            elif isinstance(editor, QSpinBox | QDoubleSpinBox):
                result[name] = editor.value()
            elif isinstance(editor, QLineEdit):
                result[name] = editor.text()
        return result

    def set_values(self, values: Any) -> None:
        if not isinstance(values, dict):
            return
        for name, value in values.items():
            editor = self.editors.get(name)
            try:
                if isinstance(editor, QCheckBox):
                    editor.setChecked(bool(value))
                elif isinstance(editor, QSpinBox):
                    editor.setValue(int(value))
                elif isinstance(editor, QDoubleSpinBox):
                    editor.setValue(float(value))
                elif isinstance(editor, QLineEdit):
                    editor.setText("" if value is None else str(value))
            except (TypeError, ValueError):
                continue


class RunPanel(QWidget):
    run_requested = Signal()
    debug_requested = Signal()
    step_requested = Signal()
    continue_requested = Signal()
    stop_requested = Signal()
    run_from_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.flow: Flow | None = None
        self.schema: dict[str, Any] = {}
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Trigger"))
        self.trigger = QComboBox()
        self.trigger.currentIndexChanged.connect(self._trigger_changed)
        top.addWidget(self.trigger, 1)
        layout.addLayout(top)
        self.tabs = QTabWidget()
        self.form = InputForm()
        self.form_note = QLabel()
        self.form_note.setWordWrap(True)
        form_page = QWidget()
        form_layout = QVBoxLayout(form_page)
        form_layout.addWidget(self.form)
        form_layout.addWidget(self.form_note)
        form_layout.addStretch(1)
        self.json_edit = QPlainTextEdit()
        self.json_edit.setPlaceholderText('{"text": "hello"}')
        self.tabs.addTab(form_page, "Form")
        self.tabs.addTab(self.json_edit, "JSON")
        self.tabs.currentChanged.connect(self._sync_tabs)
        layout.addWidget(self.tabs, 1)
        buttons = QGridLayout()  # two rows of three: the dock stays narrow, the canvas wide
        self.run_button = QPushButton("▶ Run")
        self.debug_button = QPushButton("Debug")
        self.step_button = QPushButton("Step")
        self.continue_button = QPushButton("Continue")
        self.stop_button = QPushButton("■ Stop")
        self.run_from_button = QPushButton("Run from node")
        self.run_from_button.setToolTip(
            "Run again from the selected node: the nodes before it keep their outputs from the "
            "run shown (pinned), the rest runs anew"
        )
        for index, (button, signal) in enumerate(
            (
                (self.run_button, self.run_requested),
                (self.debug_button, self.debug_requested),
                (self.run_from_button, self.run_from_requested),
                (self.step_button, self.step_requested),
                (self.continue_button, self.continue_requested),
                (self.stop_button, self.stop_requested),
            )
        ):
            button.clicked.connect(signal.emit)
            buttons.addWidget(button, index // 3, index % 3)
        layout.addLayout(buttons)
        self.prompt = PromptArea()
        layout.addWidget(self.prompt)
        self.status = QLabel("Not running")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.set_controls(active=False, at_breakpoint=False)

    # --------------------------------------------------------------------------------- input

    def set_flow(self, flow: Flow, selected: set[str] | None = None) -> None:
        """Offer the flow's triggers, the selected one first choice."""
        self.flow = flow
        triggers = [n.id for n in flow.node_map.values() if n.type == "trigger"]
        current = self.trigger.currentText()
        chosen = next((t for t in triggers if t in (selected or set())), None)
        self.trigger.blockSignals(True)
        self.trigger.clear()
        self.trigger.addItems(triggers)
        self.trigger.blockSignals(False)
        pick = chosen or (current if current in triggers else (triggers[0] if triggers else ""))
        self.trigger.setCurrentIndex(max(0, self.trigger.findText(pick)))
        self._trigger_changed()

    def _trigger_changed(self) -> None:
        node = self.flow.node_map.get(self.trigger.currentText()) if self.flow else None
        schema = (node.config.get("input_schema") if node else None) or {}
        self.schema = schema if isinstance(schema, dict) else {}
        fields = flat_fields(self.schema)
        self.form.build(fields or {}, self.schema)
        self.form.setVisible(bool(fields))
        kind = node.config.get("kind") if node else None
        self.form_note.setText(_input_note(fields, kind))
        self.form_note.setVisible(not fields)
        if fields is None and self.tabs.currentIndex() == 0:
            self.tabs.setCurrentIndex(1)

    def _sync_tabs(self, index: int) -> None:
        if index == 1 and self.form.editors:
            self.json_edit.setPlainText(json.dumps(self.form.values(), indent=2))
        elif index == 0:
            with contextlib.suppress(json.JSONDecodeError):
                self.form.set_values(json.loads(self.json_edit.toPlainText() or "{}"))

    def trigger_id(self) -> str | None:
        return self.trigger.currentText() or None

    def payload(self) -> Any:
        """The run's input; ValueError with a readable message when the JSON does not parse."""
        if self.tabs.currentIndex() == 0 and self.form.editors:
            return self.form.values()
        text = self.json_edit.toPlainText().strip()
        if not text:
            return self.form.values() if self.form.editors else {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the input is not valid JSON: {exc.msg} at line {exc.lineno}"
            ) from None

    # ------------------------------------------------------------------------------- running

    def set_controls(self, *, active: bool, at_breakpoint: bool) -> None:
        self.run_button.setEnabled(not active)
        self.debug_button.setEnabled(not active)
        self.run_from_button.setEnabled(not active)
        self.step_button.setEnabled(active and at_breakpoint)
        self.continue_button.setEnabled(active and at_breakpoint)
        self.stop_button.setEnabled(active)

    def set_status(self, text: str) -> None:
        self.status.setText(text)
