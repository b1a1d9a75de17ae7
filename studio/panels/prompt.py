"""What a paused run asks for, in the run panel: a review (its rendered details and a form made
from the node's `form` schema, whose values go with the decision), an auth code (with the mail
that carried it, when the runtime on this machine kept it in its outbox), or a timer to fire."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtGui import QDoubleValidator, QIntValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.paths import data_dir
from studio.run_state import Pause

FORM_TYPES = ("string", "number", "integer", "boolean")
HEADINGS = {"approval": "Review", "auth": "Code needed", "timer": "Waiting"}


def flat_fields(schema: Any) -> dict[str, str] | None:
    """Field name -> JSON type for a flat object schema of simple fields, else None."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    properties = schema.get("properties") or {}
    fields = {name: (spec or {}).get("type", "string") for name, spec in properties.items()}
    if not all(isinstance(kind, str) and kind in FORM_TYPES for kind in fields.values()):
        return None
    return fields


def outbox() -> Path:
    """Where a runtime on this machine without mail settings keeps the mail it sends."""
    return data_dir() / "outbox"


def newest_mail(folder: Path) -> str | None:
    """The newest mail in `folder` as text a person reads (To, Subject, body), or None."""
    mails = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    if not mails:
        return None
    message = BytesParser(policy=policy.default).parsebytes(mails[-1].read_bytes())
    body = message.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return f"To: {message['To']}\nSubject: {message['Subject']}\n\n{str(text).strip()}"


class ReviewForm(QWidget):
    """Editors for a review's flat form schema. A field left empty is left out of the values,
    so a flow's `default(...)` applies (e.g. an empty amount refunds what is left)."""

    def __init__(self) -> None:
        super().__init__()
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QCheckBox | QComboBox | QLineEdit] = {}
        self.types: dict[str, str] = {}
        self.schema: dict[str, Any] = {}

    def build(self, schema: dict[str, Any] | None) -> bool:
        """Editors for `schema`'s fields; False (and none) when it is not a flat form."""
        while self.layout_.rowCount():
            self.layout_.removeRow(0)
        fields = flat_fields(schema) if schema else None
        self.schema = schema if schema and fields else {}
        self.editors, self.types = {}, dict(fields or {})
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        for name, kind in self.types.items():
            spec = properties.get(name) or {}
            editor = self._editor(kind, spec)
            editor.setObjectName(f"review:{name}")
            editor.setToolTip(str(spec.get("description", "")))
            self.editors[name] = editor
            self.layout_.addRow(f"{name}{' *' if name in required else ''}", editor)
        return bool(self.editors)

    @staticmethod
    def _editor(kind: str, spec: dict[str, Any]) -> QCheckBox | QComboBox | QLineEdit:
        if kind == "boolean":
            return QCheckBox()
        if isinstance(spec.get("enum"), list):
            choice = QComboBox()
            choice.addItems(["", *(str(v) for v in spec["enum"])])
            return choice
        line = QLineEdit()
        line.setPlaceholderText(str(spec.get("description", "")))
        if kind == "integer":
            line.setValidator(QIntValidator(line))
        elif kind == "number":
            validator = QDoubleValidator(line)
            validator.setNotation(QDoubleValidator.Notation.StandardNotation)
            validator.setLocale(QLocale.c())  # a point, as float() and JSON read it
            line.setValidator(validator)
        return line

    def values(self) -> dict[str, Any]:
        """The filled-in values, typed by the schema; ValueError naming a field that is wrong."""
        result: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                result[name] = editor.isChecked()
                continue
            text = editor.currentText() if isinstance(editor, QComboBox) else editor.text()
            text = text.strip()
            if not text:
                continue
            try:
                kind = self.types[name]
                result[name] = (
                    int(text) if kind == "integer" else (float(text) if kind == "number" else text)
                )
            except ValueError:
                raise ValueError(f"{name}: '{text}' is not a {self.types[name]}") from None
        return result

    def check(self) -> dict[str, Any]:
        """The values, checked against the form's schema (required fields, minimums, …)."""
        import jsonschema

        values = self.values()
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(self.schema).iter_errors(values)
        )
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise ValueError(f"{where}: {error.message}" if where else error.message)
        return values


class PromptArea(QFrame):
    """What a paused run asks for: a review decision, an auth code, or a timer to fire."""

    answered = Signal(str, dict)
    """(node id, the answer for `resume`)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.pause: Pause | None = None
        layout = QVBoxLayout(self)
        self.title = self._label()
        self.details = self._label()
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.form = ReviewForm()
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (optional)")
        self.code = QLineEdit()
        self.code.setPlaceholderText("Code")
        self.mail_note = self._label()
        self.show_mail = QPushButton("Show the mail")
        self.show_mail.setToolTip("Show the newest mail in this machine's outbox")
        self.mail = QPlainTextEdit()
        self.mail.setReadOnly(True)
        self.mail.setMaximumHeight(120)
        self.error = self._label()
        buttons = QHBoxLayout()
        self.approve = QPushButton("Approve")
        self.reject = QPushButton("Reject")
        self.submit = QPushButton("Submit code")
        self.fire = QPushButton("Fire now")
        for button in (self.approve, self.reject, self.submit, self.fire):
            buttons.addWidget(button)
        for top in (self.title, self.details, self.form, self.comment, self.mail_note):
            layout.addWidget(top)
        mail_row = QHBoxLayout()
        mail_row.addWidget(self.show_mail)
        mail_row.addStretch(1)
        layout.addLayout(mail_row)
        for bottom in (self.mail, self.code, self.error):
            layout.addWidget(bottom)
        layout.addLayout(buttons)
        self.approve.clicked.connect(lambda: self._decide("approve"))
        self.reject.clicked.connect(lambda: self._decide("reject"))
        self.submit.clicked.connect(lambda: self._answer(code=self.code.text().strip()))
        self.code.returnPressed.connect(self.submit.click)
        self.fire.clicked.connect(lambda: self._answer(fire=True))
        self.show_mail.clicked.connect(self.show_newest_mail)
        self.show_pause(None)

    @staticmethod
    def _label() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def show_pause(self, pause: Pause | None) -> None:
        """Ask for what `pause` needs; hidden for breakpoints (the debug buttons answer them)."""
        pause = pause if pause is not None and pause.kind != "breakpoint" else None
        same = pause is not None and self.pause is not None and pause.seq == self.pause.seq
        self.pause = pause
        kind = pause.kind if pause else ""
        self.setVisible(pause is not None)
        has_form = self.form.build(pause.form) if pause is not None and not same else None
        for widget, kinds in (
            (self.comment, ("approval",)),
            (self.approve, ("approval",)),
            (self.reject, ("approval",)),
            (self.code, ("auth",)),
            (self.submit, ("auth",)),
            (self.mail_note, ("auth",)),
            (self.show_mail, ("auth",)),
            (self.fire, ("timer",)),
        ):
            widget.setVisible(kind in kinds)
        if pause is None or same:
            return
        heading = HEADINGS.get(kind, kind)
        self.title.setText(f"<b>{heading}</b> ({pause.node_id}): {pause.prompt}")
        self.details.setText(pause.details)
        self.details.setVisible(bool(pause.details))
        self.form.setVisible(bool(has_form))
        self.mail.clear()
        self.mail.setVisible(False)
        self.error.clear()
        self.error.setVisible(False)
        self.comment.clear()
        self.code.clear()
        if kind == "auth":
            self._note_outbox()

    def _note_outbox(self) -> None:
        """Say where the code went: on the desktop, mail without mail settings stays in the
        outbox of the runtime on this machine, one click away."""
        folder = outbox()
        has_mail = folder.is_dir() and any(folder.glob("*.eml"))
        self.show_mail.setEnabled(has_mail)
        self.mail_note.setText(
            "The code was sent by mail. A runtime on this machine without mail settings keeps "
            f"its mail in the local outbox ({folder}): Show the mail to read it."
            if has_mail
            else "The code was sent by mail to the address on record (the local outbox "
            f"{folder} has no mail: the runtime has mail settings, or runs elsewhere)."
        )

    def show_newest_mail(self) -> None:
        """Show the newest mail of the outbox (the code's, just sent) in the prompt."""
        text = newest_mail(outbox())
        self.mail.setPlainText(text or f"No mail in {outbox()}.")
        self.mail.setVisible(True)

    def _decide(self, decision: str) -> None:
        answer: dict[str, Any] = {"decision": decision}
        if self.form.editors:
            try:  # a rejection needs no complete form
                answer["form"] = self.form.check() if decision == "approve" else self.form.values()
            except ValueError as exc:
                self.error.setText(f"⚠ {exc}")
                self.error.setVisible(True)
                return
        if self.comment.text().strip():
            answer["comment"] = self.comment.text().strip()
        self._answer(**answer)

    def _answer(self, **answer: Any) -> None:
        if self.pause is None:
            return
        self.error.setVisible(False)
        self.answered.emit(self.pause.node_id, answer)
