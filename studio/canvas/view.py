"""The view: zoom, rubber-band selection, drops from the palette, quick-add on Tab or a wire."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
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
_ROOM = 800.0
"""How far past the flow (scene units) the canvas pans: room to work beside it."""


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
        scene.sceneRectChanged.connect(self._make_room)
        self._make_room()
        self._opening = True
        """Until the user moves the view, it keeps the flow's opening view (`show_start`) as the
        canvas gets its size: the window lays out, docks settle, the user resizes it."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.minimap.place()
        if self._opening:
            self.show_start()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def zoom(self, factor: float) -> None:
        self._opening = False
        scale = self.transform().m11() * factor
        if 0.1 <= scale <= 4:
            self.scale(factor, factor)
            self._apply_detail()

    def _make_room(self) -> None:
        """Scroll as far as the flow reaches and `_ROOM` beyond, not only to its edges."""
        self.setSceneRect(self.flow_scene.sceneRect().adjusted(-_ROOM, -_ROOM, _ROOM, _ROOM))

    def _flow_rect(self) -> QRectF:
        margin = _FIT_MARGIN
        return self.flow_scene.itemsBoundingRect().adjusted(-margin, -margin, margin, margin)

    def fit(self) -> None:
        """Show the whole flow (View ▸ Fit), never above 120%."""
        self._opening = False
        self._fit(self._flow_rect())

    def _fit(self, rect: QRectF) -> None:
        if rect.isValid():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.transform().m11() > 1.2:
                self.resetTransform()
                self.centerOn(rect.center())
            self._apply_detail()

    def show_start(self) -> None:
        """The view a flow opens with: all of it if it fits at a zoom where its cards' titles
        read; else, at a readable zoom, its start: its leftmost card at the left edge, level
        with its triggers."""
        rect = self._flow_rect()
        room = self.viewport().size()
        nodes = list(self.flow_scene.node_items.values())
        fits = not rect.isValid() or (
            min(room.width() / rect.width(), room.height() / rect.height()) >= style.OPEN_WHOLE
        )
        if fits or not nodes:
            self._fit(rect)
            return
        self._make_room()  # from the scene's rect brought up to date now
        self.resetTransform()
        self.scale(style.READABLE, style.READABLE)
        shown = self.mapToScene(self.viewport().rect()).boundingRect()
        left = min(n.sceneBoundingRect().left() for n in nodes) - _FIT_MARGIN  # not a wire's bend
        starts = [n for n in nodes if n.node.type == "trigger"] or nodes
        level = sum(n.sceneBoundingRect().center().y() for n in starts) / len(starts)
        self.centerOn(left + shown.width() / 2, level)
        self._apply_detail()

    def _apply_detail(self) -> None:
        """Zoomed out, drop antialiasing and node pixmap caches: cards and wires stay legible."""
        low = self.transform().m11() < style.LOW_DETAIL
        self.setRenderHint(QPainter.RenderHint.Antialiasing, not low)
        self.flow_scene.set_low_detail(low)
        self.minimap.update_visibility()

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
        self._opening = False
        if event.key() == Qt.Key.Key_Tab:
            cursor = self.viewport().mapFromGlobal(QCursor.pos())
            if not self.viewport().rect().contains(cursor):
                cursor = self.viewport().rect().center()
            self.open_quick_add(self.mapToScene(cursor))
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._opening = False
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
