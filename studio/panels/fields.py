"""Field editors of the inspector: one widget per kind of config value.

Every editor shows a value from the document (`set_value`), reports the user's new value with
`edited` (MISSING: remove the key, the default applies) and `finished` when an edit ends (focus
left, Return, a click), which closes the undo step of that field. Typing commits after a short
idle, so validation follows the text without rebuilding the canvas on every key.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QFocusEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""The key is absent from the config (its default applies)."""
IDLE_MS = 250
PROBLEM_COLORS = {"error": "#e5484d", "warning": "#e5a50a"}
Problem = tuple[str, str, str]
"""(path below the editor, severity, message)."""


def mark(widget: QWidget, problems: list[Problem], hint: str = "") -> None:
    """A red (error) or amber (warning) border and the messages as tooltip; none: plain again."""
    if problems:
        severity = "error" if any(p[1] == "error" for p in problems) else "warning"
        name = widget.metaObject().className()
        color = PROBLEM_COLORS[severity]
        widget.setStyleSheet(f"{name} {{ border: 1px solid {color}; border-radius: 3px; }}")
        widget.setToolTip("\n".join(f"{p[1]}: {p[2]}" for p in problems))
    else:
        widget.setStyleSheet("")
        widget.setToolTip(hint)


class FieldEditor(QWidget):
    """Base of the editors: remembers the document's value so refreshes keep the user's cursor."""

    edited = Signal(object)
    finished = Signal()
    wide = False
    """Whether the editor takes a row of its own under its label."""

    def __init__(self, hint: str = "") -> None:
        super().__init__()
        self.hint = hint
        self.problems: list[Problem] = []
        self._synced: Any = object()
        self._timer = QTimer(self, singleShot=True, interval=IDLE_MS)
        self._timer.timeout.connect(self._commit_current)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)

    def set_value(self, value: Any) -> None:
        """Show the document's value, unless it is what the editor last showed or committed."""
        if _same(value, self._synced):
            return
        self._timer.stop()
        self._synced = value
        self._show(value)

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def _current(self) -> Any:
        """The value the widget holds now; MISSING to remove the key; raise ValueError if none."""
        raise NotImplementedError

    def _commit(self, value: Any) -> None:
        if not _same(value, self._synced):
            self._synced = value
            self.edited.emit(value)

    def _commit_current(self) -> None:
        try:
            value = self._current()
        except ValueError:
            return
        self._commit(value)

    def _typed(self) -> None:
        self._timer.start()

    def flush(self) -> None:
        """Commit a pending edit now (before the form goes away)."""
        if self._timer.isActive():
            self._timer.stop()
            self._commit_current()

    def _finish(self) -> None:
        self.flush()
        self.finished.emit()

    def input_widget(self) -> QWidget:
        return self

    def set_problems(self, problems: list[Problem]) -> None:
        self.problems = problems
        mark(self.input_widget(), problems, self.hint)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------------- plain widgets


class _FinishingLineEdit(QLineEdit):
    def __init__(self, editor: FieldEditor) -> None:
        super().__init__()
        self._editor = editor

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            self._editor._finish()


class LineField(FieldEditor):
    """One line of text; empty removes the key unless `keep_empty` (list items)."""

    def __init__(self, hint: str = "", keep_empty: bool = False, placeholder: str = "") -> None:
        super().__init__(hint)
        self.keep_empty = keep_empty
        self.line = _FinishingLineEdit(self)
        self.line.setPlaceholderText(placeholder)
        self.line.setToolTip(hint)
        self.line.textEdited.connect(self._typed)
        self.line.returnPressed.connect(self._finish)
        self._layout.addWidget(self.line)

    def _show(self, value: Any) -> None:
        self.line.setText("" if value is MISSING or value is None else str(value))

    def _current(self) -> Any:
        text = self.line.text()
        return text if text or self.keep_empty else MISSING

    def input_widget(self) -> QWidget:
        return self.line


class WordsField(LineField):
    """A list of short strings (keywords, reviewers, events) as one comma-separated line."""

    def __init__(self, hint: str = "", nullable: bool = False) -> None:
        super().__init__(hint, placeholder="default" if nullable else "comma-separated")
        self.nullable = nullable

    def _show(self, value: Any) -> None:
        self.line.setText(", ".join(map(str, value)) if isinstance(value, list) else "")

    def _current(self) -> Any:
        words = [w.strip() for w in self.line.text().split(",") if w.strip()]
        return MISSING if self.nullable and not words else words


class SecretField(LineField):
    """A vault secret reference {"secret": NAME}: only the name is ever shown or typed."""

    def __init__(self, hint: str = "") -> None:
        super().__init__(hint, placeholder="name of a vault secret")

    def _show(self, value: Any) -> None:
        name = value.get("secret", "") if isinstance(value, dict) else ""
        self.line.setText(str(name))

    def _current(self) -> Any:
        name = self.line.text().strip()
        return {"secret": name} if name else MISSING


class _GuardedSpinBox(QSpinBox):
    """Scrolling the form over an unfocused spin box scrolls the form, not the value."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _GuardedDoubleSpinBox(QDoubleSpinBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _GuardedComboBox(QComboBox):
    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class NumberField(FieldEditor):
    """An integer or a number within the schema's bounds; optional ones show "default" below."""

    def __init__(self, schema: dict[str, Any], nullable: bool, hint: str = "") -> None:
        super().__init__(hint)
        self.integer = schema.get("type") == "integer"
        self.default = schema.get("default")
        self.nullable = nullable
        limit = 2**31 - 1 if self.integer else 1e12
        low = schema.get("minimum", schema.get("exclusiveMinimum", -limit))
        high = schema.get("maximum", limit)
        self.spin: QSpinBox | QDoubleSpinBox
        if self.integer:
            self.spin = _GuardedSpinBox()
            step: float = 1
        else:
            self.spin = _GuardedDoubleSpinBox()
            self.spin.setDecimals(2)
            step = 0.1 if high <= 2 else 1
            self.spin.setSingleStep(step)
        self.floor = low - step if nullable else low
        self.spin.setRange(self.floor, high)
        if nullable:
            self.spin.setSpecialValueText("default")
        self.spin.setKeyboardTracking(False)
        self.spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.spin.setToolTip(hint)
        self.spin.valueChanged.connect(self._commit_current)
        self.spin.editingFinished.connect(self.finished)
        self._layout.addWidget(self.spin)

    def _show(self, value: Any) -> None:
        if value is MISSING or value is None:
            value = self.floor if self.default is None else self.default
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)

    def _current(self) -> Any:
        value = self.spin.value()
        if self.nullable and value <= self.floor:
            return MISSING
        return int(value) if self.integer else float(value)

    def input_widget(self) -> QWidget:
        return self.spin


class EnumField(FieldEditor):
    """One of a list of values (Literal fields); optional ones start with "default"."""

    def __init__(self, values: list[Any], default: Any, nullable: bool, hint: str = "") -> None:
        super().__init__(hint)
        self.values = ([MISSING] if nullable else []) + list(values)
        self.default = default
        self.combo = _GuardedComboBox()
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.combo.addItems(["default" if v is MISSING else str(v) for v in self.values])
        self.combo.setToolTip(hint)
        self.combo.activated.connect(self._picked)
        self._layout.addWidget(self.combo)

    def _show(self, value: Any) -> None:
        if value is MISSING or value is None:
            value = MISSING if self.values[0] is MISSING else self.default
        index = next((i for i, v in enumerate(self.values) if _same(v, value)), -1)
        self.combo.setCurrentIndex(index)

    def _current(self) -> Any:
        index = self.combo.currentIndex()
        if index < 0:
            raise ValueError("nothing chosen")
        return self.values[index]

    def _picked(self) -> None:
        self._commit_current()
        self.finished.emit()

    def input_widget(self) -> QWidget:
        return self.combo


class BoolField(FieldEditor):
    def __init__(self, default: Any, text: str, hint: str = "") -> None:
        super().__init__(hint)
        self.default = bool(default)
        self.check = QCheckBox(text)
        self.check.setToolTip(hint)
        self.check.clicked.connect(self._clicked)
        self._layout.addWidget(self.check)

    def _show(self, value: Any) -> None:
        self.check.setChecked(self.default if value is MISSING or value is None else bool(value))

    def _current(self) -> Any:
        return self.check.isChecked()

    def _clicked(self) -> None:
        self._commit_current()
        self.finished.emit()

    def input_widget(self) -> QWidget:
        return self.check


class ToolField(FieldEditor):
    """`mcp_tool.tool`: free text, with the workspace's tools to pick from when known."""

    def __init__(self, hint: str = "", names: list[str] | None = None) -> None:
        super().__init__(hint)
        self.combo = _GuardedComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.combo.setToolTip(hint)
        line = self.combo.lineEdit()
        assert line is not None  # an editable combo box has its line edit
        line.setPlaceholderText("server__tool")
        line.textEdited.connect(self._typed)
        line.editingFinished.connect(self._finish)
        self.combo.activated.connect(self._picked)
        self._layout.addWidget(self.combo)
        self.set_tool_names(names or [])

    def set_tool_names(self, names: list[str]) -> None:
        text = self.combo.currentText()
        self.combo.clear()
        self.combo.addItems(sorted(names))
        self.combo.setEditText(text)

    def _show(self, value: Any) -> None:
        self.combo.setEditText("" if value is MISSING or value is None else str(value))

    def _current(self) -> Any:
        return self.combo.currentText().strip() or MISSING

    def _picked(self) -> None:
        self._commit_current()
        self.finished.emit()

    def input_widget(self) -> QWidget:
        return self.combo
