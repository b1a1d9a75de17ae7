"""The minimap: the whole flow in a corner, the visible part outlined, click to pan; shown only
while part of the flow is out of view, see-through, and redrawn as a run's states change."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest


def test_the_minimap_shows_the_whole_flow_in_the_corner(scope_window):
    view = scope_window.view
    minimap = view.minimap
    assert not minimap.isVisible()  # fitted: the canvas shows the whole flow already
    view.zoom(2)
    assert minimap.isVisible()
    assert minimap.scene() is view.scene()
    shown = minimap.mapToScene(minimap.viewport().rect()).boundingRect()
    flow = view.scene().itemsBoundingRect()
    assert shown.contains(flow)
    assert max(flow.width() / shown.width(), flow.height() / shown.height()) > 0.9  # fills it
    corner = view.viewport().geometry().bottomRight()
    assert minimap.geometry().bottom() < corner.y()
    assert minimap.geometry().right() > corner.x() - minimap.width() - 20


def test_clicking_the_minimap_pans_the_canvas_there(scope_window):
    view = scope_window.view
    view.resetTransform()
    view.zoom(2)
    minimap = view.minimap
    assert not minimap.visible_rect().contains(scope_window.scene.node_items["b"].pos())
    target = scope_window.scene.node_items["b"].sceneBoundingRect().center()
    QTest.mouseClick(
        minimap.viewport(), Qt.MouseButton.LeftButton, pos=minimap.mapFromScene(target)
    )
    visible = minimap.visible_rect()
    assert visible.contains(target)
    pixel = 1 / minimap.transform().m11()
    assert abs(visible.center().x() - target.x()) < 2 * pixel


def test_the_minimap_draws_the_cards_after_the_canvas_and_again_after_an_edit(scope_window, qtbot):
    """Its picture is drawn at the next turn of the event loop (the canvas paints first), and
    drawn again when the flow changes."""
    from studio import editing

    minimap, scene = scope_window.view.minimap, scope_window.scene
    scope_window.view.zoom(1.5)
    card = scene.node_items["free"]  # outside any scope's tint
    box = card.sceneBoundingRect()
    at = minimap.mapFromScene(box.center())
    beside = minimap.mapFromScene(box.center() + QPointF(0, box.height()))  # empty canvas

    def shows_card() -> bool:
        """Something is drawn where the card is: not the colour of the canvas just below it."""
        image = minimap.viewport().grab().toImage()
        return image.pixelColor(at) != image.pixelColor(beside)

    qtbot.waitUntil(shows_card)
    scene.clearSelection()
    card.setSelected(True)
    editing.delete(scene)
    assert "free" not in scene.node_items
    qtbot.waitUntil(lambda: not shows_card())


def test_view_minimap_turns_it_off_and_on_and_is_remembered(scope_window):
    view, action = scope_window.view, scope_window.minimap_action
    view.zoom(2)
    assert view.minimap.isVisible() and action.isChecked()
    action.trigger()
    assert not view.minimap.isVisible()
    assert scope_window.settings.value("view/minimap", True, bool) is False
    view.zoom(1.2)
    assert not view.minimap.isVisible()
    action.trigger()
    assert view.minimap.isVisible()


def test_the_minimap_shows_the_canvas_under_it_and_follows_a_runs_states(scope_window, qtbot):
    """See-through (no background of its own); after a node's state changes (Continue after a
    pause), its picture is drawn again, and not for a refresh that changes nothing."""
    from studio.run_state import RunState

    view, scene = scope_window.view, scope_window.scene
    minimap = view.minimap
    view.zoom(1.5)
    assert minimap.isVisible()
    assert not minimap.viewport().autoFillBackground()  # the canvas shows through
    assert not minimap.autoFillBackground()

    state = RunState("r1", scene.document.flow)

    def drawn() -> bool:
        return not minimap._stale and not minimap._drawing

    qtbot.waitUntil(drawn)
    before = minimap._picture
    scope_window.runs.overlay.show_run(state)
    assert minimap._stale
    qtbot.waitUntil(drawn)
    assert minimap._picture is not before
    state.apply({"type": "run_started", "seq": 1, "run_id": "r1", "ts": 1.0})
    state.apply({"type": "node_started", "seq": 2, "run_id": "r1", "node_id": "start", "ts": 1.0})
    before = minimap._picture
    scope_window.runs.overlay.refresh()
    assert minimap._stale
    qtbot.waitUntil(drawn)
    assert minimap._picture is not before
    before = minimap._picture
    scope_window.runs.overlay.refresh()  # the same state (the ticker): no new picture
    assert not minimap._stale and minimap._picture is before
