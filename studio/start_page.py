"""The start page, shown in the canvas's place at a start without a file: the bundled examples
(each runs offline), the recent flows, a new flow and Open. Cheap to build (the examples' names
and descriptions only), so the first paint does not wait for it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QGridLayout,
    QLabel,
    QPushButton,
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
        self.examples: dict[str, QCommandLinkButton] = {}
        examples = QVBoxLayout()
        for path, name, description in example_summaries():
            button = QCommandLinkButton(name, _first_sentence(description))
            button.setObjectName(f"example:{path.name}")
            button.setToolTip(description)
            button.clicked.connect(lambda _=False, p=path: self.chosen.emit(p))
            self.examples[path.name.removesuffix(".flow.json")] = button
            examples.addWidget(button)
        grid.addLayout(examples, 2, 0)
        side = QVBoxLayout()
        side.addWidget(self._heading("Start"))
        self.new_button = self._link(
            "New flow", lambda _=False: self.new_requested.emit(), "Ctrl+N"
        )
        self.open_button = self._link(
            "Open a flow file…", lambda _=False: self.open_requested.emit(), "Ctrl+O"
        )
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

    @staticmethod
    def _link(text: str, slot: Callable[..., None], hint: str = "") -> QPushButton:
        button = QPushButton(f"{text}   {hint}".rstrip())
        button.setFlat(True)
        button.setStyleSheet("text-align: left; padding: 4px 2px;")
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.clicked.connect(slot)
        return button

    def refresh(self) -> None:
        """List the recent flows that still exist (they change while the studio runs)."""
        while self.recent.count():
            widget = self.recent.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        files = [p for p in recent_files(self.settings) if p.is_file()][:RECENT_SHOWN]
        for path in files:
            button = self._link(path.name, lambda _=False, p=path: self.chosen.emit(p))
            button.setToolTip(str(path))
            button.setObjectName(f"recent:{path}")
            self.recent.addWidget(button)
        if not files:
            self.recent.addWidget(QLabel("No recent flows yet."))

    def recent_paths(self) -> list[Path]:
        """The recent flows listed now, in order."""
        names = (self.recent.itemAt(i).widget().objectName() for i in range(self.recent.count()))
        return [Path(name.removeprefix("recent:")) for name in names if name.startswith("recent:")]


def _first_sentence(text: str) -> str:
    """A description short enough for one or two lines."""
    head = text.split("; ")[0].split(". ")[0].rstrip(".")
    return head if len(head) <= 140 else head[:137].rstrip() + "…"
