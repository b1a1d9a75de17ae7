"""Undoable edits of the document. Every edit replaces the immutable Flow; undo restores it."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from engine.flow import Flow, Node
from studio.document import FlowDocument


class ReplaceFlowCommand(QUndoCommand):
    """Swap the document's flow for an edited one (every other command is built on this)."""

    def __init__(self, document: FlowDocument, after: Flow, text: str) -> None:
        super().__init__(text)
        self._document = document
        self._before = document.flow
        self._after = after

    def redo(self) -> None:
        self._document.replace(self._after)

    def undo(self) -> None:
        self._document.replace(self._before)


def _unique_id(flow: Flow, base: str) -> str:
    taken = {n.id for n in flow.nodes}
    if base not in taken:
        return base
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


def add_node_command(
    document: FlowDocument, node_type: str, position: tuple[float, float]
) -> ReplaceFlowCommand:
    flow = document.flow
    node = Node(id=_unique_id(flow, node_type), type=node_type, position=position)
    after = flow.model_copy(update={"nodes": (*flow.nodes, node)})
    return ReplaceFlowCommand(document, after, f"Add {node_type}")


def move_nodes_command(
    document: FlowDocument, positions: dict[str, tuple[float, float]]
) -> ReplaceFlowCommand:
    flow = document.flow
    nodes = tuple(
        n.model_copy(update={"position": positions[n.id]}) if n.id in positions else n
        for n in flow.nodes
    )
    label = "Move node" if len(positions) == 1 else f"Move {len(positions)} nodes"
    return ReplaceFlowCommand(document, flow.model_copy(update={"nodes": nodes}), label)
