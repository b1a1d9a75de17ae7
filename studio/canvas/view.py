"""The view: zoom with the wheel or keys, rubber-band selection, drops from the palette."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QGraphicsView

from studio.canvas.scene import FlowScene
from studio.commands import add_node_command

NODE_MIME = "application/x-aerostudio-node-type"


class FlowView(QGraphicsView):
    def __init__(self, scene: FlowScene) -> None:
        super().__init__(scene)
        self.flow_scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11() * factor
        if 0.1 <= scale <= 4:
            self.scale(factor, factor)

    def fit(self) -> None:
        rect = self.flow_scene.itemsBoundingRect().adjusted(-40, -40, 40, 40)
        if rect.isValid():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.transform().m11() > 1.2:
                self.resetTransform()
                self.centerOn(rect.center())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        node_type = bytes(event.mimeData().data(NODE_MIME).data()).decode()
        point = self.mapToScene(event.position().toPoint())
        scene = self.flow_scene
        scene.undo_stack.push(
            add_node_command(scene.document, node_type, (round(point.x()), round(point.y())))
        )
        event.acceptProposedAction()
