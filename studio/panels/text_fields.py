"""Text editors of the inspector: templates with highlighting and name completion, JSON."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFont,
    QFontDatabase,
    QKeyEvent,
    QResizeEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
)
from PySide6.QtWidgets import QAbstractItemView, QCompleter, QLabel, QPlainTextEdit, QWidget

from studio.panels.fields import MISSING, PROBLEM_COLORS, FieldEditor


def _popup(completer: QCompleter) -> QAbstractItemView:
    """The completer's list: Qt makes one on first use, so it is never None."""
    popup = completer.popup()
    assert popup is not None
    return popup


class TemplateHighlighter(QSyntaxHighlighter):
    """Colours `{{ … }}`, `{% … %}` and `{# … #}` in templates, and the names they use."""

    TAGS = re.compile(r"\{\{.*?(\}\}|$)|\{%.*?(%\}|$)|\{#.*?(#\}|$)")
    NAMES = re.compile(r"\b(?:input|vars|nodes|run|error)\b(?:\.\w+)*")

    def __init__(self, document: Any, expression: bool) -> None:
        super().__init__(document)
        self.expression = expression
        self.tag_format = QTextCharFormat()
        self.tag_format.setForeground(QColor("#c792ea"))
        self.name_format = QTextCharFormat()
        self.name_format.setForeground(QColor("#7fb8ff"))
        self.name_format.setFontWeight(QFont.Weight.DemiBold)

    def highlightBlock(self, text: str) -> None:
        spans = [(0, len(text))] if self.expression else []
        for match in [] if self.expression else self.TAGS.finditer(text):
            self.setFormat(match.start(), match.end() - match.start(), self.tag_format)
            spans.append((match.start(), match.end()))
        for start, end in spans:
            for name in self.NAMES.finditer(text, start, end):
                self.setFormat(name.start(), name.end() - name.start(), self.name_format)


_WORD = re.compile(r"[A-Za-z_][\w.]*$")


class CodeEdit(QPlainTextEdit):
    """Plain text with an optional completer of names (`input.`, `vars.x`, `nodes.id.`)."""

    def __init__(
        self, editor: FieldEditor, mode: str, single_line: bool, lines: tuple[int, int] = (1, 1)
    ) -> None:
        super().__init__()
        self._editor = editor
        self.mode = mode
        self.single_line = single_line
        self.lines = (1, 1) if single_line else lines
        self.completer: QCompleter | None = None
        self.setTabChangesFocus(True)
        self.textChanged.connect(self.fit)
        if single_line:
            self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def fit(self) -> None:
        """As tall as the wrapped text, within `lines` (an estimate: layout happens on paint)."""
        metrics = self.fontMetrics()
        margin = self.document().documentMargin()
        width = max(1.0, (self.viewport().width() - 2 * margin) * 0.8)
        count, block = 0, self.document().firstBlock()
        while block.isValid():
            count += max(1, math.ceil(metrics.horizontalAdvance(block.text()) / width))
            block = block.next()
        lines = max(self.lines[0], min(self.lines[1], count))
        frame = self.contentsMargins().top() + self.contentsMargins().bottom()
        self.setFixedHeight(int(lines * metrics.lineSpacing() + 2 * margin + frame + 2))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def set_completions(self, model: QStringListModel) -> None:
        self.completer = QCompleter(model, self)
        self.completer.setWidget(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated.connect(self.insert_completion)

    def completion_prefix(self) -> str | None:
        """The name being typed before the cursor, or None where names make no sense."""
        before = self.toPlainText()[: self.textCursor().position()]
        if self.mode == "template":
            opened = max(before.rfind("{{"), before.rfind("{%"))
            if opened < 0 or opened < max(before.rfind("}}"), before.rfind("%}")):
                return None
        match = _WORD.search(before)
        return match.group(0) if match else ""

    def insert_completion(self, text: str) -> None:
        prefix = self.completion_prefix() or ""
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.Left, cursor.MoveMode.KeepAnchor, len(prefix))
        cursor.insertText(text)
        self.setTextCursor(cursor)
        self._editor._typed()

    def update_completion(self, forced: bool = False) -> None:
        completer = self.completer
        if completer is None:
            return
        prefix = self.completion_prefix()
        if prefix is None or (not prefix and not forced):
            _popup(completer).hide()
            return
        completer.setCompletionPrefix(prefix)
        if completer.completionCount() == 0:
            _popup(completer).hide()
            return
        popup = _popup(completer)
        popup.setCurrentIndex(completer.completionModel().index(0, 0))
        rect = self.cursorRect()
        rect.setWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width())
        completer.complete(rect)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        popup_open = self.completer is not None and _popup(self.completer).isVisible()
        if popup_open and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
            event.ignore()
            return
        if self.single_line and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._editor._finish()
            return
        forced = key == Qt.Key.Key_Space and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if not forced:
            super().keyPressEvent(event)
        if event.text() or forced or key == Qt.Key.Key_Backspace:
            self.update_completion(bool(forced))

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            self._editor._finish()


MONOSPACE = QFontDatabase.SystemFont.FixedFont


class TextField(FieldEditor):
    """Templates, expressions, code and long text, growing with their content."""

    def __init__(
        self,
        mode: str,
        single_line: bool,
        hint: str = "",
        completions: QStringListModel | None = None,
        min_lines: int = 3,
    ) -> None:
        super().__init__(hint)
        self.wide = not single_line and min_lines > 1
        self.edit = CodeEdit(self, mode, single_line, (min_lines, 14))
        self.edit.setToolTip(hint)
        if mode in ("code", "expression"):
            self.edit.setFont(QFontDatabase.systemFont(MONOSPACE))
        if mode in ("template", "expression"):
            self.highlighter = TemplateHighlighter(self.edit.document(), mode == "expression")
            if completions is not None:
                self.edit.set_completions(completions)
        self.edit.textChanged.connect(self._changed)
        self._layout.addWidget(self.edit)
        self.edit.fit()

    def _changed(self) -> None:
        if self.edit.hasFocus():
            self._typed()

    def _show(self, value: Any) -> None:
        text = "" if value is MISSING or value is None else str(value)
        if text != self.edit.toPlainText():
            self.edit.setPlainText(text)

    def _current(self) -> Any:
        return self.edit.toPlainText() or MISSING

    def input_widget(self) -> QWidget:
        return self.edit


class JsonField(FieldEditor):
    """Objects and JSON Schemas as JSON text; text that does not parse is shown, not committed."""

    wide = True

    def __init__(self, hint: str = "", min_lines: int = 3) -> None:
        super().__init__(hint)
        self.edit = CodeEdit(self, "json", False, (min_lines, 12))
        self.edit.setFont(QFontDatabase.systemFont(MONOSPACE))
        self.edit.setToolTip(hint)
        self.edit.setPlaceholderText("JSON")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {PROBLEM_COLORS['error']};")
        self.error.hide()
        self.edit.textChanged.connect(self._changed)
        self._layout.addWidget(self.edit)
        self._layout.addWidget(self.error)
        self.edit.fit()

    def _changed(self) -> None:
        try:
            self._current()
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
        else:
            self.error.hide()
        if self.edit.hasFocus():
            self._typed()

    def _show(self, value: Any) -> None:
        text = "" if value is MISSING else json.dumps(value, indent=2, ensure_ascii=False)
        self.edit.setPlainText(text)

    def _current(self) -> Any:
        text = self.edit.toPlainText()
        if not text.strip():
            return MISSING
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"Not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc

    def input_widget(self) -> QWidget:
        return self.edit
