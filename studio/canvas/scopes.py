"""Loop and parallel scopes, drawn as tinted rounded regions behind their member nodes.

A scope (docs/flows.md §3) is every node reachable from a loop's `body` or a parallel branch;
showing it makes clear which nodes run per item or per branch, and where an edge may not cross.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from studio.canvas.items import NodeItem

_MARGIN = 18.0
_TITLE_SPACE = 18.0
_TITLE_AT = QPointF(12, 15)  # the baseline of a title, from the region's top-left corner
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

    The region is drawn by Qt itself (a path item), so hundreds of scopes cost no Python per
    frame; the titles of the scopes in view are drawn together by the scene (`paint_titles`),
    which is cheaper than a text item per scope when a big flow opens.
    """

    def __init__(self, key: str, owner: NodeItem, members: list[NodeItem]) -> None:
        super().__init__()
        self.key = key
        self.members = members
        brush, pen, self.title_color = _look(owner.node.type)
        self.setBrush(brush)
        self.setPen(pen)
        self.title = f"{owner.node.id} · {key.split(':', 1)[1]}"
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


def paint_titles(painter: QPainter, scopes: Iterable[ScopeItem], exposed: QRectF) -> None:
    """The titles of the scopes whose title band (their top margin) meets `exposed`."""
    painter.setFont(_FONT)
    for scope in scopes:
        top = scope.rect
        if exposed.intersects(QRectF(top.left(), top.top(), top.width(), _TITLE_SPACE + 4)):
            painter.setPen(scope.title_color)
            painter.drawText(top.topLeft() + _TITLE_AT, scope.title)
