"""The problems panel: validation issues of the open flow; activating one shows its node."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

from engine.flow import Issue


class ProblemsPanel(QTreeWidget):
    node_activated = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setHeaderLabels(["", "Where", "Problem", "Code"])
        self.setRootIsDecorated(False)
        self.setColumnWidth(0, 70)
        self.setColumnWidth(1, 180)
        self.setColumnWidth(2, 520)
        self.itemActivated.connect(self._activated)

    def show_issues(self, issues: list[Issue]) -> None:
        self.clear()
        for issue in issues:
            item = QTreeWidgetItem([issue.severity, issue.where, issue.message, issue.code])
            item.setData(0, Qt.ItemDataRole.UserRole, issue.node_id)
            self.addTopLevelItem(item)

    def _activated(self, item: QTreeWidgetItem) -> None:
        node_id = item.data(0, Qt.ItemDataRole.UserRole)
        if node_id:
            self.node_activated.emit(node_id)
