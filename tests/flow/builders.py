"""Small builders for flow documents in tests."""

from __future__ import annotations

import itertools
from typing import Any

from engine.flow import Flow, from_document

END = {"action": "end", "end": {"output": "done"}}


def node(node_id: str, node_type: str, config: dict[str, Any] | None = None, **extra: Any) -> dict:
    return {"id": node_id, "type": node_type, "config": config or {}, **extra}


def edge(source: str, target: str, handle: str = "out", edge_id: str | None = None) -> dict:
    return {
        "id": edge_id or f"{source}-{handle}-{target}",
        "from": source,
        "handle": handle,
        "to": target,
    }


def trigger(node_id: str = "start", **config: Any) -> dict:
    return node(node_id, "trigger", {"kind": "manual", **config})


def end(node_id: str, output: Any = "done") -> dict:
    return node(node_id, "action", {"action": "end", "end": {"output": output}})


def set_vars(node_id: str, **values: Any) -> dict:
    return node(node_id, "action", {"action": "set_variables", "set_variables": {"values": values}})


def document(nodes: list[dict], edges: list[dict], **extra: Any) -> dict:
    return {
        "format": "aerostudio.flow/1",
        "id": "test",
        "name": "Test",
        "nodes": nodes,
        "edges": edges,
        **extra,
    }


def flow(nodes: list[dict], edges: list[dict], **extra: Any) -> Flow:
    return from_document(document(nodes, edges, **extra))


def chain(*nodes: dict) -> Flow:
    """Nodes joined in order by their `out` handles."""
    edges = [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)]
    return flow(list(nodes), edges)
