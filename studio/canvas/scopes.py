"""Loop and parallel scopes, drawn as tinted rounded regions behind their member nodes.

A scope (NODES.md §3) is every node reachable from a loop's `body` or a parallel branch; showing
it makes clear which nodes run per item or per branch, and where an edge may not cross.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsSimpleTextItem

from studio.canvas.items import NodeItem

_MARGIN = 18.0
_TITLE_SPACE = 18.0
_TINTS = {"loop": QColor(61, 142, 232, 38), "parallel": QColor(47, 168, 122, 38)}
_FONT = QFont()
_FONT.setPointSizeF(8)


@cache
def _look(owner_type: str) -> tuple[QBrush, QPen, QColor]:
    """Fill, outline and title colour of the scopes of one owner type, shared by all of them."""
    tint = _TINTS.get(owner_type, QColor(128, 128, 128, 38))
    rgb = tint.red(), tint.green(), tint.blue()
    return QBrush(tint), QPen(QColor(*rgb, 140), 1.2), QColor(*rgb, 220)


class ScopeItem(QGraphicsPathItem):
    """The region of one scope (`owner:handle`); it follows its members when they move.

    Drawn by Qt itself (a path item with a text child), so hundreds of scopes cost no Python
    per frame. The title is made when first shown: zoomed out it is hidden, and laying out
    hundreds of texts would slow down opening a big flow.
    """

    def __init__(
        self, key: str, owner: NodeItem, members: list[NodeItem], titled: bool = True
    ) -> None:
        super().__init__()
        self.key = key
        self.members = members
        brush, pen, self._title_color = _look(owner.node.type)
        self.setBrush(brush)
        self.setPen(pen)
        self._title_text = f"{owner.node.id} · {key.split(':', 1)[1]}"
        self._title: QGraphicsSimpleTextItem | None = None
        self.rect = QRectF()
        self.setZValue(-2)
        for member in members:
            member.scopes.append(self)
        self.update_rect()
        self.show_title(titled)

    def show_title(self, shown: bool) -> None:
        if self._title is None:
            if not shown:
                return
            self._title = QGraphicsSimpleTextItem(self._title_text, self)
            self._title.setFont(_FONT)
            self._title.setBrush(self._title_color)
            self._title.setPos(self.rect.topLeft() + QPointF(12, 4))
        self._title.setVisible(shown)

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
            if self._title is not None:
                self._title.setPos(rect.topLeft() + QPointF(12, 4))
