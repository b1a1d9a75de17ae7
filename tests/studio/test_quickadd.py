"""Quick-add: a search popup on Tab, double-click or a wire dropped on empty canvas."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from studio.canvas.quickadd import fuzzy_score
from tests.studio.conftest import drag


def _drop_wire_on_empty_canvas(window, source, handle):
    """Drag a wire from a handle to empty canvas; where it ended, as the view delivered it (in
    whole viewport pixels, so within a pixel of the scene point aimed at when zoomed)."""
    start = window.scene.node_items[source].handle_port(handle)
    drag(window.view, start, start + QPointF(150, 120))
    view = window.view
    return view.mapToScene(view.mapFromScene(start + QPointF(150, 120)))


def test_a_wire_dropped_on_empty_canvas_offers_only_valid_targets(scope_window):
    _drop_wire_on_empty_canvas(scope_window, "after", "out")
    popup = scope_window.view.quick_add
    assert popup.isVisible()
    types = popup.visible_types()
    assert "send_message" in types
    assert "trigger" not in types
    assert "error_handler" not in types
    assert scope_window.undo_stack.count() == 0


def test_quick_add_from_a_wire_connects_the_new_node_in_one_undo_step(scope_window, qtbot):
    before = scope_window.document.flow
    end = _drop_wire_on_empty_canvas(scope_window, "after", "out")
    popup = scope_window.view.quick_add
    qtbot.waitUntil(popup.search.hasFocus)
    QTest.keyClicks(popup.search, "llmcall")
    assert popup.visible_types()[0] == "llm_call"
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    flow = scope_window.document.flow
    assert not popup.isVisible()
    assert flow.node("llm_call").type == "llm_call"
    assert ("after", "out", "llm_call") in {(e.source, e.handle, e.target) for e in flow.edges}
    placed = scope_window.scene.node_items["llm_call"].input_port() - end
    assert abs(placed.x()) <= 0.5 and abs(placed.y()) <= 0.5  # positions are whole numbers
    assert scope_window.scene.selected_node_ids() == {"llm_call"}
    assert scope_window.undo_stack.count() == 1
    scope_window.undo_stack.undo()
    assert scope_window.document.flow == before
    scope_window.undo_stack.redo()
    assert scope_window.document.flow == flow


def test_tab_opens_quick_add_and_escape_closes_it(scope_window, qtbot):
    view = scope_window.view
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    QTest.keyClick(view, Qt.Key.Key_Tab)
    assert view.quick_add.isVisible()
    assert len(view.quick_add.visible_types()) == 19
    QTest.keyClick(view.quick_add.search, Qt.Key.Key_Escape)
    assert not view.quick_add.isVisible()


def test_double_click_on_empty_canvas_adds_a_node_there(scope_window):
    view = scope_window.view
    at = QPointF(300, 600)
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(at))
    assert view.quick_add.isVisible()
    QTest.keyClicks(view.quick_add.search, "trig")
    view.quick_add.choose_current()
    node = scope_window.document.flow.node("trigger")
    assert node.type == "trigger"
    pixel = 1 / view.transform().m11()
    assert abs(node.position[0] - at.x()) <= 2 * pixel
    assert abs(node.position[1] - at.y()) <= 2 * pixel


def test_fuzzy_score_ranks_close_matches_first():
    assert fuzzy_score("hrev", "Human review human_review") is not None
    assert fuzzy_score("xyz", "LLM call llm_call") is None
    assert fuzzy_score("llm", "LLM call llm_call") < fuzzy_score("llm", "Delegate delegate_llm")
