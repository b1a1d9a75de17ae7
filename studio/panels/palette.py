"""The palette: the 19 node types by category, searchable, dragged onto the canvas."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.nodes import NODE_SPECS, Category
from studio.canvas.view import NODE_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole


class PaletteTree(QTreeWidget):
    def startDrag(self, supported: Qt.DropAction) -> None:
        item = self.currentItem()
        node_type = item.data(0, TYPE_ROLE) if item else None
        if not node_type:
            return
        mime = QMimeData()
        mime.setData(NODE_MIME, node_type.encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)


class Palette(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.search = QLineEdit(placeholderText="Search nodes…")
        self.tree = PaletteTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        for category in Category:
            group = QTreeWidgetItem([category.value])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(group)
            for spec in NODE_SPECS.values():
                if spec.category == category:
                    child = QTreeWidgetItem([spec.title])
                    child.setData(0, TYPE_ROLE, spec.type)
                    child.setToolTip(0, spec.description)
                    child.setStatusTip(0, spec.description)
                    group.addChild(child)
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)

    def filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                child = group.child(j)
                spec = NODE_SPECS[child.data(0, TYPE_ROLE)]
                match = (
                    not needle or needle in f"{spec.title} {spec.type} {spec.description}".lower()
                )
                child.setHidden(not match)
                visible += match
            group.setHidden(visible == 0)
