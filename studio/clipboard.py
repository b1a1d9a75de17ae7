"""Copy and paste of flow fragments: selected nodes and the edges between them, as JSON.

The fragment uses the flow file's own node and edge documents, so a fragment pasted into a text
editor reads like part of a flow, and pasting goes through the same validation as loading.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

from engine.flow import FORMAT, Edge, Flow, Node, from_document, to_document
from studio.commands import edge_ids, unique_id

FRAGMENT_MIME = "application/x-aerostudio-fragment"
FRAGMENT_FORMAT = "aerostudio.fragment/1"
PASTE_OFFSET = (40.0, 40.0)


def fragment(flow: Flow, node_ids: set[str]) -> dict[str, Any]:
    """The nodes `node_ids` and the edges joining two of them, as a JSON document."""
    part = flow.model_copy(
        update={
            "nodes": tuple(n for n in flow.nodes if n.id in node_ids),
            "edges": tuple(e for e in flow.edges if e.source in node_ids and e.target in node_ids),
            "notes": (),
        }
    )
    document = to_document(part)
    return {"format": FRAGMENT_FORMAT, "nodes": document["nodes"], "edges": document["edges"]}


def parse(text: str) -> tuple[tuple[Node, ...], tuple[Edge, ...]] | None:
    """The nodes and edges of a fragment's JSON text, or None if it is not a valid fragment."""
    try:
        document = json.loads(text)
        if document.get("format") != FRAGMENT_FORMAT:
            return None
        part = from_document(
            {
                "format": FORMAT,
                "id": "fragment",
                "name": "fragment",
                "nodes": document["nodes"],
                "edges": document["edges"],
            }
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return part.nodes, part.edges


def remapped(
    flow: Flow, nodes: tuple[Node, ...], edges: tuple[Edge, ...], offset: tuple[float, float]
) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
    """The fragment with fresh ids unique in `flow`, moved by `offset`, ready to insert."""
    taken = set(flow.node_map)
    new_ids: dict[str, str] = {}
    for node in nodes:
        new_ids[node.id] = unique_id(taken, node.id)
        taken.add(new_ids[node.id])
    moved = tuple(
        node.model_copy(
            update={
                "id": new_ids[node.id],
                "position": (node.position[0] + offset[0], node.position[1] + offset[1]),
            }
        )
        for node in nodes
    )
    inner = [e for e in edges if e.source in new_ids and e.target in new_ids]
    rewired = tuple(
        edge.model_copy(
            update={"id": edge_id, "source": new_ids[edge.source], "target": new_ids[edge.target]}
        )
        for edge, edge_id in zip(inner, edge_ids(flow, len(inner)), strict=True)
    )
    return moved, rewired


def copy_to_clipboard(flow: Flow, node_ids: set[str]) -> None:
    text = json.dumps(fragment(flow, node_ids), indent=2, ensure_ascii=False)
    mime = QMimeData()
    mime.setData(FRAGMENT_MIME, text.encode())
    mime.setText(text)
    QGuiApplication.clipboard().setMimeData(mime)


def clipboard_fragment() -> tuple[tuple[Node, ...], tuple[Edge, ...]] | None:
    """The fragment on the clipboard (ours, or JSON text copied from a flow file), if any."""
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None:
        return None
    if mime.hasFormat(FRAGMENT_MIME):
        return parse(bytes(mime.data(FRAGMENT_MIME).data()).decode())
    return parse(mime.text()) if mime.hasText() else None
