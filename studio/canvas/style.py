"""Colours and sizes of canvas items."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QImage, QPainter

from engine.nodes import Category

NODE_WIDTH = 200.0
HEADER_HEIGHT = 46.0
HANDLE_ROW = 20.0
PORT_RADIUS = 5.0

CATEGORY_COLORS: dict[Category, QColor] = {
    Category.TRIGGER: QColor("#e8a33d"),
    Category.AI: QColor("#8e6bd8"),
    Category.FLOW: QColor("#3d8ee8"),
    Category.TOOLS: QColor("#2fa87a"),
    Category.PEOPLE: QColor("#d8577a"),
    Category.MESSAGING: QColor("#3db4c8"),
}
UNKNOWN_COLOR = QColor("#888888")
ERROR_COLOR = QColor("#d64545")
WARNING_COLOR = QColor("#e0a030")

LOW_DETAIL = 0.45
"""Below this zoom, nodes are drawn as plain coloured cards: text would be unreadable anyway."""


GRID_SIZE = 32
"""Spacing of the canvas grid, in scene units."""


def canvas_brush(background: QColor, grid: QColor) -> QBrush:
    """The canvas background: `background` with grid lines, tiled in scene coordinates."""
    tile = QImage(GRID_SIZE, GRID_SIZE, QImage.Format.Format_RGB32)
    tile.fill(background)
    painter = QPainter(tile)
    painter.setPen(grid)
    painter.drawLine(0, 0, GRID_SIZE - 1, 0)
    painter.drawLine(0, 0, 0, GRID_SIZE - 1)
    painter.end()
    return QBrush(tile)


def node_height(handle_count: int) -> float:
    return HEADER_HEIGHT + max(1, handle_count) * HANDLE_ROW + 6
