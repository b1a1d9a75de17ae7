"""The scene: draws the document's flow and pushes a move command when nodes are dragged."""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneMouseEvent

from engine.flow import Issue
from studio.canvas.items import EdgeItem, NodeItem, NoteItem
from studio.commands import move_nodes_command
from studio.document import FlowDocument


class FlowScene(QGraphicsScene):
    def __init__(self, document: FlowDocument, undo_stack: QUndoStack) -> None:
        super().__init__()
        self.document = document
        self.undo_stack = undo_stack
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: list[EdgeItem] = []
        self.setBackgroundBrush(QColor("#1e1f22"))
        document.changed.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        """Redraw from the document (the scene never edits the model itself)."""
        selected = {item.node.id for item in self.selectedItems() if isinstance(item, NodeItem)}
        self.clear()
        flow = self.document.flow
        by_node: dict[str, list[Issue]] = defaultdict(list)
        for issue in self.document.issues:
            if issue.node_id:
                by_node[issue.node_id].append(issue)
        self.node_items = {}
        for node in flow.node_map.values():
            item = NodeItem(node, by_node.get(node.id, []))
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

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseMoveEvent(event)
        for edge in self.edge_items:
            edge.update_path()

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        moved = {
            node_id: (round(item.pos().x()), round(item.pos().y()))
            for node_id, item in self.node_items.items()
            if item.pos() != QPointF(*item.node.position)
        }
        if moved:
            self.undo_stack.push(move_nodes_command(self.document, moved))
