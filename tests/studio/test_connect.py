"""Connecting nodes by dragging a wire from an output handle, and the connections refused."""

from __future__ import annotations

import pytest

from tests.studio.conftest import drag


def _connect(window, source, handle, target):
    scene = window.scene
    drag(
        window.view,
        scene.node_items[source].handle_port(handle),
        scene.node_items[target].input_port(),
    )


def _edges(window):
    return {(e.source, e.handle, e.target) for e in window.document.flow.edges}


def test_dragging_from_a_handle_to_a_node_connects_them(scope_window):
    before = len(scope_window.document.flow.edges)
    _connect(scope_window, "each", "done", "free")
    assert ("each", "done", "free") in _edges(scope_window)
    assert len(scope_window.scene.edge_items) == before + 1
    scope_window.undo_stack.undo()
    assert ("each", "done", "free") not in _edges(scope_window)


def test_a_join_with_several_incoming_edges_is_allowed(scope_window):
    _connect(scope_window, "each", "done", "free")
    _connect(scope_window, "after", "out", "free")
    assert {("each", "done", "free"), ("after", "out", "free")} <= _edges(scope_window)


@pytest.mark.parametrize(
    ("source", "handle", "target", "reason"),
    [
        ("after", "out", "start", "'start' is a trigger; no edge may enter it"),
        ("after", "out", "handler", "'handler' is an error handler; no edge may enter it"),
        ("b", "out", "each", "that would form a cycle: b → each → a → b"),
        ("a", "out", "a", "'a' cannot connect to itself"),
        ("after", "out", "b", "'b' is inside the 'body' scope of 'each' but is also entered"),
        ("b", "out", "after", "'after' is inside the 'body' scope of 'each'"),
        ("each", "done", "after", "another edge already joins 'each'.done to 'after'"),
    ],
    ids=["trigger", "error-handler", "cycle", "itself", "into-scope", "out-of-scope", "twice"],
)
def test_an_invalid_connection_is_refused_with_the_reason(
    scope_window, source, handle, target, reason
):
    before = scope_window.document.flow
    _connect(scope_window, source, handle, target)
    assert scope_window.document.flow is before
    assert scope_window.undo_stack.count() == 0
    message = scope_window.statusBar().currentMessage()
    assert message.startswith("Cannot connect: ")
    assert reason in message


def test_an_unknown_handle_is_refused(scope_window):
    analyzer = scope_window.document.analyzer
    reason = analyzer.refusal(scope_window.document.flow, "a", "nope", "free")
    assert reason == "'a' has no handle 'nope' (it has: out)"
