"""Auto-layout: generations left to right, scopes kept together, one undo step."""

from __future__ import annotations

from studio import editing
from studio.canvas import style
from studio.layout import COLUMN_WIDTH


def test_auto_layout_puts_each_node_right_of_its_inputs(scope_window):
    editing.auto_layout(scope_window.scene)
    flow = scope_window.document.flow
    for edge in flow.edges:
        assert flow.node(edge.source).position[0] < flow.node(edge.target).position[0]
    assert flow.node("start").position == (0.0, 0.0)
    assert flow.node("each").position == (COLUMN_WIDTH, 0.0)


def test_auto_layout_keeps_a_scope_in_its_own_band(scope_window):
    editing.auto_layout(scope_window.scene)
    flow = scope_window.document.flow
    inside = [flow.node(n).position[1] for n in ("a", "b")]
    outside = [flow.node(n).position[1] for n in ("start", "each", "after", "free", "handler")]
    assert min(inside) > max(outside) + style.node_height(1)
    region = scope_window.scene.scope_items["each:body"].rect
    for node_id in ("start", "each", "after", "free", "handler"):
        assert not region.intersects(scope_window.scene.node_items[node_id].sceneBoundingRect())


def test_auto_layout_is_one_undo_step(scope_window):
    before = scope_window.document.flow
    editing.auto_layout(scope_window.scene)
    assert scope_window.undo_stack.count() == 1
    assert scope_window.undo_stack.undoText() == "Auto-layout"
    scope_window.undo_stack.undo()
    assert scope_window.document.flow == before
    editing.auto_layout(scope_window.scene)
    editing.auto_layout(scope_window.scene)
    assert scope_window.undo_stack.count() == 1
