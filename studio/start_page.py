"""The start page, shown in the canvas's place at a start without a file: the bundled examples
(each runs offline), the recent flows, a new flow and Open. Cheap to build (the examples' names
and descriptions only), so the first paint does not wait for it."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.paths import examples_dir
from studio.recent import recent_files

RECENT_SHOWN = 6


def example_summaries() -> list[tuple[Path, str, str]]:
    """(path, name, description) of each bundled example, by file name."""
    found = []
    for path in sorted(examples_dir().glob("*.flow.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        name = str(document.get("name") or path.name.removesuffix(".flow.json"))
        found.append((path, name, str(document.get("description") or "")))
    return found


class Card(QFrame):
    """A thing to open: a bold title and a wrapped line under it; a click (or Enter) opens it.
    (Not a button with a style sheet: that keeps its colours when the theme changes.)"""

    clicked = Signal()

    def __init__(self, name: str, description: str, tip: str = "") -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip(tip or description)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.title = QLabel(f"<b>{escape(name)}</b>")
        self.description = QLabel(description)
        self.description.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.description)

    def text(self) -> str:
        return self.title.text().removeprefix("<b>").removesuffix("</b>")

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.clicked.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
        else:
            super().keyPressEvent(event)


class StartPage(QScrollArea):
    """What a first start shows; `chosen` is a flow file to open."""

    chosen = Signal(Path)
    new_requested = Signal()
    open_requested = Signal()

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.settings = settings
        self.setObjectName("start-page")
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        column = QWidget()
        column.setMaximumWidth(980)
        outer.addWidget(column)
        grid = QGridLayout(column)
        grid.setHorizontalSpacing(40)
        welcome = QLabel(
            "<h1>Aerostudio</h1><p>Draw a flow, run it and step through it. Every example "
            "runs here, offline: a demo model and demo MCP servers answer, and mail stays in "
            "the local outbox. Paused runs ask in the Run panel.</p>"
        )
        welcome.setWordWrap(True)
        grid.addWidget(welcome, 0, 0, 1, 2)
        grid.addWidget(self._heading("Open an example"), 1, 0)
        self.examples: dict[str, Card] = {}
        examples = QVBoxLayout()
        for path, name, description in example_summaries():
            button = Card(name, _first_sentence(description), description)
            button.setObjectName(f"example:{path.name}")
            button.clicked.connect(lambda p=path: self.chosen.emit(p))
            self.examples[path.name.removesuffix(".flow.json")] = button
            examples.addWidget(button)
        examples.addStretch(1)
        grid.addLayout(examples, 2, 0)
        side = QVBoxLayout()
        side.addWidget(self._heading("Start"))
        self.new_button = Card("New flow", "An empty flow with a trigger (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        self.open_button = Card("Open a flow file…", "A *.flow.json from disk (Ctrl+O)")
        self.open_button.clicked.connect(self.open_requested)
        side.addWidget(self.new_button)
        side.addWidget(self.open_button)
        side.addSpacing(16)
        side.addWidget(self._heading("Recent"))
        self.recent = QVBoxLayout()
        side.addLayout(self.recent)
        side.addStretch(1)
        grid.addLayout(side, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        self.setWidget(page)
        self.refresh()

    @staticmethod
    def _heading(text: str) -> QLabel:
        return QLabel(f"<h3>{text}</h3>")

    def refresh(self) -> None:
        """List the recent flows that still exist (they change while the studio runs)."""
        while self.recent.count():
            item = self.recent.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        files = [p for p in recent_files(self.settings) if p.is_file()][:RECENT_SHOWN]
        self._listed = files
        for path in files:
            button = Card(path.name, str(path.parent), str(path))
            button.clicked.connect(lambda p=path: self.chosen.emit(p))
            button.setObjectName(f"recent:{path}")
            self.recent.addWidget(button)
        if not files:
            self.recent.addWidget(QLabel("No recent flows yet."))

    def recent_paths(self) -> list[Path]:
        """The recent flows listed now, in order."""
        return list(self._listed)


def _first_sentence(text: str) -> str:
    """A description short enough for one or two lines."""
    head = text.split("; ")[0].split(". ")[0].rstrip(".")
    return head if len(head) <= 220 else head[:217].rstrip() + "…"
