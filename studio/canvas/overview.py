"""A zoomed-out scene drawn in a few batched calls per frame: every wire, every card, and the
cards' titles while a card is wide enough on screen to hold a readable one.

Whether titles show depends on the size they would have on screen, not on a fixed zoom: a flow
fitted to the window (a dozen nodes at 40%) keeps its titles; a thousand nodes fitted do not,
and cost no text at all.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from studio.canvas import style
from studio.canvas.items import EdgeItem, NodeItem

TITLE_PX = 11.0
"""A title's height on screen, in pixels, whatever the zoom."""
MIN_CARD_PX = 72.0
"""The least on-screen width of a card that gets its title: a few words fit."""
_PAD = 6.0
_DARK_TEXT = QColor("#161616")
_LIGHT_TEXT = QColor("#ffffff")


def titles_readable(scale: float) -> bool:
    """Whether a card drawn at `scale` (screen pixels per scene unit) gets its title."""
    return style.NODE_WIDTH * scale >= MIN_CARD_PX


def two_lines(metrics: QFontMetricsF, title: str, width: float) -> str:
    """`title` in at most two lines of `width`: whole words on the first, the rest elided."""
    words = title.split()
    first: list[str] = []
    while words and metrics.horizontalAdvance(" ".join([*first, words[0]])) <= width:
        first.append(words.pop(0))
    if not first:  # one long word: elided on one line
        return metrics.elidedText(title, Qt.TextElideMode.ElideRight, width)
    rest = metrics.elidedText(" ".join(words), Qt.TextElideMode.ElideRight, width)
    return "\n".join([" ".join(first), rest] if rest else [" ".join(first)])


class Overview:
    """Every card and wire of a zoomed-out scene, drawn in a few batched calls per frame.

    Built from the items when first painted; the scene drops it when nodes move or are rebuilt.
    """

    def __init__(self, nodes: list[NodeItem], edges: list[EdgeItem]) -> None:
        self.cards: dict[int, tuple[QColor, list[QRectF]]] = {}
        self.titles: list[tuple[QRectF, str, QColor]] = []
        for node in nodes:
            rgb = node.color.rgb()
            rect = node._body.translated(*node._anchor)
            self.cards.setdefault(rgb, (node.color, []))[1].append(rect)
            text = _DARK_TEXT if node.color.lightnessF() > 0.62 else _LIGHT_TEXT
            self.titles.append((rect, node.node.title, text))
        self.wires = [e.line for e in edges if e.handle != "error"]
        self.error_wires = [e.line for e in edges if e.handle == "error"]
        self._elided: tuple[float, list[str]] | None = None

    def paint(
        self,
        painter: QPainter,
        colors: style.CanvasColors,
        selected: list[QGraphicsItem],
        exposed: QRectF | None = None,
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for color, lines in ((colors.wire, self.wires), (style.ERROR_COLOR, self.error_wires)):
            painter.setPen(QPen(color, 0))
            painter.drawLines(lines)
        painter.setPen(Qt.PenStyle.NoPen)
        for color, rects in self.cards.values():
            painter.setBrush(color)
            painter.drawRects(rects)
        scale = painter.worldTransform().m11()
        if titles_readable(scale):
            self._paint_titles(painter, scale, exposed)
        painter.setPen(QPen(colors.selected, 0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for item in selected:
            if isinstance(item, NodeItem):
                painter.drawRect(item.body.translated(item.pos()))
            elif isinstance(item, EdgeItem):
                painter.drawLine(item.line)
        painter.restore()

    def _paint_titles(self, painter: QPainter, scale: float, exposed: QRectF | None) -> None:
        """Each card's title at TITLE_PX on screen, elided to its card (once per zoom)."""
        size = round(TITLE_PX / scale, 1)
        font = QFont()
        font.setPixelSize(max(1, round(size)))
        if self._elided is None or self._elided[0] != size:
            metrics = QFontMetricsF(font)
            self._elided = (
                size,
                [
                    two_lines(metrics, title, rect.width() - 2 * _PAD)
                    for rect, title, _ in self.titles
                ],
            )
        painter.setFont(font)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for (rect, _, color), text in zip(self.titles, self._elided[1], strict=True):
            if exposed is None or exposed.intersects(rect):
                painter.setPen(color)
                painter.drawText(rect.adjusted(_PAD, 0, -_PAD, 0), flags, text)
