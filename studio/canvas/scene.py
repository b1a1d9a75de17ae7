"""The scene: draws the document's flow; drags move nodes or pull wires, pushing undo commands."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneMouseEvent

from engine.flow import Issue
from studio.canvas.connect import ConnectAction
from studio.canvas.items import EdgeItem, NodeItem, NoteItem
from studio.canvas.scopes import ScopeItem
from studio.commands import move_nodes_command
from studio.document import FlowDocument


class FlowScene(QGraphicsScene):
    message = Signal(str)
    """Something the user should read (why a connection was refused)."""
    wire_dropped = Signal(str, str, QPointF)
    """A wire from (node id, handle) was released over empty canvas at a scene position."""

    def __init__(self, document: FlowDocument, undo_stack: QUndoStack) -> None:
        super().__init__()
        self.document = document
        self.undo_stack = undo_stack
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: list[EdgeItem] = []
        self.scope_items: dict[str, ScopeItem] = {}
        self.connecting: ConnectAction | None = None
        self.low_detail = False
        self.setBackgroundBrush(QColor("#1e1f22"))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        document.changed.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        """Redraw from the document (the scene never edits the model itself)."""
        selected = self.selected_node_ids()
        self.connecting = None
        self.clear()
        flow = self.document.flow
        by_node: dict[str, list[Issue]] = defaultdict(list)
        for issue in self.document.issues:
            if issue.node_id:
                by_node[issue.node_id].append(issue)
        self.node_items = {}
        for node in flow.node_map.values():
            item = NodeItem(node, by_node.get(node.id, []), self.low_detail)
            self.addItem(item)
            item.setSelected(node.id in selected)
            self.node_items[node.id] = item
        self.edge_items = []
        for edge in flow.edges:
            source, target = self.node_items.get(edge.source), self.node_items.get(edge.target)
            if source and target:
                edge_item = EdgeItem(edge.id, source, edge.handle, target)
                self.addItem(edge_item)
                self.edge_items.append(edge_item)
        for note in flow.notes:
            self.addItem(NoteItem(note))
        self._add_scopes()

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
        """Zoomed out, nodes are plain cards: caching their pixmaps would only cost memory."""
        if low != self.low_detail:
            self.low_detail = low
            for item in self.node_items.values():
                item.set_cached(not low)

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

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.connecting is not None:
            action, self.connecting = self.connecting, None
            action.finish(event.scenePos())
            return
        super().mouseReleaseEvent(event)
        moved = {
            node_id: (round(item.pos().x()), round(item.pos().y()))
            for node_id, item in self.node_items.items()
            if item.pos() != QPointF(*item.node.position)
        }
        if moved:
            self.undo_stack.push(move_nodes_command(self.document, moved))
