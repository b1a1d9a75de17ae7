"""Cut, copy, paste and duplicate of flow fragments through the system clipboard."""

from __future__ import annotations

import json

from PySide6.QtGui import QGuiApplication

from studio import editing
from studio.clipboard import FRAGMENT_MIME


def test_copy_puts_the_nodes_and_the_edges_between_them_on_the_clipboard(scope_window):
    scope_window.scene.select_nodes(["a", "b", "after"])
    assert editing.copy(scope_window.scene)
    mime = QGuiApplication.clipboard().mimeData()
    document = json.loads(bytes(mime.data(FRAGMENT_MIME).data()).decode())
    assert json.loads(mime.text()) == document
    assert [n["id"] for n in document["nodes"]] == ["a", "after", "b"]
    assert document["edges"] == [{"id": "e3", "from": "a", "handle": "out", "to": "b"}]


def test_paste_remaps_ids_offsets_and_selects_the_copy_in_one_undo_step(scope_window):
    scene, document = scope_window.scene, scope_window.document
    scene.select_nodes(["a", "b"])
    editing.copy(scene)
    before = document.flow
    new_ids = editing.paste(scene)
    flow = document.flow
    assert new_ids == ["a_2", "b_2"]
    assert scene.selected_node_ids() == {"a_2", "b_2"}
    assert flow.node("a_2").position == (before.node("a").position[0] + 40, 40.0)
    assert flow.node("a_2").config == before.node("a").config
    pasted = [e for e in flow.edges if e.source == "a_2"]
    assert [(e.handle, e.target) for e in pasted] == [("out", "b_2")]
    assert pasted[0].id not in {e.id for e in before.edges}
    assert len(flow.edges) == len(before.edges) + 1
    editing.paste(scene)
    assert {"a_3", "b_3"} <= set(document.flow.node_map)
    scope_window.undo_stack.undo()
    scope_window.undo_stack.undo()
    assert document.flow == before


def test_cut_removes_the_nodes_and_paste_brings_them_back(scope_window):
    scene, document = scope_window.scene, scope_window.document
    scene.select_nodes(["b"])
    editing.cut(scene)
    assert document.flow.node("b") is None
    assert [e.id for e in document.flow.edges if e.target == "b"] == []
    assert editing.paste(scene) == ["b"]
    assert document.flow.node("b").type == "send_message"


def test_duplicate_copies_the_selection_next_to_it(scope_window):
    scope_window.scene.select_nodes(["free"])
    assert editing.duplicate(scope_window.scene) == ["free_2"]
    assert scope_window.document.flow.node("free_2").position == (940.0, 340.0)


def test_pasting_text_that_is_no_fragment_changes_nothing(scope_window):
    QGuiApplication.clipboard().setText("not a flow")
    before = scope_window.document.flow
    assert editing.paste(scope_window.scene) == []
    assert scope_window.document.flow is before
    assert "Nothing to paste" in scope_window.statusBar().currentMessage()


def test_delete_removes_selected_edges(scope_window):
    scene = scope_window.scene
    edge = next(e for e in scene.edge_items if e.edge_id == "e3")
    scene.clearSelection()
    edge.setSelected(True)
    editing.delete(scene)
    assert "e3" not in {e.id for e in scope_window.document.flow.edges}
    assert scope_window.document.flow.node("a") is not None
