"""Small pieces the manager's tabs share: a list with columns, times, and the tab protocol."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from studio.workspaces.tasks import StatusLine, Tasks, Work

T = TypeVar("T")

KEY_ROLE = Qt.ItemDataRole.UserRole


def when(timestamp: float | None, never: str = "") -> str:
    """A Unix time as local date and time, to the second."""
    if timestamp is None:
        return never
    return datetime.datetime.fromtimestamp(float(timestamp)).strftime("%Y-%m-%d %H:%M:%S")


def table(*headers: str) -> QTreeWidget:
    """A flat list with columns, sortable rows of equal height; once rows arrive, its columns
    take their contents' width (dates were cut), the user's resizing free afterwards."""
    tree = QTreeWidget()
    tree.setHeaderLabels(list(headers))
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.model().rowsInserted.connect(lambda *_: _fit_soon(tree))
    return tree


def _fit_soon(tree: QTreeWidget) -> None:
    """Fit the columns once the rows being added are all in (the next turn of the loop)."""
    if not tree.property("fitting"):
        tree.setProperty("fitting", True)
        QTimer.singleShot(0, tree, lambda: _fit(tree))


def _fit(tree: QTreeWidget) -> None:
    tree.setProperty("fitting", False)
    for column in range(tree.columnCount() - 1):  # the last one stretches
        tree.resizeColumnToContents(column)


def row(texts: list[str], key: Any = None) -> QTreeWidgetItem:
    item = QTreeWidgetItem(texts)
    item.setData(0, KEY_ROLE, key)
    return item


def selected_key(tree: QTreeWidget) -> Any:
    """The key of the current row, or None."""
    item = tree.currentItem()
    return item.data(0, KEY_ROLE) if item is not None else None


class WorkspaceTab(QWidget):
    """A tab of the manager: it shows one workspace (None: none chosen) and reloads on demand."""

    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__()
        self.tasks = tasks
        self.status = status
        self.workspace: str | None = None
        self._asked = 0  # loads asked for: only the latest one's answer is shown

    def set_workspace(self, slug: str | None) -> None:
        self.workspace = slug
        self._asked += 1  # what is on its way is about the workspace shown before
        self.refresh()

    def refresh(self) -> None:
        """Load what the tab shows for the current workspace."""

    def load(self, work: Work[T], show: Callable[[T], None]) -> None:
        """Fetch what the tab shows in the background and show it, unless another load was asked
        for meanwhile: an older answer arriving late (for another workspace, other filters, or
        before an edit) must not replace a newer one."""
        self._asked += 1
        asked = self._asked

        def answered(value: T) -> None:
            if asked == self._asked:
                show(value)

        self.tasks.run(work, answered)
