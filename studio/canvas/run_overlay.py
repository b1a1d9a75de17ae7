"""A run drawn over the canvas: a coloured ring and a badge (state, duration) on each node the
run reached, breakpoint dots, streamed text on running nodes, taken edges lit and dead ones dimmed.

The overlay adds its own child items to the scene's node items and only sets public properties
(pen, opacity) on edge items, so the canvas code stays unaware of runs. The scene rebuilds its
items on every edit; the overlay then draws itself again.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from studio.canvas import style
from studio.canvas.items import NodeItem
from studio.canvas.scene import FlowScene
from studio.run_state import RunState, format_duration

STATUS_COLORS = {
    "queued": QColor("#8a8f98"),
    "running": QColor("#3d8ee8"),
    "paused": QColor("#e0a030"),
    "retrying": QColor("#e07a30"),
    "succeeded": QColor("#3fb96a"),
    "failed": QColor("#d64545"),
    "skipped": QColor("#5c6068"),
    "cancelled": QColor("#8a8f98"),
}
TAKEN_COLOR = QColor("#3fb96a")
BREAKPOINT_COLOR = QColor("#e5484d")
DEAD_OPACITY = 0.25

_BADGE_FONT = QFont()
_BADGE_FONT.setPointSizeF(8)
_BADGE_FONT.setBold(True)
_TEXT_FONT = QFont()
_TEXT_FONT.setPointSizeF(8)


class _OverlayItem(QGraphicsItem):
    """Decoration only: never takes the mouse, so clicks reach the node below."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)


class StatusRingItem(_OverlayItem):
    """A ring around the node in its state's colour, a badge above it, streamed text below."""

    def __init__(self, parent: NodeItem) -> None:
        super().__init__(parent)
        self.height = parent.height
        self.status = ""
        self.badge = ""
        self.text = ""
        self.setZValue(2)

    def set_state(self, status: str, badge: str, text: str) -> None:
        if (status, badge, text) != (self.status, self.badge, self.text):
            self.prepareGeometryChange()
            self.status, self.badge, self.text = status, badge, text
            self.setToolTip(f"{status} {badge}\n{text[-400:]}".strip())
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-6, -30, style.NODE_WIDTH + 12, self.height + 60)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        color = STATUS_COLORS.get(self.status, STATUS_COLORS["queued"])
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(color, 3)
        if self.status in ("queued", "skipped"):
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(QRectF(-3, -3, style.NODE_WIDTH + 6, self.height + 6), 10, 10)
        painter.setFont(_BADGE_FONT)
        label = f"{self.status}  {self.badge}".strip()
        width = painter.fontMetrics().horizontalAdvance(label) + 14
        badge = QRectF(0, -24, width, 18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(badge, 9, 9)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        if self.text:
            painter.setFont(_TEXT_FONT)
            node = self.parentItem()  # the theme's text colour (light grey vanished on light)
            painter.setPen(
                node.colors.dim_text if isinstance(node, NodeItem) else Qt.GlobalColor.gray
            )
            shown = painter.fontMetrics().elidedText(
                " ".join(self.text.split()), Qt.TextElideMode.ElideLeft, int(style.NODE_WIDTH)
            )
            painter.drawText(
                QRectF(0, self.height + 6, style.NODE_WIDTH, 18), Qt.AlignmentFlag.AlignLeft, shown
            )


class BreakpointItem(_OverlayItem):
    """A red dot at the node's left edge, as in any debugger's gutter."""

    RADIUS = 7.0

    def __init__(self, parent: NodeItem) -> None:
        super().__init__(parent)
        self.setZValue(3)
        self.setToolTip("Breakpoint: a debug run pauses before this node (F9 to clear)")

    def boundingRect(self) -> QRectF:
        r = self.RADIUS + 2
        return QRectF(-16 - r, 12 - r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor("#ffffff"), 1.5))
        painter.setBrush(QBrush(BREAKPOINT_COLOR))
        painter.drawEllipse(QPointF(-16, 12), self.RADIUS, self.RADIUS)


class RunOverlay(QObject):
    """Draws one RunState and a set of breakpoints over whichever scene is attached."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scene: FlowScene | None = None
        self.state: RunState | None = None
        self.breakpoints: set[str] = set()
        self.rings: dict[str, StatusRingItem] = {}
        self.dots: dict[str, BreakpointItem] = {}
        self.edge_states: dict[str, str] = {}
        self._pens: dict[str, QPen] = {}
        self._shown: tuple[object, ...] = ()
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self.refresh)

    def attach(self, scene: FlowScene) -> None:
        if self.scene is not None:
            self.scene.document.changed.disconnect(self._scene_rebuilt)
        self.scene = scene
        # Connected after the scene's own rebuild slot, so this runs on the new items.
        scene.document.changed.connect(self._scene_rebuilt)
        self._scene_rebuilt()

    def _scene_rebuilt(self) -> None:
        self.rings, self.dots, self.edge_states, self._pens = {}, {}, {}, {}
        self.refresh()

    def show_run(self, state: RunState | None) -> None:
        self.state = state
        self.refresh()

    def set_breakpoints(self, breakpoints: set[str]) -> None:
        self.breakpoints = set(breakpoints)
        self.refresh()

    def refresh(self) -> None:
        if self.scene is None:
            return
        self._draw_breakpoints()
        self._draw_states()
        self._draw_edges()
        shown = (
            id(self.state),
            self.state.last_seq if self.state else -1,
            *sorted(self.breakpoints),
        )
        if shown != self._shown:  # a new state: the minimap's picture shows it too
            self._shown = shown
            self.scene.content_changed.emit()
        running = self.state is not None and any(
            e.status == "running" for e in self.state.executions.values()
        )
        if running and not self._ticker.isActive():
            self._ticker.start()
        elif not running:
            self._ticker.stop()

    def _draw_breakpoints(self) -> None:
        assert self.scene is not None
        for node_id in list(self.dots):
            if node_id not in self.breakpoints or node_id not in self.scene.node_items:
                self._remove(self.dots.pop(node_id))
        for node_id in self.breakpoints:
            item = self.scene.node_items.get(node_id)
            if item is not None and node_id not in self.dots:
                self.dots[node_id] = BreakpointItem(item)

    def _draw_states(self) -> None:
        assert self.scene is not None
        statuses = self.state.node_statuses() if self.state else {}
        for node_id in list(self.rings):
            if node_id not in statuses or node_id not in self.scene.node_items:
                self._remove(self.rings.pop(node_id))
        now = time.time()
        for node_id, status in statuses.items():
            item = self.scene.node_items.get(node_id)
            if item is None:
                continue
            ring = self.rings.get(node_id)
            if ring is None:
                ring = self.rings[node_id] = StatusRingItem(item)
            assert self.state is not None
            executions = self.state.executions_of(node_id)
            latest = self.state.latest(node_id)
            badge = format_duration(latest.elapsed_ms(now)) if latest else ""
            if latest is not None and latest.pinned:
                badge = "pinned"
            if len(executions) > 1:
                badge = f"{len(executions)} runs  {badge}"
            text = latest.text if latest else ""
            ring.set_state(status, badge, text)

    def _draw_edges(self) -> None:
        assert self.scene is not None
        wanted = self.state.edge_states() if self.state else {}
        for edge in self.scene.edge_items:
            state = wanted.get(edge.edge_id)
            if state == self.edge_states.get(edge.edge_id):
                continue
            original = self._pens.setdefault(edge.edge_id, QPen(edge.pen()))
            if state == "taken":
                edge.setPen(QPen(TAKEN_COLOR, 3))
                edge.setOpacity(1.0)
            elif state == "dead":
                edge.setPen(original)
                edge.setOpacity(DEAD_OPACITY)
            else:
                edge.setPen(original)
                edge.setOpacity(1.0)
            if state is None:
                self.edge_states.pop(edge.edge_id, None)
            else:
                self.edge_states[edge.edge_id] = state

    def _remove(self, item: QGraphicsItem) -> None:
        if self.scene is not None and item.scene() is self.scene:
            self.scene.removeItem(item)
