"""The keyboard shortcuts overlay (F1): every shortcut of the window's actions, by menu."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
)
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QVBoxLayout, QWidget

_SHADE = QColor(0, 0, 0, 170)
CANVAS_KEYS = [
    ("Add a node at the mouse (quick add; type to filter, Enter adds)", "Tab"),
    ("Add a node wired to a port: drag a wire to empty canvas", "Drag"),
]
"""Keys the canvas handles itself (no menu action carries them)."""
_CARD_STYLE = (
    "QLabel { background: rgba(32, 33, 36, 235); color: #f0f0f0; border-radius: 10px;"
    " padding: 18px 26px; }"
)


def shortcut_text(action: QAction) -> str:
    return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)


def action_text(action: QAction) -> str:
    return action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")


def shortcuts(window: QMainWindow) -> list[tuple[str, list[tuple[str, str]]]]:
    """(menu title, [(action text, shortcut)]) for each menu with shortcuts, in menu order;
    actions outside the menus come last, under "Other"."""
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    seen: set[QAction] = set()

    def collect(menu: QMenu, entries: list[tuple[str, str]]) -> None:
        for action in menu.actions():
            submenu = action.menu()
            if isinstance(submenu, QMenu):
                collect(submenu, entries)
            elif not action.shortcut().isEmpty() and action not in seen:
                seen.add(action)
                entries.append((action_text(action), shortcut_text(action)))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            entries: list[tuple[str, str]] = []
            collect(menu, entries)
            if entries:
                groups.append((action_text(top), entries))
    other = [
        (action_text(a), shortcut_text(a))
        for a in window.findChildren(QAction)
        if a not in seen and not a.shortcut().isEmpty() and a.text()
    ]
    if other:
        groups.append(("Other", other))
    groups.append(("Canvas", list(CANVAS_KEYS)))
    return groups


class ShortcutOverlay(QWidget):
    """A shade over the whole window with the shortcuts on a card; Esc or a click closes it."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.main_window = window
        self.card = QLabel(self)
        self.card.setTextFormat(Qt.TextFormat.RichText)
        self.card.setStyleSheet(_CARD_STYLE)
        layout = QVBoxLayout(self)
        layout.addWidget(self.card, 0, Qt.AlignmentFlag.AlignCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        window.installEventFilter(self)
        self.hide()

    def entries(self) -> list[tuple[str, str]]:
        """Every (action, shortcut) shown, across menus."""
        return [entry for _, group in shortcuts(self.main_window) for entry in group]

    def open(self) -> None:
        self.card.setText(_html(shortcuts(self.main_window)))
        self.setGeometry(self.main_window.rect())
        self.raise_()
        self.show()
        self.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.main_window and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.main_window.rect())
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        QPainter(self).fillRect(self.rect(), _SHADE)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide()


def _html(groups: list[tuple[str, list[tuple[str, str]]]]) -> str:
    rows = []
    for title, entries in groups:
        rows.append(
            f"<tr><td colspan='2' style='padding-top:10px; color:#8fb8f0'>"
            f"<b>{escape(title)}</b></td></tr>"
        )
        rows.extend(
            f"<tr><td style='padding-right:36px'>{escape(text)}</td>"
            f"<td><b>{escape(keys)}</b></td></tr>"
            for text, keys in entries
        )
    return (
        "<h3 style='margin:0'>Keyboard shortcuts</h3><table>"
        + "".join(rows)
        + "</table><p style='color:#a0a0a0'>Esc or click to close</p>"
    )
