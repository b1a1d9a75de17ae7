"""The minimap: the whole flow in a corner of the canvas, with the visible part outlined.

It is a second view of the same scene (no copy of the items), so it is always up to date;
clicking or dragging in it centres the canvas there.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsView

_VISIBLE_PEN = QPen(QColor("#f0f0f0"), 0)
_MARGIN = 12


class Minimap(QGraphicsView):
    """An overview of `main`'s scene, kept in `main`'s bottom-right corner."""

    def __init__(self, main: QGraphicsView) -> None:
        super().__init__(main.scene(), main)
        self.main = main
        self.setFixedSize(220, 150)
        self.setFrameShape(QFrame.Shape.Box)
        self.setInteractive(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._outline = QRect()
        main.horizontalScrollBar().valueChanged.connect(self.update_outline)
        main.verticalScrollBar().valueChanged.connect(self.update_outline)
        main.scene().sceneRectChanged.connect(self.refit)

    def visible_rect(self) -> QRectF:
        """The part of the scene the main view shows."""
        return self.main.mapToScene(self.main.viewport().rect()).boundingRect()

    def place(self) -> None:
        """Stay in the main view's bottom-right corner, and show the whole flow."""
        corner = self.main.viewport().geometry().bottomRight()
        self.move(corner.x() - self.width() - _MARGIN, corner.y() - self.height() - _MARGIN)
        self.refit()

    def update_outline(self) -> None:
        """Repaint only around the old and new outline: redrawing every node costs too much."""
        outline = self.mapFromScene(self.visible_rect()).boundingRect()
        self.viewport().update(self._outline.united(outline).adjusted(-2, -2, 2, 2))
        self._outline = outline

    def refit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isValid():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        painter.setPen(_VISIBLE_PEN)
        painter.setBrush(QColor(255, 255, 255, 30))
        painter.drawRect(self.visible_rect())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.main.centerOn(self.mapToScene(event.position().toPoint()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.main.centerOn(self.mapToScene(event.position().toPoint()))

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.main.wheelEvent(event)
