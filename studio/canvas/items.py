"""Canvas items: nodes with their handles, bezier edges, sticky notes."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from engine.flow import Issue, Node, Note
from engine.nodes import get_spec
from studio.canvas import style

_TITLE_FONT = QFont()
_TITLE_FONT.setPointSizeF(10)
_TITLE_FONT.setBold(True)
_SMALL_FONT = QFont()
_SMALL_FONT.setPointSizeF(8)


class NodeItem(QGraphicsItem):
    """A node: coloured header with icon letter, label and type; output handles on the right."""

    def __init__(self, node: Node, issues: list[Issue]) -> None:
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
        self.setPos(QPointF(*node.position))
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)
        if issues:
            self.setToolTip("\n".join(f"{i.severity}: {i.message}" for i in issues))

    @property
    def height(self) -> float:
        return style.HEADER_HEIGHT + max(1, len(self.handles)) * style.HANDLE_ROW + 6

    def boundingRect(self) -> QRectF:
        pad = style.PORT_RADIUS + 2
        return QRectF(-pad, -pad, style.NODE_WIDTH + 2 * pad, self.height + 2 * pad)

    def input_port(self) -> QPointF:
        return self.mapToScene(QPointF(0, style.HEADER_HEIGHT / 2))

    def handle_port(self, handle: str) -> QPointF:
        index = self.handles.index(handle) if handle in self.handles else 0
        y = style.HEADER_HEIGHT + (index + 0.5) * style.HANDLE_ROW
        return self.mapToScene(QPointF(style.NODE_WIDTH, y))

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        body = QRectF(0, 0, style.NODE_WIDTH, self.height)
        selected = self.isSelected()
        painter.setPen(
            QPen(
                QColor("#f0f0f0") if selected else self.color.darker(130), 2.5 if selected else 1.2
            )
        )
        painter.setBrush(QColor("#2b2d31"))
        painter.drawRoundedRect(body, 8, 8)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, style.NODE_WIDTH, style.HEADER_HEIGHT), 8, 8)
        painter.fillPath(header, QBrush(self.color.darker(160)))
        self._paint_header(painter)
        self._paint_handles(painter)
        self._paint_badge(painter)

    def _paint_header(self, painter: QPainter) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color)
        painter.drawEllipse(QRectF(8, 9, 28, 28))
        painter.setPen(QColor("#ffffff"))
        painter.setFont(_TITLE_FONT)
        painter.drawText(
            QRectF(8, 9, 28, 28), Qt.AlignmentFlag.AlignCenter, self.type_title[:1].upper()
        )
        metrics = painter.fontMetrics()
        label = metrics.elidedText(self.node.title, Qt.TextElideMode.ElideRight, 150)
        painter.drawText(QRectF(44, 6, 150, 20), Qt.AlignmentFlag.AlignVCenter, label)
        painter.setFont(_SMALL_FONT)
        painter.setPen(QColor("#c8c8c8"))
        painter.drawText(
            QRectF(44, 25, 150, 16),
            Qt.AlignmentFlag.AlignVCenter,
            f"{self.type_title} · {self.node.id}",
        )

    def _paint_handles(self, painter: QPainter) -> None:
        painter.setFont(_SMALL_FONT)
        if self.has_input:
            painter.setPen(QPen(QColor("#1b1c1f"), 1))
            painter.setBrush(QColor("#d0d0d0"))
            painter.drawEllipse(
                QPointF(0, style.HEADER_HEIGHT / 2), style.PORT_RADIUS, style.PORT_RADIUS
            )
        for index, handle in enumerate(self.handles):
            y = style.HEADER_HEIGHT + (index + 0.5) * style.HANDLE_ROW
            painter.setPen(QColor("#e0e0e0"))
            painter.drawText(
                QRectF(10, y - 9, style.NODE_WIDTH - 24, 18),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                handle,
            )
            painter.setPen(QPen(QColor("#1b1c1f"), 1))
            painter.setBrush(style.ERROR_COLOR if handle == "error" else self.color)
            painter.drawEllipse(QPointF(style.NODE_WIDTH, y), style.PORT_RADIUS, style.PORT_RADIUS)

    def _paint_badge(self, painter: QPainter) -> None:
        if not self.issues:
            return
        is_error = any(i.severity == "error" for i in self.issues)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(style.ERROR_COLOR if is_error else style.WARNING_COLOR)
        painter.drawEllipse(QPointF(style.NODE_WIDTH - 10, 10), 7, 7)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(_SMALL_FONT)
        painter.drawText(
            QRectF(style.NODE_WIDTH - 17, 3, 14, 14), Qt.AlignmentFlag.AlignCenter, "!"
        )


class EdgeItem(QGraphicsPathItem):
    """A bezier curve from a handle's port to the target's input port."""

    def __init__(self, edge_id: str, source: NodeItem, handle: str, target: NodeItem) -> None:
        super().__init__()
        self.edge_id = edge_id
        self.source, self.handle, self.target = source, handle, target
        color = style.ERROR_COLOR if handle == "error" else QColor("#9aa0a8")
        self.setPen(QPen(color, 2))
        self.setZValue(0)
        self.update_path()

    def update_path(self) -> None:
        start = self.source.handle_port(self.handle)
        end = self.target.input_port()
        bend = max(60.0, abs(end.x() - start.x()) / 2)
        path = QPainterPath(start)
        path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
        self.setPath(path)


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
