"""Quick-add: a small search popup over the canvas to add a node where the user is working.

It is a child widget, not a dialog: it never blocks (no `exec()`), and closes on Escape, on a
choice, or when the canvas is clicked.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from engine.nodes import NodeSpec

TYPE_ROLE = Qt.ItemDataRole.UserRole


def fuzzy_score(needle: str, text: str) -> int | None:
    """How well `needle`'s letters appear in order in `text` (lower is better), None if not.

    Gaps between matched letters cost, and so does a late first match: "llm" ranks "LLM call"
    first, and "hrev" still finds "Human review".
    """
    text = text.lower()
    score, position, previous = 0, 0, -1
    for letter in needle.lower():
        if letter.isspace():
            continue
        found = text.find(letter, position)
        if found < 0:
            return None
        score += found if previous < 0 else found - previous - 1
        previous, position = found, found + 1
    return score


class QuickAdd(QFrame):
    """The popup: a search field over a list of node types; `chosen` gives the picked type."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.search = QLineEdit(placeholderText="Add node…")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(240, 300)
        self._specs: list[NodeSpec] = []
        self.search.textChanged.connect(self.filter)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(self._activate)
        self.hide()

    def popup(self, at: QPoint, specs: list[NodeSpec]) -> None:
        """Show at `at` (parent coordinates, kept inside the parent) offering `specs`."""
        self._specs = specs
        self.search.clear()
        self.filter("")
        # As wide as the longest type name (with the scroll bar): none is cut.
        width = self.list.sizeHintForColumn(0) + self.list.verticalScrollBar().sizeHint().width()
        self.resize(max(240, width + 24), self.height())
        parent = self.parentWidget()
        room = parent.size() if parent is not None else self.size()
        x = max(0, min(at.x(), room.width() - self.width()))
        y = max(0, min(at.y(), room.height() - self.height()))
        self.move(x, y)
        self.show()
        self.raise_()
        self.search.setFocus()

    def filter(self, text: str) -> None:
        ranked: list[tuple[int, str, NodeSpec]] = []
        for spec in self._specs:
            score = fuzzy_score(text, f"{spec.title} {spec.type}")
            if score is not None:
                ranked.append((score, spec.title, spec))
        self.list.clear()
        for _, _, spec in sorted(ranked, key=lambda r: (r[0], r[1])):
            item = QListWidgetItem(f"{spec.title}  ·  {spec.type}")
            item.setData(TYPE_ROLE, spec.type)
            item.setToolTip(spec.description)
            self.list.addItem(item)
        self.list.setCurrentRow(0)

    def visible_types(self) -> list[str]:
        return [self.list.item(i).data(TYPE_ROLE) for i in range(self.list.count())]

    def choose_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._activate(item)

    def _activate(self, item: QListWidgetItem) -> None:
        self.hide()
        self.chosen.emit(item.data(TYPE_ROLE))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Arrows move in the list and Enter picks while typing stays in the search field."""
        if watched is self.search and isinstance(event, QKeyEvent):
            if event.type() != QEvent.Type.KeyPress:
                return False
            key = event.key()
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                step = -1 if key == Qt.Key.Key_Up else 1
                row = max(0, min(self.list.count() - 1, self.list.currentRow() + step))
                self.list.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.choose_current()
                return True
            if key == Qt.Key.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(watched, event)
