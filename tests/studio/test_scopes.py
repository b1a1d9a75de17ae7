"""Loop and parallel scopes drawn as regions behind their members, following them as they move."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from studio.canvas.scopes import ScopeItem
from studio.commands import connect_command
from tests.studio.conftest import drag


def test_a_loop_body_is_drawn_around_its_members_only(scope_window):
    scene = scope_window.scene
    assert list(scene.scope_items) == ["each:body"]
    region = scene.scope_items["each:body"]
    assert region.zValue() < scene.node_items["a"].zValue()
    for member in ("a", "b"):
        assert region.rect.contains(scene.node_items[member].sceneBoundingRect())
    for outsider in ("each", "after", "free"):
        assert not region.rect.contains(scene.node_items[outsider].sceneBoundingRect())


def test_the_region_follows_a_member_dragged_away(scope_window):
    scene = scope_window.scene
    b = scene.node_items["b"]
    grab = b.sceneBoundingRect().center()
    drag(scope_window.view, grab, grab + QPointF(0, 500))
    assert scope_window.document.flow.node("b").position[1] > 400
    region = scene.scope_items["each:body"]
    assert region.rect.contains(scene.node_items["b"].sceneBoundingRect())
    assert region.rect.contains(scene.node_items["a"].sceneBoundingRect())


def test_connecting_into_a_scope_grows_it(scope_window):
    scope_window.undo_stack.push(connect_command(scope_window.document, "b", "out", "free"))
    region = scope_window.scene.scope_items["each:body"]
    assert isinstance(region, ScopeItem)
    assert region.rect.contains(scope_window.scene.node_items["free"].sceneBoundingRect())
