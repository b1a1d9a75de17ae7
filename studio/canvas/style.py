"""Colours and sizes of canvas items, and the card and wire colours of each canvas theme."""

from __future__ import annotations

from dataclasses import dataclass

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

LABEL_WIDTH = 150.0
"""Room for the label and the "type · id" line, right of the icon and left of the badge."""

LOW_DETAIL = 0.6
"""Below this zoom a card's 10-point title would be under 8 pixels on screen: the scene's
overview draws the cards instead, with their titles at a readable size while they fit."""

READABLE = 0.7
"""The zoom a flow too big to open whole opens at, at its start: every text of a card reads at
it; the rest is a pan (or the minimap, or View ▸ Fit) away."""

OPEN_WHOLE = 0.4
"""The least zoom a flow opens whole at: there the overview still draws each card's title at a
readable size (a dozen nodes side by side fit a laptop's canvas)."""


GRID_SIZE = 32
"""Spacing of the canvas grid, in scene units."""


@dataclass(frozen=True)
class CanvasColors:
    """What items draw with on one canvas background (cards, texts, ports and wires)."""

    name: str
    body: QColor
    border_factor: int
    """How much darker than its category colour a card's border is (`QColor.darker`)."""
    header_mix: float
    """How much of the category colour tints the header; the rest is `body`."""
    text: QColor
    dim_text: QColor
    selected: QColor
    port_outline: QColor
    input_port: QColor
    wire: QColor

    def header(self, category: QColor) -> QColor:
        """The header fill of a card of `category`: the colour blended into the card."""
        k = self.header_mix
        return QColor.fromRgbF(
            category.redF() * k + self.body.redF() * (1 - k),
            category.greenF() * k + self.body.greenF() * (1 - k),
            category.blueF() * k + self.body.blueF() * (1 - k),
        )


DARK_COLORS = CanvasColors(
    name="dark",
    body=QColor("#2b2d31"),
    border_factor=130,
    header_mix=0.62,
    text=QColor("#ffffff"),
    dim_text=QColor("#c8c8c8"),
    selected=QColor("#f0f0f0"),
    port_outline=QColor("#1b1c1f"),
    input_port=QColor("#d0d0d0"),
    wire=QColor("#9aa0a8"),
)
LIGHT_COLORS = CanvasColors(
    name="light",
    body=QColor("#ffffff"),
    border_factor=115,
    header_mix=0.22,
    text=QColor("#1d1f23"),
    dim_text=QColor("#555a63"),
    selected=QColor("#2f7bd6"),
    port_outline=QColor("#ffffff"),
    input_port=QColor("#6b717a"),
    wire=QColor("#6b717a"),
)


def canvas_colors(background: QColor) -> CanvasColors:
    """The colours readable on `background`: light cards on a light canvas, dark on a dark one."""
    return LIGHT_COLORS if background.lightness() >= 128 else DARK_COLORS


def background_color(brush: QBrush) -> QColor:
    """The canvas colour of a background brush, plain or a grid tile from `canvas_brush`."""
    tile = brush.textureImage()
    if tile.isNull():
        return brush.color()
    return tile.pixelColor(tile.width() // 2, tile.height() // 2)


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
