"""The palette: the 19 node types by category, searchable, dragged onto the canvas."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QDrag, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.nodes import NODE_SPECS, Category, NodeSpec
from studio.canvas import style
from studio.canvas.view import NODE_MIME
from studio.trees import children, top_level

TYPE_ROLE = Qt.ItemDataRole.UserRole
ICON_SIZE = 20


def node_icon(spec: NodeSpec) -> QIcon:
    """The canvas's header mark: the category's colour with the type's initial."""
    size = ICON_SIZE * 2
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(style.CATEGORY_COLORS.get(spec.category, style.UNKNOWN_COLOR))
    painter.drawEllipse(QRectF(1, 1, size - 2, size - 2))
    font = QFont()
    font.setPixelSize(size // 2)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, spec.title[:1].upper())
    painter.end()
    return QIcon(pixmap)


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
        self.tree.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
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
                    child.setIcon(0, node_icon(spec))
                    child.setToolTip(0, spec.description)
                    child.setStatusTip(0, spec.description)
                    group.addChild(child)
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)

    def filter(self, text: str) -> None:
        needle = text.strip().lower()
        for group in top_level(self.tree):
            visible = 0
            for child in children(group):
                spec = NODE_SPECS[child.data(0, TYPE_ROLE)]
                match = (
                    not needle or needle in f"{spec.title} {spec.type} {spec.description}".lower()
                )
                child.setHidden(not match)
                visible += match
            group.setHidden(visible == 0)
