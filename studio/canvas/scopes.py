"""Loop and parallel scopes, drawn as tinted rounded regions behind their member nodes.

A scope (NODES.md §3) is every node reachable from a loop's `body` or a parallel branch; showing
it makes clear which nodes run per item or per branch, and where an edge may not cross.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsSimpleTextItem

from studio.canvas.items import NodeItem

_MARGIN = 18.0
_TITLE_SPACE = 18.0
_TINTS = {"loop": QColor(61, 142, 232, 38), "parallel": QColor(47, 168, 122, 38)}
_FONT = QFont()
_FONT.setPointSizeF(8)


class ScopeItem(QGraphicsPathItem):
    """The region of one scope (`owner:handle`); it follows its members when they move.

    Drawn by Qt itself (a path item with a text child), so hundreds of scopes cost no Python
    per frame.
    """

    def __init__(self, key: str, owner: NodeItem, members: list[NodeItem]) -> None:
        super().__init__()
        self.key = key
        self.members = members
        tint = _TINTS.get(owner.node.type, QColor(128, 128, 128, 38))
        self.setBrush(QBrush(tint))
        self.setPen(QPen(QColor(tint.red(), tint.green(), tint.blue(), 140), 1.2))
        self._title = QGraphicsSimpleTextItem(f"{owner.node.id} · {key.split(':', 1)[1]}", self)
        self._title.setFont(_FONT)
        self._title.setBrush(QColor(tint.red(), tint.green(), tint.blue(), 220))
        self.rect = QRectF()
        self.setZValue(-2)
        for member in members:
            member.scopes.append(self)
        self.update_rect()

    def update_rect(self) -> None:
        rect = QRectF()
        for member in self.members:
            rect = rect.united(member.sceneBoundingRect())
        rect = rect.adjusted(-_MARGIN, -_MARGIN - _TITLE_SPACE, _MARGIN, _MARGIN)
        if rect != self.rect:
            self.rect = rect
            path = QPainterPath()
            path.addRoundedRect(rect, 14, 14)
            self.setPath(path)
            self._title.setPos(rect.topLeft() + QPointF(12, 4))
