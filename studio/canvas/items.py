"""Canvas items: nodes with their handles, bezier edges, sticky notes, and the zoomed-out overview.

Geometry, pens and texts are computed once per item (shared per node type and theme), not per
paint, so that thousands of nodes open and pan smoothly. Zoomed out, the scene stops painting
items one by one: `overview.Overview` draws every card and wire in a few batched calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from engine.flow import Issue, Node, Note
from engine.nodes import get_spec
from studio.canvas import style

if TYPE_CHECKING:
    from studio.canvas.scopes import ScopeItem

_TITLE_FONT = QFont()
_TITLE_FONT.setPointSizeF(10)
_TITLE_FONT.setBold(True)
_SMALL_FONT = QFont()
_SMALL_FONT.setPointSizeF(8)
_HANDLE_HIT_RADIUS = 9.0
_TEXT_LEFT = 44.0
_BADGE_SPACE = 20.0
_FIRST_HANDLE_Y = style.HEADER_HEIGHT + 0.5 * style.HANDLE_ROW
_LEFT_CENTER = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT_CENTER = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents
_SELECTABLE = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
_MOVABLE = QGraphicsItem.GraphicsItemFlag.ItemIsMovable | _SELECTABLE
# Combined once: or-ing flag enums is slow in Python, and every item of a big flow needs one.
_MOVABLE_UNDRAWN = _MOVABLE | _NO_CONTENTS
_SELECTABLE_UNDRAWN = _SELECTABLE | _NO_CONTENTS
_CACHED = QGraphicsItem.CacheMode.DeviceCoordinateCache
_NOT_CACHED = QGraphicsItem.CacheMode.NoCache
_HEADER = QPainterPath()
_HEADER.addRoundedRect(QRectF(0, 0, style.NODE_WIDTH, style.HEADER_HEIGHT), 8, 8)


_FONTS = {"title": _TITLE_FONT, "small": _SMALL_FONT}
_Pens = tuple[QPen, QBrush, QBrush, QPen]
_PENS: dict[tuple[str, int], _Pens] = {}


@cache
def _metrics(font: str) -> QFontMetricsF:
    """Font metrics made once per font (they need the application, so not at import)."""
    return QFontMetricsF(_FONTS[font])


def _pens(colors: style.CanvasColors, category: QColor) -> _Pens:
    """Border pen, body and header brushes, selection pen: shared by the cards of a category."""
    key = (colors.name, category.rgba())
    pens = _PENS.get(key)
    if pens is None:
        border = QPen(category.darker(colors.border_factor), 1.2)
        header = QBrush(colors.header(category))
        pens = _PENS[key] = (border, QBrush(colors.body), header, QPen(colors.selected, 2.5))
    return pens


@dataclass(frozen=True)
class _Card:
    """The geometry of every card with the same output handles (never mutated: it is shared)."""

    height: float
    body: QRectF
    bounds: QRectF
    """The body with room for the ports: the item's rect."""
    handle_y: dict[str, float]


@cache
def _card(handles: tuple[str, ...]) -> _Card:
    height = style.node_height(len(handles))
    body = QRectF(0, 0, style.NODE_WIDTH, height)
    pad = style.PORT_RADIUS + 2
    handle_y = {
        handle: style.HEADER_HEIGHT + (index + 0.5) * style.HANDLE_ROW
        for index, handle in enumerate(handles)
    }
    return _Card(height, body, body.adjusted(-pad, -pad, pad, pad), handle_y)


def elide(text: str, font: str, width: float) -> str:
    """`text` cut with "…" so that, drawn in `font` ("title" or "small"), it fits `width`."""
    return _metrics(font).elidedText(text, Qt.TextElideMode.ElideRight, width)


class NodeItem(QGraphicsRectItem):
    """A node: coloured header with icon letter, label and type; output handles on the right.

    A rect item so that Qt answers the many bounding-rect queries of a frame without Python.
    """

    def __init__(
        self,
        node: Node,
        issues: list[Issue],
        low_detail: bool = False,
        colors: style.CanvasColors = style.DARK_COLORS,
    ) -> None:
        spec = get_spec(node.type)
        handles = spec.output_handles(node.config) if spec else []
        card = _card(tuple(handles))
        super().__init__(card.bounds)
        self.node = node
        self.handles = handles
        self.has_input = spec.has_input if spec else True
        self.color = (
            style.CATEGORY_COLORS.get(spec.category, style.UNKNOWN_COLOR)
            if spec
            else style.UNKNOWN_COLOR
        )
        self.type_title = spec.title if spec else f"unknown: {node.type}"
        self.issues = issues
        self.edges: list[EdgeItem] = []
        self.scopes: list[ScopeItem] = []
        self.height = card.height
        self.colors = colors
        self._body = card.body
        self._handle_y = card.handle_y
        self._texts: tuple[str, str] | None = None
        # Where the node's wires meet it: its position when it last followed a move.
        self._anchor: tuple[float, float] = node.position
        self.setPos(*node.position)
        # Opened zoomed out, items start as the overview wants them: no contents, no cache.
        self.setFlags(_MOVABLE_UNDRAWN if low_detail else _MOVABLE)
        if not low_detail:
            self.set_cached(True)
        self.setZValue(1)

    @property
    def body(self) -> QRectF:
        """The card, in item coordinates (the bounding rect adds room for the ports)."""
        return QRectF(self._body)

    def set_cached(self, cached: bool) -> None:
        """Cache the detailed drawing as a pixmap: panning then only blits it."""
        self.setCacheMode(_CACHED if cached else _NOT_CACHED)

    def set_drawn(self, drawn: bool) -> None:
        """Whether the item paints itself (zoomed out, the scene's `Overview` draws it)."""
        self.setFlag(_NO_CONTENTS, not drawn)

    def set_colors(self, colors: style.CanvasColors) -> None:
        self.colors = colors
        self.update()

    def texts(self) -> tuple[str, str]:
        """The label and the "type · id" line as painted: elided with "…" to fit the card."""
        if self._texts is None:
            width = style.NODE_WIDTH - _TEXT_LEFT - 8
            label_width = width - (_BADGE_SPACE if self.issues else 0)
            self._texts = (
                elide(self.node.title, "title", label_width),
                elide(f"{self.type_title} · {self.node.id}", "small", width),
            )
        return self._texts

    def tooltip_text(self) -> str:
        """The full label and type, then the node's issues: what elision may have hidden."""
        lines = [self.node.title, f"{self.type_title} · {self.node.id}"]
        lines += [f"{i.severity}: {i.message}" for i in self.issues]
        return "\n".join(lines)

    def input_port(self) -> QPointF:
        return QPointF(*self.input_xy())

    def handle_port(self, handle: str) -> QPointF:
        return QPointF(*self.handle_xy(handle))

    def input_xy(self) -> tuple[float, float]:
        """The input port in scene units, as plain numbers (wires are made of thousands)."""
        x, y = self._anchor
        return x, y + style.HEADER_HEIGHT / 2

    def handle_xy(self, handle: str) -> tuple[float, float]:
        """An output handle's port in scene units, as plain numbers."""
        x, y = self._anchor
        return x + style.NODE_WIDTH, y + self._handle_y.get(handle, _FIRST_HANDLE_Y)

    def handle_at(self, scene_pos: QPointF) -> str | None:
        """The output handle whose port is under `scene_pos`, if any (where wires start)."""
        pos = self.mapFromScene(scene_pos)
        if abs(pos.x() - style.NODE_WIDTH) > _HANDLE_HIT_RADIUS:
            return None
        for handle, y in self._handle_y.items():
            if abs(pos.y() - y) <= _HANDLE_HIT_RADIUS:
                return handle
        return None

    def follow(self) -> bool:
        """After a drag, bring the node's wires and scope regions along; whether it moved."""
        pos = self.pos()
        anchor = (pos.x(), pos.y())
        if anchor == self._anchor:
            return False
        self._anchor = anchor
        for edge in self.edges:
            edge.update_path()
        for scope in self.scopes:
            scope.update_rect()
        return True

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseMoveEvent(event)
        scene = self.scene()
        for item in scene.selectedItems() if scene else [self]:
            if isinstance(item, NodeItem):
                item.follow()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        selected = self.isSelected()
        border, body, header, selected_pen = _pens(self.colors, self.color)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < style.LOW_DETAIL:
            painter.fillRect(self._body, self.color)
            if selected:
                painter.setPen(selected_pen)
                painter.drawRect(self._body)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(selected_pen if selected else border)
        painter.setBrush(body)
        painter.drawRoundedRect(self._body, 8, 8)
        painter.fillPath(_HEADER, header)
        self._paint_header(painter)
        self._paint_handles(painter)
        self._paint_badge(painter)

    def _paint_header(self, painter: QPainter) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color)
        icon = QRectF(8, 9, 28, 28)
        painter.drawEllipse(icon)
        painter.setPen(Qt.GlobalColor.white)
        painter.setFont(_TITLE_FONT)
        painter.drawText(icon, Qt.AlignmentFlag.AlignCenter, self.type_title[:1].upper())
        label, subtitle = self.texts()
        width = style.NODE_WIDTH - _TEXT_LEFT - 8
        painter.setPen(self.colors.text)
        painter.drawText(QRectF(_TEXT_LEFT, 6, width, 20), _LEFT_CENTER, label)
        painter.setFont(_SMALL_FONT)
        painter.setPen(self.colors.dim_text)
        painter.drawText(QRectF(_TEXT_LEFT, 25, width, 16), _LEFT_CENTER, subtitle)

    def _paint_handles(self, painter: QPainter) -> None:
        painter.setFont(_SMALL_FONT)
        radius = style.PORT_RADIUS
        port_pen = QPen(self.colors.port_outline, 1)
        if self.has_input:
            painter.setPen(port_pen)
            painter.setBrush(self.colors.input_port)
            painter.drawEllipse(QPointF(0, style.HEADER_HEIGHT / 2), radius, radius)
        for handle, y in self._handle_y.items():
            painter.setPen(self.colors.dim_text)
            painter.drawText(QRectF(10, y - 9, style.NODE_WIDTH - 24, 18), _RIGHT_CENTER, handle)
            painter.setPen(port_pen)
            painter.setBrush(style.ERROR_COLOR if handle == "error" else self.color)
            painter.drawEllipse(QPointF(style.NODE_WIDTH, y), radius, radius)

    def _paint_badge(self, painter: QPainter) -> None:
        if not self.issues:
            return
        is_error = any(i.severity == "error" for i in self.issues)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(style.ERROR_COLOR if is_error else style.WARNING_COLOR)
        painter.drawEllipse(QPointF(style.NODE_WIDTH - 10, 10), 7, 7)
        painter.setPen(Qt.GlobalColor.white)
        painter.setFont(_SMALL_FONT)
        painter.drawText(
            QRectF(style.NODE_WIDTH - 17, 3, 14, 14), Qt.AlignmentFlag.AlignCenter, "!"
        )


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """The bezier of an edge (or of a wire being dragged) from a handle to an input."""
    return _bezier(start.x(), start.y(), end.x(), end.y())


def _bezier(x1: float, y1: float, x2: float, y2: float) -> QPainterPath:
    bend = max(60.0, abs(x2 - x1) / 2)
    path = QPainterPath(QPointF(x1, y1))
    path.cubicTo(x1 + bend, y1, x2 - bend, y2, x2, y2)
    return path


_STROKER = QPainterPathStroker()
_STROKER.setWidth(10)
# Flattened within a unit, not a quarter: a band to click on needs no finer curve, and every
# wire's band is made when a flow opens (its bounding rect comes from it).
_STROKER.setCurveThreshold(1.0)


_WIRE_PENS: dict[tuple[str, bool, bool], QPen] = {}


def _wire_pen(colors: style.CanvasColors, error: bool, selected: bool) -> QPen:
    """The pen of a wire (shared by all wires alike): selected, from an error handle, or not."""
    key = (colors.name, error, selected)
    pen = _WIRE_PENS.get(key)
    if pen is None:
        color = style.ERROR_COLOR if error else colors.wire
        pen = _WIRE_PENS[key] = QPen(colors.selected, 3) if selected else QPen(color, 2)
    return pen


class EdgeItem(QGraphicsPathItem):
    """A bezier curve from a handle's port to the target's input port; selectable to delete.

    The scene swaps its pen when it is (de)selected, so no Python runs per item change.
    """

    def __init__(
        self,
        edge_id: str,
        source: NodeItem,
        handle: str,
        target: NodeItem,
        colors: style.CanvasColors = style.DARK_COLORS,
        drawn: bool = True,
    ) -> None:
        super().__init__()
        self.edge_id = edge_id
        self.source, self.handle, self.target = source, handle, target
        source.edges.append(self)
        target.edges.append(self)
        self.colors = colors
        self.setPen(_wire_pen(colors, handle == "error", False))
        self.setFlags(_SELECTABLE if drawn else _SELECTABLE_UNDRAWN)
        self._shape: QPainterPath | None = None
        self.update_path()

    def set_colors(self, colors: style.CanvasColors) -> None:
        self.colors = colors
        self.show_selected(self.isSelected())

    def show_selected(self, selected: bool) -> None:
        self.setPen(_wire_pen(self.colors, self.handle == "error", selected))

    def set_drawn(self, drawn: bool) -> None:
        """Whether the item paints itself (zoomed out, the scene's `Overview` draws it)."""
        self.setFlag(_NO_CONTENTS, not drawn)

    def update_path(self) -> None:
        self._shape = None
        x1, y1 = self.source.handle_xy(self.handle)
        x2, y2 = self.target.input_xy()
        self.line = QLineF(x1, y1, x2, y2)
        self.setPath(_bezier(x1, y1, x2, y2))

    def shape(self) -> QPainterPath:
        """A band around the curve (computed when first hit-tested), not the area it encloses."""
        if self._shape is None:
            self._shape = _STROKER.createStroke(self.path())
        return self._shape


class NoteItem(QGraphicsItem):
    """A sticky note: wrapped text on a yellow card of the note's size."""

    def __init__(self, note: Note) -> None:
        super().__init__()
        self.note = note
        self.setPos(QPointF(*note.position))
        self.setZValue(-1)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, *self.note.size)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        rect = self.boundingRect()
        painter.fillRect(rect, QColor("#f5e6a8"))
        painter.setPen(QColor("#3a3320"))
        painter.setFont(_SMALL_FONT)
        painter.drawText(rect.adjusted(8, 6, -8, -6), int(Qt.TextFlag.TextWordWrap), self.note.text)
