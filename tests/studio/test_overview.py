"""Zoomed out, the overview draws each card's title while the card is wide enough on screen for
a readable one: a flow of a dozen nodes opens whole with its titles; at a thousand-node fit the
cards are plain (and cost no text)."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from engine.paths import examples_dir
from studio.canvas import style
from studio.canvas.overview import titles_readable
from studio.document import FlowDocument
from tests.studio.harness import open_window


def colours_in(image: QImage, rect: QRectF) -> set[int]:
    box = rect.toRect().intersected(image.rect())
    return {
        image.pixel(x, y)
        for x in range(box.left(), box.right(), 2)
        for y in range(box.top(), box.bottom(), 2)
    }


def test_support_triage_opens_whole_with_a_title_on_every_card(qtbot):
    window = open_window(qtbot, FlowDocument.open(examples_dir() / "support-triage.flow.json"))
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: window.view.viewport().width() > 900)
    view, scene = window.view, window.scene
    qtbot.waitUntil(lambda: view.transform().m11() < style.READABLE)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert all(shown.contains(i.sceneBoundingRect()) for i in scene.node_items.values())
    assert style.OPEN_WHOLE <= view.transform().m11() < style.LOW_DETAIL and scene.low_detail
    assert not view.minimap.isVisible()  # nothing out of view
    shot = view.viewport().grab().toImage()
    for node_id, item in scene.node_items.items():
        card = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
        assert len(colours_in(shot, QRectF(card).adjusted(4, 4, -4, -4))) > 2, node_id


def test_cards_too_small_on_screen_are_drawn_without_titles(qtbot):
    window = open_window(qtbot, FlowDocument.open(examples_dir() / "support-triage.flow.json"))
    scene = window.scene
    assert titles_readable(0.4) and not titles_readable(0.3)
    flow = scene.itemsBoundingRect()
    for scale, titled in ((0.3, False), (0.45, True)):
        image = QImage(
            int(flow.width() * scale), int(flow.height() * scale), QImage.Format.Format_RGB32
        )
        painter = QPainter(image)
        scene.render(painter, QRectF(image.rect()), flow)
        painter.end()
        card = scene.node_items["lookup"].sceneBoundingRect()
        at = QRectF((card.topLeft() - flow.topLeft()) * scale, card.size() * scale)
        colours = colours_in(image, at.adjusted(2, 2, -2, -2))
        assert (len(colours) > 2) is titled, scale
