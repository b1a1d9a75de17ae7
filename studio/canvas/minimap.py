"""The minimap: the whole flow in a corner of the canvas, with the visible part outlined.

It is a second view of the same scene (no copy of the items); what it shows is kept as a pixmap,
drawn again only when the scene's content changes, so that panning the canvas only moves the
outline, and drawn after the canvas has painted, so that opening or editing a big flow shows the
canvas first. Clicking or dragging in it centres the canvas there. It is see-through, so that
it never hides what lies under it, and out of the way while the canvas shows the whole flow.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView

from studio.canvas.scene import FlowScene

_MARGIN = 12
_OPACITY = 0.6
"""How much of the minimap's picture covers the canvas under it: both stay readable."""


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
        self._picture: QPixmap | None = None
        self._stale = True  # the scene changed since the picture was drawn
        self._drawing = False  # a picture is to be drawn at the next turn of the event loop
        self.wanted = True
        """View ▸ Minimap; even then it shows only while part of the flow is out of view."""
        self.setAutoFillBackground(False)
        self.viewport().setAutoFillBackground(False)  # see-through where nothing is drawn
        scene = main.scene()
        if isinstance(scene, FlowScene):
            scene.content_changed.connect(self.redraw)
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

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.refit()  # its own size known at last (it is laid out after the canvas)

    def update_visibility(self) -> None:
        """Shown (if wanted) only while the canvas leaves part of the flow out of view."""
        flow = self.scene().itemsBoundingRect()
        needed = flow.isValid() and not self.visible_rect().contains(flow)
        if self.isVisibleTo(self.main) != (self.wanted and needed):
            self.setVisible(self.wanted and needed)

    def update_outline(self) -> None:
        """Repaint only around the old and new outline: redrawing every node costs too much."""
        self.update_visibility()
        outline = self.mapFromScene(self.visible_rect()).boundingRect()
        self.viewport().update(self._outline.united(outline).adjusted(-2, -2, 2, 2))
        self._outline = outline

    def refit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isValid():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.redraw()

    def redraw(self) -> None:
        """The scene changed: draw it again (meanwhile the old picture stays)."""
        self._stale = True
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        """The cached picture of the scene, then the outline of what the main view shows."""
        viewport = self.viewport()
        picture = self._picture
        fits = picture is not None and picture.size() == viewport.size()
        if (self._stale or not fits) and not self._drawing:
            self._drawing = True
            QTimer.singleShot(0, self, self._draw_picture)  # not if the minimap is gone by then
        painter = QPainter(viewport)
        if picture is not None and fits:
            painter.setOpacity(_OPACITY)
            painter.drawPixmap(0, 0, picture)
            painter.setOpacity(1.0)
        painter.setTransform(self.viewportTransform())
        self.drawForeground(painter, QRectF())
        painter.end()

    def _draw_picture(self) -> None:
        self._drawing = self._stale = False
        self._picture = self._draw_scene()
        self.viewport().update()

    def _draw_scene(self) -> QPixmap:
        picture = QPixmap(self.viewport().size())
        picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        painter.setTransform(self.viewportTransform())
        shown = self.mapToScene(self.viewport().rect()).boundingRect()
        self.scene().render(painter, shown, shown, Qt.AspectRatioMode.IgnoreAspectRatio)
        painter.end()
        return picture

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        # The theme's selection colour: white was invisible on the light canvas.
        color = self.palette().color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(color, 0))
        color.setAlpha(40)
        painter.setBrush(color)
        painter.drawRect(self.visible_rect())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.main.centerOn(self.mapToScene(event.position().toPoint()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.main.centerOn(self.mapToScene(event.position().toPoint()))

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.main.wheelEvent(event)
