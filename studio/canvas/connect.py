"""Connecting by drag: a wire follows the mouse from an output handle to a node.

While dragging, the wire turns red over a node it may not connect to; on release it connects
(one undo step), shows why it may not, or, over empty canvas, asks the scene for a quick-add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from studio.canvas.items import NodeItem, wire_path
from studio.commands import connect_command

if TYPE_CHECKING:
    from studio.canvas.scene import FlowScene

_OK_PEN = QPen(QColor("#7fd18b"), 2, Qt.PenStyle.DashLine)
_FREE_PEN = QPen(QColor("#c8c8c8"), 2, Qt.PenStyle.DashLine)
_REFUSED_PEN = QPen(QColor("#d64545"), 2, Qt.PenStyle.DashLine)


class ConnectAction:
    """One wire drag, from `source`'s `handle` until the mouse is released."""

    def __init__(self, scene: FlowScene, source: NodeItem, handle: str) -> None:
        self.scene = scene
        self.source = source
        self.handle = handle
        self.wire = QGraphicsPathItem()
        self.wire.setZValue(3)
        self.wire.setPen(_FREE_PEN)
        scene.addItem(self.wire)
        self._verdicts: dict[str, str | None] = {}

    def refusal(self, target: NodeItem) -> str | None:
        """Why the wire may not end at `target` (asked once per target during a drag)."""
        target_id = target.node.id
        if target_id not in self._verdicts:
            self._verdicts[target_id] = self.scene.document.analyzer.refusal(
                self.scene.document.flow, self.source.node.id, self.handle, target_id
            )
        return self._verdicts[target_id]

    def move(self, pos: QPointF) -> None:
        target = self.scene.node_at(pos)
        if target is None:
            self.wire.setPen(_FREE_PEN)
        else:
            self.wire.setPen(_REFUSED_PEN if self.refusal(target) else _OK_PEN)
        self.wire.setPath(wire_path(self.source.handle_port(self.handle), pos))

    def finish(self, pos: QPointF) -> None:
        self.scene.removeItem(self.wire)
        target = self.scene.node_at(pos)
        source_id = self.source.node.id
        if target is None:
            self.scene.wire_dropped.emit(source_id, self.handle, pos)
            return
        reason = self.refusal(target)
        if reason is not None:
            self.scene.message.emit(f"Cannot connect: {reason}")
            return
        document = self.scene.document
        self.scene.undo_stack.push(
            connect_command(document, source_id, self.handle, target.node.id)
        )
