"""Forms generated from JSON Schemas (pydantic's `model_json_schema()`): objects and lists.

`build_editor` picks the editor of one property: text, template, number, enum, boolean, a list
of rows, a nested object, a secret reference, the tool picker, or JSON for everything free-form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.panels.fields import (
    MISSING,
    BoolField,
    EnumField,
    FieldEditor,
    LineField,
    NumberField,
    Problem,
    SecretField,
    ToolField,
    WordsField,
    mark,
)
from studio.panels.text_fields import JsonField, TextField

MULTILINE = {"prompt", "system", "goal", "text", "details", "code", "policy", "description"}
LABELS = {"llm": "Default LLM", "url": "URL", "ttl_s": "Code lifetime (s)", "schema": "JSON Schema"}
UNITS = {"s": "(s)", "mb": "(MB)"}
NEW_ITEMS: dict[str, Any] = {
    "branches": "branch_{n}",
    "routes": {"name": "route_{n}"},
    "cases": {"handle": "case_{n}", "equals": ""},
    "checks": {"check": "pii"},
    "buttons": {"label": "", "value": ""},
}
ROW_BUTTONS = (("up", "↑", "Move up"), ("down", "↓", "Move down"), ("remove", "✕", "Remove"))
_PATH_HEAD = re.compile(r"^(?:\[(\d+)\]|([^.\[]+))\.?")


@dataclass
class FormContext:
    """What editors share: the completion names of the node and the workspace's tools."""

    completions: QStringListModel = field(default_factory=QStringListModel)
    tool_names: list[str] = field(default_factory=list)
    tool_fields: list[ToolField] = field(default_factory=list)


def label_text(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    words = key.strip("_").split("_")
    if len(words) > 1 and words[-1] in UNITS:
        words[-1] = UNITS[words[-1]]
    return " ".join(words).capitalize().replace("(mb)", "(MB)")


def split_path(path: str) -> tuple[str | int, str]:
    """`routes[0].name` -> ("routes", "[0].name"); `[0].name` -> (0, "name")."""
    match = _PATH_HEAD.match(path)
    if match is None:
        return path, ""
    head: str | int = int(match.group(1)) if match.group(1) is not None else match.group(2)
    return head, path[match.end() :]


def resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return {
            **defs.get(ref.rsplit("/", 1)[-1], {}),
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    return schema


def unwrap(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema without an `anyOf [X, null]` around it, and whether null was allowed."""
    schema = resolve(schema, defs)
    options = schema.get("anyOf")
    if isinstance(options, list):
        others = [o for o in options if o.get("type") != "null"]
        if len(others) == 1:
            outer = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**resolve(others[0], defs), **outer}, len(others) < len(options)
    return schema, False


def build_editor(
    key: str, schema: dict[str, Any], defs: dict[str, Any], context: FormContext
) -> FieldEditor:
    """The editor of property `key` with its (pydantic) JSON schema."""
    s, nullable = unwrap(schema, defs)
    hint = s.get("description", "")
    kind = s.get("type")
    if s.get("title") == "SecretRef":
        return SecretField(hint)
    if key == "tool" and kind == "string":
        editor = ToolField(hint, context.tool_names)
        context.tool_fields.append(editor)
        return editor
    if "enum" in s:
        return EnumField(s["enum"], s.get("default"), nullable, hint)
    if kind == "boolean":
        return BoolField(s.get("default"), label_text(key), hint)
    if kind in ("integer", "number"):
        return NumberField(s, nullable, hint)
    if kind == "string":
        if s.get("x-expression"):
            return TextField("expression", True, hint, context.completions)
        mode = "code" if key == "code" else "template" if s.get("x-template") else "plain"
        if key in MULTILINE:
            return TextField(mode, False, hint, context.completions, 6 if key == "code" else 3)
        if mode == "template":
            return TextField(mode, False, hint, context.completions, 1)
        return LineField(hint, placeholder="default" if nullable else "")
    if kind == "array":
        items, _ = unwrap(s.get("items", {}), defs)
        if key in NEW_ITEMS or "properties" in items:
            return ListEditor(key, items, defs, context, nullable, hint)
        if items.get("type") == "string":
            return WordsField(hint, nullable)
    if kind == "object" and "properties" in s:
        return GroupEditor(s, defs, context, nullable, hint)
    return JsonField(hint, 3 if kind in ("object", "array") else 1)


class ObjectForm(FieldEditor):
    """The properties of an object schema, one editor each; edits emit the whole new object."""

    wide = True

    def __init__(
        self,
        schema: dict[str, Any],
        defs: dict[str, Any],
        context: FormContext,
        keys: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._layout.addLayout(self.form)
        self.editors: dict[str, FieldEditor] = {}
        self._value: dict[str, Any] = {}
        required = set(schema.get("required", []))
        for key, prop in schema.get("properties", {}).items():
            if keys is not None and key not in keys:
                continue
            editor = build_editor(key, prop, defs, context)
            editor.edited.connect(partial(self._child_edited, key))
            editor.finished.connect(self.finished)
            self.editors[key] = editor
            if isinstance(editor, BoolField):
                self.form.addRow("", editor)
                continue
            if isinstance(editor, GroupEditor):
                editor.set_title(label_text(key))
                self.form.addRow(editor)
                continue
            label = QLabel(label_text(key) + (" *" if key in required else ""))
            label.setToolTip(editor.hint)
            if editor.wide:
                self.form.addRow(label)
                self.form.addRow(editor)
            else:
                self.form.addRow(label, editor)

    def set_value(self, value: Any) -> None:
        self._value = dict(value) if isinstance(value, dict) else {}
        self._synced = self._value
        for key, editor in self.editors.items():
            editor.set_value(self._value.get(key, MISSING))

    def _child_edited(self, key: str, value: Any) -> None:
        new = dict(self._value)
        if value is MISSING:
            new.pop(key, None)
        else:
            new[key] = value
        self._value = self._synced = new
        self.edited.emit(new)

    def flush(self) -> None:
        for editor in self.editors.values():
            editor.flush()

    def set_problems(self, problems: list[Problem]) -> None:
        """Hand each problem to the editor of its field; returns nothing for the form itself."""
        by_key: dict[str | int, list[Problem]] = {}
        for path, severity, message in problems:
            head, rest = split_path(path)
            by_key.setdefault(head, []).append((rest, severity, message))
        self.problems = [(p, s, m) for p, s, m in problems if split_path(p)[0] not in self.editors]
        for key, editor in self.editors.items():
            editor.set_problems(by_key.get(key, []))


class GroupEditor(FieldEditor):
    """A nested object in a box; an optional one has a checkbox that sets or removes it."""

    wide = True

    def __init__(
        self,
        schema: dict[str, Any],
        defs: dict[str, Any],
        context: FormContext,
        nullable: bool,
        hint: str,
    ) -> None:
        super().__init__(hint)
        self.nullable = nullable
        self.toggle = QCheckBox()
        self.toggle.setToolTip(hint)
        if not nullable:
            self.toggle.hide()
        self.toggle.clicked.connect(self._toggled)
        self.box = QGroupBox()
        self.box.setToolTip(hint)
        self.inner = ObjectForm(schema, defs, context)
        inner_layout = QVBoxLayout(self.box)
        inner_layout.setContentsMargins(8, 4, 8, 8)
        inner_layout.addWidget(self.inner)
        self._layout.addWidget(self.toggle)
        self._layout.addWidget(self.box)
        self.inner.edited.connect(self._commit)
        self.inner.finished.connect(self.finished)

    def set_title(self, title: str) -> None:
        if self.nullable:
            self.toggle.setText(title)
        else:
            self.box.setTitle(title)

    def _show(self, value: Any) -> None:
        present = isinstance(value, dict)
        self.toggle.setChecked(present)
        self.box.setVisible(present or not self.nullable)
        self.inner.set_value(value if present else {})

    def _toggled(self, on: bool) -> None:
        self.box.setVisible(on)
        self._commit(dict(self.inner._value) if on else MISSING)
        self.finished.emit()

    def flush(self) -> None:
        self.inner.flush()

    def input_widget(self) -> QWidget:
        return self.box

    def set_problems(self, problems: list[Problem]) -> None:
        own = [p for p in problems if not p[0]]
        self.problems = own
        mark(self.box, own, self.hint)
        self.inner.set_problems([p for p in problems if p[0]])


class _Row(QFrame):
    """One list item: its editor and buttons to move it up, down or away."""

    def __init__(self, editor: FieldEditor, framed: bool) -> None:
        super().__init__()
        self.editor = editor
        if framed:
            self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        margin = (4, 2, 2, 2) if framed else (0, 0, 0, 0)
        layout.setContentsMargins(*margin)
        layout.addWidget(editor, 1)
        self.buttons: dict[str, QToolButton] = {}
        for name, text, tip in ROW_BUTTONS:
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setAutoRaise(True)
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
            self.buttons[name] = button


class ListEditor(FieldEditor):
    """A list of strings (branches, tools) or of objects (routes, cases, checks, buttons)."""

    wide = True

    def __init__(
        self,
        key: str,
        items: dict[str, Any],
        defs: dict[str, Any],
        context: FormContext,
        nullable: bool,
        hint: str,
    ) -> None:
        super().__init__(hint)
        self.key, self.items, self.defs, self.context = key, items, defs, context
        self.nullable = nullable
        self._value: list[Any] = []
        self.rows: list[_Row] = []
        self.frame = QFrame()
        self.frame.setToolTip(hint)
        self.rows_layout = QVBoxLayout(self.frame)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(4)
        self.add_button = QToolButton()
        self.add_button.setText(f"+ Add {_singular(label_text(key).lower())}")
        self.add_button.clicked.connect(self.add)
        self._layout.addWidget(self.frame)
        self._layout.addWidget(self.add_button)

    def _show(self, value: Any) -> None:
        self._value = list(value) if isinstance(value, list) else []
        if len(self._value) != len(self.rows):
            self._build_rows()
        for row, item in zip(self.rows, self._value, strict=True):
            row.editor.set_value(item)

    def _build_rows(self) -> None:
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        for index in range(len(self._value)):
            if "properties" in self.items:
                editor: FieldEditor = ObjectForm(self.items, self.defs, self.context)
            else:
                editor = LineField(self.hint, keep_empty=True)
            row = _Row(editor, "properties" in self.items)
            editor.edited.connect(partial(self._row_edited, index))
            editor.finished.connect(self.finished)
            row.buttons["up"].clicked.connect(partial(self.move_item, index, -1))
            row.buttons["down"].clicked.connect(partial(self.move_item, index, 1))
            row.buttons["remove"].clicked.connect(partial(self.remove, index))
            row.buttons["up"].setEnabled(index > 0)
            row.buttons["down"].setEnabled(index < len(self._value) - 1)
            self.rows_layout.addWidget(row)
            self.rows.append(row)

    def _row_edited(self, index: int, value: Any) -> None:
        new = list(self._value)
        new[index] = "" if value is MISSING else value
        self._value = self._synced = new
        self.edited.emit(new)

    def _replace(self, new: list[Any]) -> None:
        self._show(new)
        self._synced = MISSING if self.nullable and not new else new
        self.edited.emit(self._synced)
        self.finished.emit()

    def new_item(self) -> Any:
        """A fresh row: a unique name where items are named (branch_2, route_3, case_2)."""
        template = NEW_ITEMS.get(self.key, {} if "properties" in self.items else "")
        taken = {_name(v) for v in self._value}
        number = len(self._value) + 1
        while _name(_fill(template, number)) in taken - {""}:
            number += 1
        return _fill(template, number)

    def add(self) -> None:
        self._replace([*self._value, self.new_item()])

    def remove(self, index: int) -> None:
        self._replace(self._value[:index] + self._value[index + 1 :])

    def move_item(self, index: int, delta: int) -> None:
        new = list(self._value)
        other = index + delta
        if 0 <= other < len(new):
            new[index], new[other] = new[other], new[index]
            self._replace(new)

    def flush(self) -> None:
        for row in self.rows:
            row.editor.flush()

    def input_widget(self) -> QWidget:
        return self.frame

    def set_problems(self, problems: list[Problem]) -> None:
        own = [p for p in problems if not p[0]]
        self.problems = own
        mark(self.frame, own, self.hint)
        for index, row in enumerate(self.rows):
            below = []
            for path, severity, message in problems:
                head, rest = split_path(path)
                if head == index:
                    below.append((rest, severity, message))
            row.editor.set_problems(below)


def _name(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("name") or item.get("handle") or "")
    return str(item)


def _fill(template: Any, number: int) -> Any:
    if isinstance(template, str):
        return template.format(n=number)
    if isinstance(template, dict):
        return {k: _fill(v, number) for k, v in template.items()}
    return template


def _singular(plural: str) -> str:
    """branches -> branch, routes -> route, checks -> check."""
    if plural.endswith(("ches", "shes", "sses", "xes")):
        return plural[:-2]
    return plural.removesuffix("s")
