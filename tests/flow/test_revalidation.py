"""Re-validation after an edit: the validator keeps what the edit left as it was, and its answer
is always the one a fresh validation gives."""

from __future__ import annotations

from typing import Any

import pytest

from engine.flow import Flow, Validator, validate
from engine.flow.validate import graph as rules
from tests.flow.builders import edge, end, flow, node, set_vars, trigger

LOGIC_IF = {"mode": "if", "condition": "input.n > 1"}
LOGIC_SWITCH = {"mode": "switch", "value": "input.kind", "cases": [{"handle": "a", "equals": "x"}]}


def _flow() -> Flow:
    nodes = [
        trigger(),
        node("check", "logic", LOGIC_IF),
        set_vars("yes", r="{{ nodes.check.value }}"),
        node("each", "loop", {"items": "input.rows"}),
        set_vars("body", seen="{{ vars.item }}"),
        end("after", "{{ vars.r }}"),
    ]
    edges = [
        edge("start", "check"),
        edge("check", "yes", "true"),
        edge("yes", "each"),
        edge("each", "body", "body"),
        edge("each", "after", "done"),
    ]
    return flow(nodes, edges)


def _edit(flow: Flow, node_id: str, **update: Any) -> Flow:
    """`flow` with one node replaced, its edges tuple kept (as the studio's edits keep it)."""
    nodes = tuple(n.model_copy(update=update) if n.id == node_id else n for n in flow.nodes)
    return flow.model_copy(update={"nodes": nodes})


# Each edit keeps the edges; the issue code says what a reused stale graph would miss.
EDITS = [
    pytest.param("check", {"label": "Check"}, None, id="label"),
    pytest.param("check", {"position": (300.0, 40.0)}, None, id="move"),
    pytest.param("check", {"config": LOGIC_SWITCH}, "edge.unknown_handle", id="handles"),
    pytest.param("each", {"type": "trigger"}, "edge.into_trigger", id="type"),
    pytest.param("each", {"config": {"items": "input.rows["}}, "expr.syntax", id="config"),
    pytest.param(
        "yes",
        {"config": {"action": "end", "end": {"output": "{{ nodes.after }}"}}},
        "expr.not_upstream",
        id="reference",
    ),
]


@pytest.mark.parametrize(("node_id", "update", "code"), EDITS)
def test_revalidating_an_edit_gives_what_a_fresh_validation_gives(node_id, update, code):
    validator = Validator()
    before = _flow()
    assert validator.validate(before) == validate(before) == []
    edited = _edit(before, node_id, **update)
    issues = validator.validate(edited)
    assert issues == validate(edited)
    assert [i.code for i in issues if i.code == code] == ([code] if code else [])


def test_an_edit_that_keeps_edges_and_handles_does_not_rebuild_the_graph(monkeypatch):
    validator = Validator()
    before = _flow()
    validator.validate(before)
    built: list[Flow] = []
    build = rules.build
    monkeypatch.setattr(
        rules, "build", lambda flow, facts: built.append(flow) or build(flow, facts)
    )
    relabelled = _edit(before, "body", label="Body")
    validator.validate(relabelled)
    assert built == []
    assert validator.structure(relabelled).scopes == {"each:body": {"body"}}
    switched = _edit(relabelled, "check", config=LOGIC_SWITCH)
    validator.validate(switched)
    assert built == [switched]
