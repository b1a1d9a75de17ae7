"""Twenty mixed edits, then undo and redo step by step: the saved bytes match at every step."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from engine.flow import dumps
from studio import editing
from studio.commands import rename_node_command
from tests.studio.conftest import drag


def _port(window, node_id, handle=None):
    item = window.scene.node_items[node_id]
    return item.handle_port(handle) if handle else item.input_port()


def _edits(window):
    """Each edit as the user would make it; every one is a single undo step."""
    scene, view, stack = window.scene, window.view, window.undo_stack

    def select(*ids):
        return lambda: scene.select_nodes(ids)

    def copy(*ids):
        return lambda: (scene.select_nodes(ids), editing.copy(scene))

    def move(node_id, dx, dy):
        def run():
            center = scene.node_items[node_id].sceneBoundingRect().center()
            drag(view, center, center + QPointF(dx, dy))

        return run

    def connect(source, handle, target):
        return lambda: drag(view, _port(window, source, handle), _port(window, target))

    def quick_add_after(source, handle, text):
        def run():
            start = _port(window, source, handle)
            drag(view, start, start + QPointF(200, 160))
            view.quick_add.search.setText(text)
            view.quick_add.choose_current()

        return run

    return [
        (None, lambda: editing.add_node(scene, "llm_call", QPointF(1200, 0))),
        (None, move("llm_call", 40, 200)),
        (None, connect("b", "out", "llm_call")),
        (None, lambda: stack.push(rename_node_command(window.document, "a", "First"))),
        (copy("a", "b"), lambda: editing.paste(scene)),
        (select("free"), lambda: editing.duplicate(scene)),
        (None, lambda: editing.auto_layout(scene)),
        (None, quick_add_after("after", "out", "human")),
        (None, connect("free", "out", "free_2")),
        (select("a_2"), lambda: editing.delete(scene)),
        (None, move("each", -30, 60)),
        (None, lambda: stack.push(rename_node_command(window.document, "free_2", "Copy"))),
        (None, lambda: editing.add_node(scene, "logic", QPointF(-400, 400))),
        (select("llm_call"), lambda: editing.cut(scene)),
        (None, lambda: editing.paste(scene)),
        (None, connect("human_review", "approved", "llm_call")),
        (None, quick_add_after("human_review", "rejected", "send")),
        (None, lambda: editing.auto_layout(scene)),
        (select("b_2", "send_message"), lambda: editing.delete(scene)),
        (None, move("start", 0, -120)),
    ]


def test_undo_and_redo_restore_the_saved_bytes_after_twenty_mixed_edits(scope_window):
    stack = scope_window.undo_stack
    saved = [dumps(scope_window.document.flow)]
    for index, (prepare, edit) in enumerate(_edits(scope_window)):
        if prepare:
            prepare()
        edit()
        assert stack.count() == index + 1, f"edit {index + 1} was not exactly one undo step"
        saved.append(dumps(scope_window.document.flow))
        assert saved[-1] != saved[-2], f"edit {index + 1} changed nothing"
    for step in range(len(saved) - 1, 0, -1):
        stack.undo()
        assert dumps(scope_window.document.flow) == saved[step - 1]
    assert not stack.canUndo()
    for step in range(1, len(saved)):
        stack.redo()
        assert dumps(scope_window.document.flow) == saved[step]
    assert not stack.canRedo()
