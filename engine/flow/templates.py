"""Starter flows for `aerostudio new` and the studio's File > New."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.flow.io import from_document
from engine.flow.model import FORMAT, Flow
from engine.slug import slugify

Document = dict[str, Any]


def _node(node_id: str, node_type: str, x: int, config: Document, **extra: Any) -> Document:
    return {"id": node_id, "type": node_type, "position": [x, 0], "config": config, **extra}


def _edge(number: int, source: str, target: str, handle: str = "out") -> Document:
    return {"id": f"e{number}", "from": source, "handle": handle, "to": target}


def _end(output: Any) -> Document:
    return {"action": "end", "end": {"output": output}}


def _blank() -> tuple[list[Document], list[Document]]:
    nodes = [
        _node("start", "trigger", 0, {"kind": "manual"}, label="Start"),
        _node("finish", "action", 260, _end("{{ input }}"), label="Finish"),
    ]
    return nodes, [_edge(1, "start", "finish")]


def _chat() -> tuple[list[Document], list[Document]]:
    nodes = [
        _node("start", "trigger", 0, {"kind": "message"}, label="On message"),
        _node(
            "answer",
            "llm_call",
            260,
            {"system": "You are a helpful assistant.", "prompt": "{{ input.text }}"},
            label="Answer",
        ),
        _node("reply", "send_message", 520, {"text": "{{ nodes.answer.text }}"}, label="Reply"),
    ]
    return nodes, [_edge(1, "start", "answer"), _edge(2, "answer", "reply")]


def _agent() -> tuple[list[Document], list[Document]]:
    schema = {"type": "object", "properties": {"goal": {"type": "string"}}, "required": ["goal"]}
    nodes = [
        _node(
            "start",
            "trigger",
            0,
            {"kind": "endpoint", "input_schema": schema, "endpoint": {"slug": "agent"}},
            label="Endpoint",
        ),
        _node(
            "agent", "agent_loop", 260, {"goal": "{{ input.goal }}", "tools": ["*"]}, label="Agent"
        ),
        _node("finish", "action", 520, _end("{{ nodes.agent.text }}"), label="Answer"),
    ]
    return nodes, [_edge(1, "start", "agent"), _edge(2, "agent", "finish")]


def _approval() -> tuple[list[Document], list[Document]]:
    nodes = [
        _node("start", "trigger", 0, {"kind": "manual"}, label="Start"),
        _node(
            "review",
            "human_review",
            260,
            {"title": "Approve this request?", "details": "{{ input | tojson }}"},
            label="Review",
        ),
        _node("approved", "action", 520, _end("approved"), label="Approved"),
        _node(
            "rejected",
            "action",
            520,
            {"action": "end", "end": {"output": "rejected", "status": "failed"}},
            label="Rejected",
        ),
    ]
    nodes[3]["position"] = [520, 140]
    edges = [
        _edge(1, "start", "review"),
        _edge(2, "review", "approved", "approved"),
        _edge(3, "review", "rejected", "rejected"),
    ]
    return nodes, edges


TEMPLATES: dict[str, tuple[str, Callable[[], tuple[list[Document], list[Document]]]]] = {
    "blank": ("A manual trigger and an end", _blank),
    "chat": ("Answer chat messages with an LLM", _chat),
    "agent": ("An agent with MCP tools behind an API endpoint", _agent),
    "approval": ("Ask a person to approve, then end either way", _approval),
}


def new_flow(name: str, template: str = "blank", workspace: str | None = None) -> Flow:
    """A starter flow named `name` from one of TEMPLATES."""
    description, build = TEMPLATES[template]
    nodes, edges = build()
    document: Document = {
        "format": FORMAT,
        "id": slugify(name),
        "name": name,
        "description": description,
        "nodes": nodes,
        "edges": edges,
    }
    if workspace:
        document["workspace"] = workspace
    return from_document(document, source=f"template {template}")
