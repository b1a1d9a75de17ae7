"""The minimap: the whole flow in a corner, the visible part outlined, click to pan."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def test_the_minimap_shows_the_whole_flow_in_the_corner(scope_window):
    view = scope_window.view
    minimap = view.minimap
    assert minimap.isVisible()
    assert minimap.scene() is view.scene()
    shown = minimap.mapToScene(minimap.viewport().rect()).boundingRect()
    assert shown.contains(view.scene().itemsBoundingRect())
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
