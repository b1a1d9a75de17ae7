"""The main window against real widgets (offscreen): canvas, palette, problems, undo, files."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent

from engine.flow import load
from studio.canvas.items import EdgeItem, NodeItem
from studio.canvas.view import NODE_MIME
from studio.commands import move_nodes_command


def _drop(view, node_type: str, at: QPoint) -> None:
    mime = QMimeData()
    mime.setData(NODE_MIME, node_type.encode())
    event = QDropEvent(
        QPointF(at),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view.dropEvent(event)


def test_opening_an_example_draws_every_node_and_edge(window):
    flow = window.document.flow
    nodes = [i for i in window.scene.items() if isinstance(i, NodeItem)]
    edges = [i for i in window.scene.items() if isinstance(i, EdgeItem)]
    assert {i.node.id for i in nodes} == {n.id for n in flow.nodes}
    assert len(edges) == len(flow.edges)
    assert window.statusBar().currentMessage() == "0 errors, 0 warnings"


def test_edges_start_at_their_handle(window):
    edge = next(e for e in window.scene.edge_items if e.handle == "blocked")
    source = window.scene.node_items["screen"]
    assert edge.path().pointAtPercent(0) == source.handle_port("blocked")
    assert source.handle_port("blocked") != source.handle_port("pass")


def test_dropping_from_the_palette_adds_a_node_and_undo_removes_it(window):
    before = len(window.document.flow.nodes)
    _drop(window.view, "llm_call", QPoint(100, 100))
    flow = window.document.flow
    assert len(flow.nodes) == before + 1
    assert flow.node("llm_call").type == "llm_call"
    assert "llm_call" in window.scene.node_items
    assert window.document.modified
    window.undo_stack.undo()
    assert len(window.document.flow.nodes) == before
    assert "llm_call" not in window.scene.node_items


def test_a_new_node_with_missing_fields_shows_problems(window):
    _drop(window.view, "mcp_tool", QPoint(50, 50))
    codes = {
        window.problems.topLevelItem(i).text(3) for i in range(window.problems.topLevelItemCount())
    }
    assert "config.invalid" in codes
    assert window.scene.node_items["mcp_tool"].issues
    assert window.statusBar().currentMessage().startswith("1 error, ")


def test_moving_nodes_is_undoable(window):
    old = window.document.flow.node("screen").position
    window.undo_stack.push(move_nodes_command(window.document, {"screen": (999, 111)}))
    assert window.document.flow.node("screen").position == (999, 111)
    window.undo_stack.undo()
    assert window.document.flow.node("screen").position == old


def test_palette_search_filters_node_types(window):
    window.node_palette.search.setText("approve")
    tree = window.node_palette.tree
    visible = [
        tree.topLevelItem(i).child(j).text(0)
        for i in range(tree.topLevelItemCount())
        for j in range(tree.topLevelItem(i).childCount())
        if not tree.topLevelItem(i).child(j).isHidden()
    ]
    assert visible == ["Human review"]


def test_save_as_round_trips_the_file(window, tmp_path):
    _drop(window.view, "loop", QPoint(10, 10))
    target = tmp_path / "copy.flow.json"
    window.document.save(target)
    assert not window.document.modified
    assert load(target).node("loop") is not None
    assert window.windowTitle() == "copy.flow.json — Aerostudio"


def test_a_replaced_scene_is_destroyed_with_its_view_on_the_gui_thread(window, qtbot):
    """Left to Python, an old scene waits for a garbage collection, which may run on another
    thread (DBOS's, an executor's): a Qt object destroyed there crashed Qt's dispatch."""
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    from studio.document import FlowDocument

    old_scene, old_view = window.scene, window.view
    assert old_scene.parent() is old_view
    window.set_document(FlowDocument())
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(old_view) and not shiboken6.isValid(old_scene)
    assert shiboken6.isValid(window.scene) and window.scene.parent() is window.view


def test_view_panels_brings_a_closed_dock_back(window):
    from PySide6.QtWidgets import QDockWidget

    problems = window.findChild(QDockWidget, "Problems")
    problems.close()
    assert not problems.isVisible()
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    panels = next(a.menu() for a in view_menu.actions() if a.text() == "&Panels")
    panels.aboutToShow.emit()
    toggle = next(a for a in panels.actions() if a.text() == "Problems")
    assert not toggle.isChecked()
    toggle.trigger()
    assert problems.isVisible()


def test_selecting_a_node_raises_the_inspector_over_the_run_tab(window, qtbot):
    from PySide6.QtWidgets import QDockWidget

    inspector = window.findChild(QDockWidget, "Inspector")
    window.runs.run_dock.raise_()
    qtbot.waitUntil(lambda: window.runs.run_dock.visibleRegion().isEmpty() is False)
    assert inspector.visibleRegion().isEmpty()
    window.scene.select_nodes(["lookup"])
    qtbot.waitUntil(lambda: not inspector.visibleRegion().isEmpty())


def test_the_quick_add_popup_is_wide_enough_for_every_type_name(window):
    view = window.view
    view.open_quick_add(view.mapToScene(view.viewport().rect().center()))
    popup = view.quick_add
    names = popup.list
    widest = max(names.visualItemRect(names.item(i)).width() for i in range(names.count()))
    assert names.sizeHintForColumn(0) <= names.viewport().width() and widest > 0
    popup.hide()


def test_the_shortcuts_overlay_lists_the_canvas_quick_add(window):
    assert ("Add a node at the mouse (quick add; type to filter, Enter adds)", "Tab") in (
        window.shortcut_overlay.entries()
    )


def test_auto_layout_fits_the_new_layout_in_view(window):
    view = window.view
    view.zoom(3)
    window._auto_layout()
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert all(shown.contains(i.sceneBoundingRect()) for i in window.scene.node_items.values())
