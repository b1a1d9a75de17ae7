"""Undoable edits of the document. Every edit replaces the immutable Flow; undo restores it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from PySide6.QtGui import QUndoCommand

from engine.flow import Edge, Flow, Node
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


def unique_id(taken: set[str], base: str) -> str:
    """`base`, or `base_2`, `base_3`… whichever is free (ids stay readable slugs)."""
    if base not in taken:
        return base
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


def edge_ids(flow: Flow, count: int) -> list[str]:
    """`count` fresh edge ids in the `e1`, `e2`… style of hand-written flows."""
    taken = {e.id for e in flow.edges}
    found: list[str] = []
    number = 1
    while len(found) < count:
        if f"e{number}" not in taken:
            found.append(f"e{number}")
        number += 1
    return found


def new_node_id(flow: Flow, node_type: str) -> str:
    return unique_id(set(flow.node_map), node_type)


def add_node_command(
    document: FlowDocument,
    node_type: str,
    position: tuple[float, float],
    node_id: str | None = None,
) -> ReplaceFlowCommand:
    """Add a node; pass `node_id` (from `new_node_id`) to edit the new node in the same macro."""
    flow = document.flow
    node = Node(id=node_id or new_node_id(flow, node_type), type=node_type, position=position)
    after = flow.model_copy(update={"nodes": (*flow.nodes, node)})
    return ReplaceFlowCommand(document, after, f"Add {node_type}")


def insert_command(
    document: FlowDocument, nodes: Iterable[Node], edges: Iterable[Edge], text: str
) -> ReplaceFlowCommand:
    """Add ready-made nodes and edges at once (paste, duplicate)."""
    flow = document.flow
    after = flow.model_copy(update={"nodes": (*flow.nodes, *nodes), "edges": (*flow.edges, *edges)})
    return ReplaceFlowCommand(document, after, text)


def connect_command(
    document: FlowDocument, source: str, handle: str, target: str
) -> ReplaceFlowCommand:
    flow = document.flow
    edge = Edge(id=edge_ids(flow, 1)[0], source=source, handle=handle, target=target)
    after = flow.model_copy(update={"edges": (*flow.edges, edge)})
    return ReplaceFlowCommand(document, after, f"Connect {source}.{handle} to {target}")


def delete_command(
    document: FlowDocument, node_ids: set[str], edge_ids: set[str]
) -> ReplaceFlowCommand:
    """Remove nodes, the edges touching them, and the given edges."""
    flow = document.flow
    nodes = tuple(n for n in flow.nodes if n.id not in node_ids)
    edges = tuple(
        e
        for e in flow.edges
        if e.id not in edge_ids and e.source not in node_ids and e.target not in node_ids
    )
    count = len(flow.nodes) - len(nodes) + len(flow.edges) - len(edges)
    after = flow.model_copy(update={"nodes": nodes, "edges": edges})
    return ReplaceFlowCommand(document, after, f"Delete {count} items")


def _update_nodes_command(
    document: FlowDocument, updates: dict[str, dict[str, object]], text: str
) -> ReplaceFlowCommand:
    flow = document.flow
    nodes = tuple(n.model_copy(update=updates[n.id]) if n.id in updates else n for n in flow.nodes)
    return ReplaceFlowCommand(document, flow.model_copy(update={"nodes": nodes}), text)


def rename_node_command(document: FlowDocument, node_id: str, label: str) -> ReplaceFlowCommand:
    return _update_nodes_command(document, {node_id: {"label": label}}, f"Rename {node_id}")


def move_nodes_command(
    document: FlowDocument, positions: dict[str, tuple[float, float]], text: str | None = None
) -> ReplaceFlowCommand:
    label = text or ("Move node" if len(positions) == 1 else f"Move {len(positions)} nodes")
    updates: dict[str, dict[str, object]] = {
        node_id: {"position": xy} for node_id, xy in positions.items()
    }
    return _update_nodes_command(document, updates, label)


class EditCommand(ReplaceFlowCommand):
    """A form edit; consecutive edits with the same key (typing in one field) are one undo step."""

    MERGE_ID = 0x1A5

    def __init__(self, document: FlowDocument, after: Flow, text: str, key: Hashable) -> None:
        super().__init__(document, after, text)
        self.key = key

    def id(self) -> int:
        return self.MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditCommand) or other.key != self.key:
            return False
        self._after = other._after
        self.setObsolete(self._after == self._before)
        return True


def edit_node_command(
    document: FlowDocument, node_id: str, changes: dict[str, Any], key: Hashable
) -> EditCommand:
    """Set some of a node's fields (config, label, retry, timeout_s, output_variable).

    The changed fields are validated as the Node model does: a bad value raises ValidationError.
    """
    flow = document.flow
    node = flow.node_map[node_id]
    checked = Node.model_validate({"id": node.id, "type": node.type, **changes})
    edited = node.model_copy(update={name: getattr(checked, name) for name in changes})
    nodes = tuple(edited if n is node else n for n in flow.nodes)
    after = flow.model_copy(update={"nodes": nodes})
    return EditCommand(document, after, f"Edit {node_id}", key)


def edit_flow_command(
    document: FlowDocument, changes: dict[str, Any], key: Hashable
) -> EditCommand:
    """Set some of the flow's own fields (name, description, workspace, settings)."""
    flow = document.flow
    checked = Flow.model_validate({"id": flow.id, "name": flow.name, **changes})
    after = flow.model_copy(update={name: getattr(checked, name) for name in changes})
    return EditCommand(document, after, "Edit flow settings", key)
