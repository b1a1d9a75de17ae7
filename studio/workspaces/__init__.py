"""The workspace manager (servers, secrets, tokens, editor entries, usage, call log), opened from
Gateway ▸ Workspaces… or the status bar. It talks to the runtime only through the API client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu, QToolButton

from studio.workspaces.manager import WorkspaceManager

if TYPE_CHECKING:
    from studio.window import MainWindow

__all__ = ["WorkspaceManager", "WorkspacesEntry"]


class WorkspacesEntry(QObject):
    """The menu entry and status-bar button of a main window; the manager is made on first use
    and shares the window's runtime connection."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.manager: WorkspaceManager | None = None
        bar = window.menuBar()
        help_menu = next((a for a in bar.actions() if a.text() == "&Help"), None)
        menu = QMenu("&Gateway", bar)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)
        else:
            bar.addMenu(menu)
        self.action = menu.addAction("&Workspaces…")
        self.action.setShortcut(QKeySequence("Ctrl+Shift+W"))
        self.action.triggered.connect(self.open)
        self.button = QToolButton()
        self.button.setText("Workspaces")
        self.button.setAutoRaise(True)
        self.button.setToolTip("Servers, secrets, tokens and usage of your workspaces")
        self.button.clicked.connect(self.open)
        window.statusBar().addPermanentWidget(self.button)

    def open(self) -> WorkspaceManager:
        if self.manager is None:
            self.manager = WorkspaceManager(self.window.runs.connection, self.window)
        self.manager.show()
        self.manager.raise_()
        self.manager.activateWindow()
        return self.manager

    def shutdown(self) -> None:
        if self.manager is not None:
            self.manager.shutdown()
            self.manager.close()
