"""Canvas items: nodes with their handles, bezier edges, sticky notes.

Geometry, pens and texts are computed once per item, not per paint, so that thousands of nodes
open and pan smoothly; zoomed out, nodes are drawn as plain cards (level of detail).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
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
_BODY_BRUSH = QBrush(QColor("#2b2d31"))
_SELECTED_PEN = QPen(QColor("#f0f0f0"), 2.5)
_PORT_PEN = QPen(QColor("#1b1c1f"), 1)
_INPUT_BRUSH = QBrush(QColor("#d0d0d0"))
_TEXT_COLOR = QColor("#ffffff")
_DIM_TEXT_COLOR = QColor("#c8c8c8")
_HANDLE_TEXT_COLOR = QColor("#e0e0e0")
_HANDLE_HIT_RADIUS = 9.0
_LEFT_CENTER = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT_CENTER = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class NodeItem(QGraphicsRectItem):
    """A node: coloured header with icon letter, label and type; output handles on the right.

    A rect item so that Qt answers the many bounding-rect queries of a frame without Python.
    """

    def __init__(self, node: Node, issues: list[Issue], low_detail: bool = False) -> None:
        super().__init__()
        self.node = node
        spec = get_spec(node.type)
        self.handles = spec.output_handles(node.config) if spec else []
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
        self.height = style.node_height(len(self.handles))
        self._body = QRectF(0, 0, style.NODE_WIDTH, self.height)
        pad = style.PORT_RADIUS + 2
        self.setRect(self._body.adjusted(-pad, -pad, pad, pad))
        self.setPen(Qt.PenStyle.NoPen)
        self._pen = QPen(self.color.darker(130), 1.2)
        self._header = QPainterPath()
        self._header.addRoundedRect(QRectF(0, 0, style.NODE_WIDTH, style.HEADER_HEIGHT), 8, 8)
        self._header_brush = QBrush(self.color.darker(160))
        self._handle_rows = [
            (handle, style.HEADER_HEIGHT + (index + 0.5) * style.HANDLE_ROW)
            for index, handle in enumerate(self.handles)
        ]
        self._label: str | None = None
        self.setPos(QPointF(*node.position))
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.set_cached(not low_detail)
        self.setZValue(1)
        if issues:
            self.setToolTip("\n".join(f"{i.severity}: {i.message}" for i in issues))

    def set_cached(self, cached: bool) -> None:
        """Cache the detailed drawing as a pixmap: panning then only blits it."""
        mode = QGraphicsItem.CacheMode
        self.setCacheMode(mode.DeviceCoordinateCache if cached else mode.NoCache)

    def input_port(self) -> QPointF:
        return self.mapToScene(QPointF(0, style.HEADER_HEIGHT / 2))

    def handle_port(self, handle: str) -> QPointF:
        index = self.handles.index(handle) if handle in self.handles else 0
        y = style.HEADER_HEIGHT + (index + 0.5) * style.HANDLE_ROW
        return self.mapToScene(QPointF(style.NODE_WIDTH, y))

    def handle_at(self, scene_pos: QPointF) -> str | None:
        """The output handle whose port is under `scene_pos`, if any (where wires start)."""
        pos = self.mapFromScene(scene_pos)
        if abs(pos.x() - style.NODE_WIDTH) > _HANDLE_HIT_RADIUS:
            return None
        for handle, y in self._handle_rows:
            if abs(pos.y() - y) <= _HANDLE_HIT_RADIUS:
                return handle
        return None

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
            for scope in self.scopes:
                scope.update_rect()
        return super().itemChange(change, value)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        selected = self.isSelected()
        if option.levelOfDetailFromTransform(painter.worldTransform()) < style.LOW_DETAIL:
            painter.fillRect(self._body, self.color)
            if selected:
                painter.setPen(_SELECTED_PEN)
                painter.drawRect(self._body)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(_SELECTED_PEN if selected else self._pen)
        painter.setBrush(_BODY_BRUSH)
        painter.drawRoundedRect(self._body, 8, 8)
        painter.fillPath(self._header, self._header_brush)
        self._paint_header(painter)
        self._paint_handles(painter)
        self._paint_badge(painter)

    def _paint_header(self, painter: QPainter) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color)
        painter.drawEllipse(QRectF(8, 9, 28, 28))
        painter.setPen(_TEXT_COLOR)
        painter.setFont(_TITLE_FONT)
        painter.drawText(
            QRectF(8, 9, 28, 28), Qt.AlignmentFlag.AlignCenter, self.type_title[:1].upper()
        )
        if self._label is None:
            self._label = painter.fontMetrics().elidedText(
                self.node.title, Qt.TextElideMode.ElideRight, 150
            )
        painter.drawText(QRectF(44, 6, 150, 20), _LEFT_CENTER, self._label)
        painter.setFont(_SMALL_FONT)
        painter.setPen(_DIM_TEXT_COLOR)
        painter.drawText(
            QRectF(44, 25, 150, 16), _LEFT_CENTER, f"{self.type_title} · {self.node.id}"
        )

    def _paint_handles(self, painter: QPainter) -> None:
        painter.setFont(_SMALL_FONT)
        radius = style.PORT_RADIUS
        if self.has_input:
            painter.setPen(_PORT_PEN)
            painter.setBrush(_INPUT_BRUSH)
            painter.drawEllipse(QPointF(0, style.HEADER_HEIGHT / 2), radius, radius)
        for handle, y in self._handle_rows:
            painter.setPen(_HANDLE_TEXT_COLOR)
            painter.drawText(QRectF(10, y - 9, style.NODE_WIDTH - 24, 18), _RIGHT_CENTER, handle)
            painter.setPen(_PORT_PEN)
            painter.setBrush(style.ERROR_COLOR if handle == "error" else self.color)
            painter.drawEllipse(QPointF(style.NODE_WIDTH, y), radius, radius)

    def _paint_badge(self, painter: QPainter) -> None:
        if not self.issues:
            return
        is_error = any(i.severity == "error" for i in self.issues)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(style.ERROR_COLOR if is_error else style.WARNING_COLOR)
        painter.drawEllipse(QPointF(style.NODE_WIDTH - 10, 10), 7, 7)
        painter.setPen(_TEXT_COLOR)
        painter.setFont(_SMALL_FONT)
        painter.drawText(
            QRectF(style.NODE_WIDTH - 17, 3, 14, 14), Qt.AlignmentFlag.AlignCenter, "!"
        )


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """The bezier of an edge (or of a wire being dragged) from a handle to an input."""
    bend = max(60.0, abs(end.x() - start.x()) / 2)
    path = QPainterPath(start)
    path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
    return path


_STROKER = QPainterPathStroker()
_STROKER.setWidth(10)


class EdgeItem(QGraphicsPathItem):
    """A bezier curve from a handle's port to the target's input port; selectable to delete."""

    def __init__(self, edge_id: str, source: NodeItem, handle: str, target: NodeItem) -> None:
        super().__init__()
        self.edge_id = edge_id
        self.source, self.handle, self.target = source, handle, target
        source.edges.append(self)
        target.edges.append(self)
        color = style.ERROR_COLOR if handle == "error" else QColor("#9aa0a8")
        self._pen = QPen(color, 2)
        self._selected_pen = QPen(QColor("#f0f0f0"), 3)
        self.setPen(self._pen)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self._shape: QPainterPath | None = None
        self.update_path()

    def update_path(self) -> None:
        self._shape = None
        self.setPath(wire_path(self.source.handle_port(self.handle), self.target.input_port()))

    def shape(self) -> QPainterPath:
        """A band around the curve (computed when first hit-tested), not the area it encloses."""
        if self._shape is None:
            self._shape = _STROKER.createStroke(self.path())
        return self._shape

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setPen(self._selected_pen if value else self._pen)
        return super().itemChange(change, value)


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
