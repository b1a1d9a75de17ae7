"""The view: zoom, rubber-band selection, drops from the palette, quick-add on Tab or a wire."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import (
    QCursor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView

from engine.flow import Flow
from engine.nodes import NODE_SPECS
from studio import editing
from studio.analysis import target_types
from studio.canvas import style
from studio.canvas.items import EdgeItem, NodeItem
from studio.canvas.minimap import Minimap
from studio.canvas.quickadd import QuickAdd
from studio.canvas.scene import FlowScene

NODE_MIME = "application/x-aerostudio-node-type"
_FIT_MARGIN = 40.0


def fits_zoomed_out(flow: Flow, canvas: QSize) -> bool:
    """Whether fitting `flow` into a canvas of this size will zoom out to low detail.

    Estimated from node positions before any item exists, so that a scene can be built the way
    the first fit shows it (`FlowView.fit` still decides, from the real items).
    """
    if not flow.nodes or canvas.isEmpty():
        return False
    xs = [node.position[0] for node in flow.nodes]
    ys = [node.position[1] for node in flow.nodes]
    width = max(xs) - min(xs) + style.NODE_WIDTH + 2 * _FIT_MARGIN
    height = max(ys) - min(ys) + style.node_height(1) + 2 * _FIT_MARGIN
    return min(canvas.width() / width, canvas.height() / height) < style.LOW_DETAIL


class FlowView(QGraphicsView):
    def __init__(self, scene: FlowScene) -> None:
        super().__init__(scene)
        self.flow_scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.quick_add = QuickAdd(self)
        self.quick_add.chosen.connect(self._quick_added)
        self._quick_add_at = QPointF()
        self._quick_add_wire: tuple[str, str] | None = None
        scene.wire_dropped.connect(self._wire_dropped)
        self.minimap = Minimap(self)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.minimap.place()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11() * factor
        if 0.1 <= scale <= 4:
            self.scale(factor, factor)
            self._apply_detail()

    def fit(self) -> None:
        margin = _FIT_MARGIN
        rect = self.flow_scene.itemsBoundingRect().adjusted(-margin, -margin, margin, margin)
        if rect.isValid():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.transform().m11() > 1.2:
                self.resetTransform()
                self.centerOn(rect.center())
            self._apply_detail()

    def _apply_detail(self) -> None:
        """Zoomed out, drop antialiasing and node pixmap caches: cards and wires stay legible."""
        low = self.transform().m11() < style.LOW_DETAIL
        self.setRenderHint(QPainter.RenderHint.Antialiasing, not low)
        self.flow_scene.set_low_detail(low)

    def open_quick_add(self, at: QPointF, wire: tuple[str, str] | None = None) -> None:
        """Offer node types at scene point `at`; after a dropped wire, only valid targets."""
        self._quick_add_at = at
        self._quick_add_wire = wire
        specs = target_types() if wire else list(NODE_SPECS.values())
        self.quick_add.popup(self.mapFromScene(at) + self.viewport().pos(), specs)

    def _wire_dropped(self, source: str, handle: str, at: QPointF) -> None:
        self.open_quick_add(at, (source, handle))

    def _quick_added(self, node_type: str) -> None:
        editing.add_node(self.flow_scene, node_type, self._quick_add_at, self._quick_add_wire)
        self.setFocus()

    def focusNextPrevChild(self, next: bool) -> bool:
        """Tab opens quick-add on the canvas instead of moving the focus away."""
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Tab:
            cursor = self.viewport().mapFromGlobal(QCursor.pos())
            if not self.viewport().rect().contains(cursor):
                cursor = self.viewport().rect().center()
            self.open_quick_add(self.mapToScene(cursor))
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.quick_add.hide()
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, NodeItem | EdgeItem):
            super().mouseDoubleClickEvent(event)
            return
        self.open_quick_add(self.mapToScene(event.position().toPoint()))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        node_type = bytes(event.mimeData().data(NODE_MIME).data()).decode()
        point = self.mapToScene(event.position().toPoint())
        editing.add_node(self.flow_scene, node_type, point)
        event.acceptProposedAction()
