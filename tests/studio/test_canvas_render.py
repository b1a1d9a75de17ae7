"""Node cards as painted: texts elided to fit, plain cards when zoomed out, theme colours."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QUndoStack
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from engine.flow import from_document
from studio import theme
from studio.canvas import style
from studio.canvas.items import NodeItem, elide
from studio.canvas.scene import FlowScene
from studio.document import FlowDocument

LONG_LABEL = "Summarise every unread message of the day into one short digest " * 2
LONG_ID = "summarise_every_unread_message_of_the_day_into_a_digest"


def _scene(qapp, label: str = LONG_LABEL, node_id: str = LONG_ID) -> FlowScene:
    flow = from_document(
        {
            "format": "aerostudio.flow/1",
            "id": "render",
            "name": "Render",
            "nodes": [
                {
                    "id": node_id,
                    "type": "send_message",
                    "label": label,
                    "position": [0, 0],
                    "config": {"text": "hello"},
                }
            ],
            "edges": [],
        }
    )
    return FlowScene(FlowDocument(flow), QUndoStack())


def _render(item: NodeItem, scale: float) -> QImage:
    """The node alone, painted at `scale` onto a transparent image."""
    size = item.boundingRect().size() * scale
    image = QImage(int(size.width()) + 1, int(size.height()) + 1, QImage.Format.Format_ARGB32)
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    painter.scale(scale, scale)
    painter.translate(-item.boundingRect().topLeft())
    item.paint(painter, QStyleOptionGraphicsItem())
    painter.end()
    return image


def _has_color(image: QImage, color: QColor, columns: range, rows: range) -> bool:
    def near(pixel: QColor) -> bool:
        return pixel.alpha() > 200 and all(
            abs(a - b) < 40 for a, b in zip(pixel.getRgb()[:3], color.getRgb()[:3], strict=True)
        )

    return any(near(image.pixelColor(x, y)) for x in columns for y in rows)


def test_a_long_label_and_id_are_elided_to_fit_the_card(qapp):
    scene = _scene(qapp)
    item = scene.node_items[LONG_ID]
    label, subtitle = item.texts()
    assert label.endswith("…") and subtitle.endswith("…")
    badge = 20 if item.issues else 0
    assert label == elide(LONG_LABEL, "title", style.NODE_WIDTH - 52 - badge)
    assert LONG_LABEL.startswith(label[:-1])
    assert subtitle == elide(f"Send message · {LONG_ID}", "small", style.NODE_WIDTH - 52)
    assert LONG_LABEL in item.tooltip_text() and LONG_ID in item.tooltip_text()


def test_short_texts_are_painted_whole(qapp):
    scene = _scene(qapp, "Digest", "digest")
    assert scene.node_items["digest"].texts() == ("Digest", "Send message · digest")


def test_no_text_is_painted_past_the_card_edge(qapp):
    scene = _scene(qapp)
    item = scene.node_items[LONG_ID]
    image = _render(item, 2)
    left = int((style.NODE_WIDTH - 8 - item.boundingRect().left()) * 2) + 2
    text_rows = range(int((6 - item.boundingRect().top()) * 2), 41 * 2)
    assert _has_color(image, style.DARK_COLORS.text, range(100, left), text_rows)
    assert not _has_color(image, style.DARK_COLORS.text, range(left, image.width()), text_rows)
    assert not _has_color(image, style.DARK_COLORS.dim_text, range(left, image.width()), text_rows)


def test_zoomed_out_a_node_is_a_plain_card_without_text(qapp):
    scene = _scene(qapp, "Digest", "digest")
    item = scene.node_items["digest"]
    columns, rows = range(200), range(40)
    assert _has_color(_render(item, 1), style.DARK_COLORS.text, columns, rows)
    small = _render(item, style.LOW_DETAIL * 0.9)
    assert not _has_color(
        small, style.DARK_COLORS.text, range(small.width()), range(small.height())
    )
    assert _has_color(small, item.color, range(small.width()), range(small.height()))


def test_a_zoomed_out_scene_draws_cards_and_wires_in_one_overview(scope_window):
    scene = scope_window.scene
    scene.set_low_detail(True)
    node = scene.node_items["a"]
    assert node.flags() & node.GraphicsItemFlag.ItemHasNoContents
    rect = scene.itemsBoundingRect()
    image = QImage(int(rect.width() * 0.3), int(rect.height() * 0.3), QImage.Format.Format_RGB32)
    painter = QPainter(image)
    scene.render(painter, QRectF(image.rect()), rect)
    painter.end()
    card = (node.sceneBoundingRect().center() - rect.topLeft()) * 0.3
    assert image.pixelColor(card.toPoint()) == node.color
    assert scene.node_at(node.sceneBoundingRect().center()) is node


def test_exporting_a_zoomed_out_scene_still_draws_every_item(scope_window):
    scene = scope_window.scene
    scene.set_low_detail(True)
    node = scene.node_items["a"]
    image = QImage(400, 200, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    scene.render(painter, QRectF(image.rect()), node.sceneBoundingRect())
    painter.end()
    assert node.flags() & node.GraphicsItemFlag.ItemHasNoContents
    header = QPointF(150, 12) * (400 / node.boundingRect().width())
    assert image.pixelColor(header.toPoint()) != node.color


def test_light_theme_cards_and_wires_differ_from_dark_and_stand_out(qapp):
    scene = _scene(qapp)
    item = scene.node_items[LONG_ID]
    theme.apply_to_scene(scene, theme.DARK)
    dark = (item.colors.body, item.colors.text, item.colors.wire)
    theme.apply_to_scene(scene, theme.LIGHT)
    assert item.colors is style.LIGHT_COLORS
    light = (item.colors.body, item.colors.text, item.colors.wire)
    assert dark != light
    assert item.colors.text.lightness() < 80 < 200 < item.colors.body.lightness()
    assert abs(item.colors.wire.lightness() - theme.LIGHT.canvas.lightness()) > 80
    image = _render(item, 1)
    assert _has_color(image, style.LIGHT_COLORS.body, range(200), range(50, 60))
