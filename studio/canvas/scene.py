"""The scene: draws the document's flow; drags move nodes or pull wires, pushing undo commands."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGradient, QImage, QPainter, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneMouseEvent,
)

from engine.flow import Issue
from studio.canvas import style
from studio.canvas.connect import ConnectAction
from studio.canvas.items import EdgeItem, NodeItem, NoteItem
from studio.canvas.overview import Overview
from studio.canvas.scopes import ScopeItem, paint_titles
from studio.collector import paused_collection
from studio.commands import move_nodes_command
from studio.document import FlowDocument

_Mode = Qt.AspectRatioMode
_Brush = QBrush | Qt.BrushStyle | Qt.GlobalColor | QColor | QGradient | QImage | QPixmap


class FlowScene(QGraphicsScene):
    message = Signal(str)
    """Something the user should read (why a connection was refused)."""
    wire_dropped = Signal(str, str, QPointF)
    """A wire from (node id, handle) was released over empty canvas at a scene position."""
    content_changed = Signal()
    """Items were rebuilt, restyled or (de)selected: overviews of the scene should redraw."""

    def __init__(self, document: FlowDocument, undo_stack: QUndoStack) -> None:
        super().__init__()
        self.document = document
        self.undo_stack = undo_stack
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: list[EdgeItem] = []
        self.scope_items: dict[str, ScopeItem] = {}
        self.connecting: ConnectAction | None = None
        self.low_detail = False
        """Whether items are built and kept as a zoomed-out view draws them (`set_low_detail`):
        a rebuild after an edit while zoomed out makes them so, rather than switching each."""
        self._items_drawn = True
        self.colors = style.DARK_COLORS
        self._overview: Overview | None = None
        self._selected_edges: list[EdgeItem] = []
        self.setBackgroundBrush(QColor("#1e1f22"))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.selectionChanged.connect(self._selection_changed)
        document.changed.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        """Redraw from the document (the scene never edits the model itself)."""
        selected = self.selected_node_ids()
        self.connecting = None
        self._overview = None
        self._selected_edges = []
        self.clear()
        with paused_collection():
            self._add_items()
        self.select_nodes(selected)
        self.content_changed.emit()

    def _add_items(self) -> None:
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        flow = self.document.flow
        by_node: dict[str, list[Issue]] = defaultdict(list)
        for issue in self.document.issues:
            if issue.node_id:
                by_node[issue.node_id].append(issue)
        self.node_items = {}
        for node in flow.node_map.values():
            item = NodeItem(node, by_node.get(node.id, []), self.low_detail, self.colors)
            self.addItem(item)
            self.node_items[node.id] = item
        self.edge_items = []
        for edge in flow.edges:
            source, target = self.node_items.get(edge.source), self.node_items.get(edge.target)
            if source and target:
                edge_item = EdgeItem(
                    edge.id, source, edge.handle, target, self.colors, not self.low_detail
                )
                self.addItem(edge_item)
                self.edge_items.append(edge_item)
        for note in flow.notes:
            self.addItem(NoteItem(note))
        self._add_scopes()
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)

    def _add_scopes(self) -> None:
        self.scope_items = {}
        for key, members in self.document.analysis.scopes.items():
            items = [self.node_items[m] for m in sorted(members) if m in self.node_items]
            owner = self.node_items.get(key.split(":", 1)[0])
            if items and owner is not None:
                scope = ScopeItem(key, owner, items)
                self.addItem(scope)
                self.scope_items[key] = scope

    def set_low_detail(self, low: bool) -> None:
        """Zoomed out, cards and wires are drawn by one `Overview` and scope titles hidden:
        painting thousands of items one by one (or caching their pixmaps) would cost too much."""
        if low != self.low_detail:
            self.low_detail = low
            self._draw_items(not low)
            for item in self.node_items.values():
                item.set_cached(not low)

    def _draw_items(self, drawn: bool) -> None:
        self._items_drawn = drawn
        for node in self.node_items.values():
            node.set_drawn(drawn)
        for edge in self.edge_items:
            edge.set_drawn(drawn)

    def setBackgroundBrush(self, brush: _Brush) -> None:
        """Set the canvas (`theme.apply_to_scene`); cards and wires take colours readable on it."""
        super().setBackgroundBrush(brush)
        colors = style.canvas_colors(style.background_color(self.backgroundBrush()))
        if colors is not self.colors:
            self.colors = colors
            for node in self.node_items.values():
                node.set_colors(colors)
            for edge in self.edge_items:
                edge.set_colors(colors)
        self.content_changed.emit()

    def render(
        self,
        painter: QPainter,
        target: QRectF | QRect | None = None,
        source: QRectF | QRect | None = None,
        mode: Qt.AspectRatioMode = _Mode.KeepAspectRatio,
    ) -> None:
        """Draw into `painter` (export, minimap): every item in full, unless drawn small, where
        one overview draws them all (as on a zoomed-out canvas)."""
        target, source = QRectF(target or QRectF()), QRectF(source or QRectF())
        scale = painter.worldTransform().m11()
        if not target.isEmpty() and not source.isEmpty():
            scale *= min(target.width() / source.width(), target.height() / source.height())
        with self._detailed(scale >= style.LOW_DETAIL):
            super().render(painter, target, source, mode)

    @contextmanager
    def _detailed(self, detailed: bool) -> Iterator[None]:
        """Items paint themselves meanwhile (or, not `detailed`, the overview draws them),
        whatever the canvas shows."""
        switch = detailed == self.low_detail
        if switch:
            self._draw_items(detailed)
        try:
            yield
        finally:
            if switch:
                self._draw_items(not detailed)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        if self._items_drawn:
            paint_titles(painter, self.scope_items.values(), QRectF(rect))
            return
        if self._overview is None:
            self._overview = Overview(list(self.node_items.values()), self.edge_items)
        self._overview.paint(painter, self.colors, self.selectedItems(), QRectF(rect))

    def _selection_changed(self) -> None:
        for edge in self._selected_edges:
            edge.show_selected(False)
        self._selected_edges = [e for e in self.selectedItems() if isinstance(e, EdgeItem)]
        for edge in self._selected_edges:
            edge.show_selected(True)
        self.content_changed.emit()

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:
        """Tooltips are made when asked for: setting thousands at open would slow it down."""
        node = self.node_at(event.scenePos())
        if node is not None and not node.toolTip():
            node.setToolTip(node.tooltip_text())
        super().helpEvent(event)

    def selected_node_ids(self) -> set[str]:
        return {item.node.id for item in self.selectedItems() if isinstance(item, NodeItem)}

    def selected_edge_ids(self) -> set[str]:
        return {item.edge_id for item in self.selectedItems() if isinstance(item, EdgeItem)}

    def select_nodes(self, node_ids: Iterable[str]) -> None:
        self.clearSelection()
        for node_id in node_ids:
            item = self.node_items.get(node_id)
            if item is not None:
                item.setSelected(True)

    def node_at(self, pos: QPointF) -> NodeItem | None:
        """The topmost node under a scene position."""
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        node = self.node_at(event.scenePos())
        handle = node.handle_at(event.scenePos()) if node else None
        if node is not None and handle is not None and event.button() == Qt.MouseButton.LeftButton:
            self.connecting = ConnectAction(self, node, handle)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.connecting is not None:
            self.connecting.move(event.scenePos())
            return
        super().mouseMoveEvent(event)
        if isinstance(self.mouseGrabberItem(), NodeItem):
            self._overview = None

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.connecting is not None:
            action, self.connecting = self.connecting, None
            action.finish(event.scenePos())
            return
        super().mouseReleaseEvent(event)
        moved: dict[str, tuple[float, float]] = {
            node_id: (round(item.pos().x()), round(item.pos().y()))
            for node_id, item in self.node_items.items()
            if item.pos() != QPointF(*item.node.position)
        }
        if moved:
            self.undo_stack.push(move_nodes_command(self.document, moved))
