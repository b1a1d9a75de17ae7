"""Edit-menu operations on the canvas selection; each is one undo step (copy is none)."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from studio.canvas import style
from studio.canvas.scene import FlowScene
from studio.clipboard import PASTE_OFFSET, clipboard_fragment, copy_to_clipboard, remapped
from studio.commands import (
    add_node_command,
    connect_command,
    delete_command,
    insert_command,
    move_nodes_command,
    new_node_id,
)
from studio.layout import layered_positions


def copy(scene: FlowScene) -> bool:
    """Put the selected nodes (and the edges between them) on the clipboard."""
    node_ids = scene.selected_node_ids()
    if node_ids:
        copy_to_clipboard(scene.document.flow, node_ids)
    return bool(node_ids)


def delete(scene: FlowScene) -> None:
    node_ids, edge_ids = scene.selected_node_ids(), scene.selected_edge_ids()
    if node_ids or edge_ids:
        scene.undo_stack.push(delete_command(scene.document, node_ids, edge_ids))


def cut(scene: FlowScene) -> None:
    if copy(scene):
        delete(scene)


def paste(scene: FlowScene) -> list[str]:
    """Insert the clipboard's fragment with fresh ids, offset, and select it; its new ids."""
    found = clipboard_fragment()
    if not found or not found[0]:
        scene.message.emit("Nothing to paste: the clipboard holds no flow nodes")
        return []
    document = scene.document
    nodes, edges = remapped(document.flow, *found, PASTE_OFFSET)
    scene.undo_stack.push(insert_command(document, nodes, edges, f"Paste {len(nodes)} nodes"))
    new_ids = [n.id for n in nodes]
    scene.select_nodes(new_ids)
    return new_ids


def duplicate(scene: FlowScene) -> list[str]:
    """Copy and paste in one go (the clipboard keeps the copy, as in most editors)."""
    return paste(scene) if copy(scene) else []


def auto_layout(scene: FlowScene) -> None:
    document = scene.document
    positions = layered_positions(document.analysis)
    changed = {
        node_id: xy
        for node_id, xy in positions.items()
        if document.flow.node_map[node_id].position != xy
    }
    if changed:
        scene.undo_stack.push(move_nodes_command(document, changed, "Auto-layout"))


def add_node(
    scene: FlowScene, node_type: str, at: QPointF, wire: tuple[str, str] | None = None
) -> str:
    """Add a node at `at`; with a `wire` (source id, handle), connect it: one undo step."""
    document = scene.document
    node_id = new_node_id(document.flow, node_type)
    if wire is None:
        position = (round(at.x()), round(at.y()))
        scene.undo_stack.push(add_node_command(document, node_type, position, node_id))
    else:
        # The wire ended at `at`: put the new node's input port there.
        position = (round(at.x()), round(at.y() - style.HEADER_HEIGHT / 2))
        scene.undo_stack.beginMacro(f"Add {node_type} after {wire[0]}.{wire[1]}")
        scene.undo_stack.push(add_node_command(document, node_type, position, node_id))
        scene.undo_stack.push(connect_command(document, wire[0], wire[1], node_id))
        scene.undo_stack.endMacro()
    scene.select_nodes([node_id])
    return node_id
