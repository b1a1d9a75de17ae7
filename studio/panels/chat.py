"""The chat panel: talk to a flow whose trigger takes messages (kind "message", docs/nodes.md).

A message the user sends starts a run with the payload a bot platform would give it, or answers
the run when it waits for text (an auth code); the run's `message` events come back as bubbles
and their buttons send their value. A conversation keeps one `conversation_id` across its
messages and runs, as a chat channel would.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.flow import Flow
from studio.run_state import RunState

PLATFORM = "studio"


def message_trigger(flow: Flow | None) -> str | None:
    """The flow's first trigger (by id) that takes messages, or None."""
    if flow is None:
        return None
    triggers = sorted(
        n.id for n in flow.nodes if n.type == "trigger" and n.config.get("kind") == "message"
    )
    return triggers[0] if triggers else None


@dataclass
class Line:
    """One line of the transcript: who said it ("user", "bot" or "note"), and its buttons."""

    who: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


class Conversation:
    """What the chat has said and shown, Qt-free: the runs it started and how far each was
    shown, so a run followed again (or read again after a restart) adds nothing twice."""

    def __init__(self, user_name: str | None = None) -> None:
        self.id = uuid.uuid4().hex
        self.user_name = user_name or _user_name()
        self.runs: list[str] = []
        self._messages_shown: dict[str, int] = {}
        self._prompts_shown: set[tuple[str, str, int]] = set()
        self._ends_shown: set[str] = set()

    def payload(self, text: str) -> dict[str, Any]:
        """A message trigger's input (docs/nodes.md, trigger): what a bot platform would send."""
        return {
            "text": text,
            "user_id": f"{PLATFORM}:{self.user_name}",
            "user_name": self.user_name,
            "channel_id": f"{PLATFORM}:{self.id[:8]}",
            "platform": PLATFORM,
            "conversation_id": self.id,
        }

    def waiting_for_text(self, state: RunState | None) -> str | None:
        """The node of this conversation's run that waits for the user to type (an auth code)."""
        if state is None or state.finished or state.run_id not in self.runs:
            return None
        waiting = [p for p in state.pauses.values() if p.kind == "auth"]
        return min(waiting, key=lambda p: p.seq).node_id if waiting else None

    def unseen(self, state: RunState | None) -> list[Line]:
        """The lines `state` adds to the transcript since it was last shown."""
        if state is None or state.run_id not in self.runs:
            return []
        lines: list[Line] = []
        shown = self._messages_shown.get(state.run_id, 0)
        for message in state.messages[shown:]:
            text = str(message.get("text", ""))
            if message.get("to"):  # send_proactive: another channel, not this conversation
                where = f"{message.get('platform', '')} {message['to']}".strip()
                lines.append(Line("note", f"sent to {where}: {text}"))
            else:
                buttons = [b for b in message.get("buttons") or [] if isinstance(b, dict)]
                lines.append(Line("bot", text, buttons))
        self._messages_shown[state.run_id] = max(shown, len(state.messages))
        for pause in sorted(state.pauses.values(), key=lambda p: p.seq):
            key = (state.run_id, pause.node_id, pause.seq)
            if pause.kind == "auth" and key not in self._prompts_shown:
                self._prompts_shown.add(key)
                lines.append(Line("bot", pause.prompt))
        if state.finished and state.status != "succeeded" and state.run_id not in self._ends_shown:
            self._ends_shown.add(state.run_id)
            error = state.error.get("message") if isinstance(state.error, dict) else state.error
            lines.append(Line("note", f"run {state.run_id[:8]} {state.status}: {error or ''}"))
        return lines


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "studio-user"


class Bubble(QFrame):
    """A message: the user's on the right, the flow's on the left with its buttons, notes in
    the middle."""

    clicked = Signal(str)
    """A button's value."""

    def __init__(self, line: Line) -> None:
        super().__init__()
        self.line = line
        self.setObjectName(f"bubble-{line.who}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.label = QLabel(line.text)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label)
        self.buttons: list[QPushButton] = []
        for spec in line.buttons:
            button = QPushButton(str(spec.get("label", "")))
            button.setToolTip(f"Sends: {spec.get('value', '')}")
            value = str(spec.get("value", ""))
            button.clicked.connect(lambda _=False, v=value: self._click(v))
            layout.addWidget(button)
            self.buttons.append(button)
        # Short lines keep a snug bubble; longer ones take most of the row instead of the
        # narrow width a wrapped label asks for.
        snug = len(line.text) <= 40 and not line.buttons
        width = QSizePolicy.Policy.Maximum if snug else QSizePolicy.Policy.Preferred
        self.setSizePolicy(width, QSizePolicy.Policy.Preferred)
        self.setStyleSheet(_STYLES[line.who])

    def _click(self, value: str) -> None:
        for button in self.buttons:  # one answer per question, as on chat platforms
            button.setEnabled(False)
        self.clicked.emit(value)


_STYLES = {
    "user": "#bubble-user { background: #2f6fd0; border-radius: 10px; }"
    " #bubble-user QLabel { color: white; }",
    "bot": "#bubble-bot { background: palette(alternate-base); border: 1px solid palette(mid);"
    " border-radius: 10px; }",
    "note": "#bubble-note QLabel { color: palette(placeholder-text); font-style: italic; }",
}


class ChatPanel(QWidget):
    sent = Signal(str)
    """Text the user sent: typed, or a button's value."""
    new_conversation_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[Line] = []
        self.bubbles: list[Bubble] = []
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        top.addWidget(self.heading, 1)
        self.new_button = QPushButton("New conversation")
        self.new_button.setToolTip("Start over with a new conversation_id")
        self.new_button.clicked.connect(self.new_conversation_requested.emit)
        top.addWidget(self.new_button)
        layout.addLayout(top)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.column = QVBoxLayout(body)
        self.column.addStretch(1)
        self.scroll_area.setWidget(body)
        bar = self.scroll_area.verticalScrollBar()
        bar.rangeChanged.connect(lambda _low, high: bar.setValue(high))  # the latest in view
        layout.addWidget(self.scroll_area, 1)
        row = QHBoxLayout()
        self.input = QLineEdit()
        self.input.setPlaceholderText("Message the flow…")
        self.input.returnPressed.connect(self._send)
        row.addWidget(self.input, 1)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self._send)
        row.addWidget(self.send_button)
        layout.addLayout(row)

    def start(self, conversation: Conversation) -> None:
        """Show a new, empty conversation."""
        for bubble in self.bubbles:
            row = bubble.parentWidget()  # the row that places it left or right
            if row is not None:
                row.deleteLater()
        self.lines, self.bubbles = [], []
        self.heading.setText(
            f"Conversation <b>{conversation.id[:8]}</b> as {conversation.user_name}"
        )

    def add(self, line: Line) -> Bubble:
        self.lines.append(line)
        bubble = Bubble(line)
        bubble.clicked.connect(self.sent.emit)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        if line.who != "bot":
            row_layout.addStretch(1)
        row_layout.addWidget(bubble, 0 if line.who == "note" else 5)
        if line.who != "user":
            row_layout.addStretch(1)
        self.column.insertWidget(self.column.count() - 1, row)
        self.bubbles.append(bubble)
        return bubble

    def _send(self) -> None:
        text = self.input.text().strip()
        if text:
            self.input.clear()
            self.sent.emit(text)
