"""Light and dark themes: the canvas and the application follow View ▸ Theme, remembered."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from studio import theme
from studio.canvas.style import GRID_SIZE
from studio.document import FlowDocument
from studio.window import MainWindow


def _canvas_color(window):
    tile = window.scene.backgroundBrush().textureImage()
    return tile.pixelColor(GRID_SIZE // 2, GRID_SIZE // 2)


def test_the_default_theme_is_dark(window):
    assert window.theme_actions["dark"].isChecked()
    assert _canvas_color(window) == theme.DARK.canvas


def test_choosing_light_repaints_the_canvas_and_the_application(window):
    window.theme_actions["light"].trigger()
    assert _canvas_color(window) == theme.LIGHT.canvas
    assert QApplication.palette().color(QPalette.ColorRole.Window) == theme.LIGHT.window
    window.theme_actions["dark"].trigger()
    assert _canvas_color(window) == theme.DARK.canvas
    assert QApplication.palette().color(QPalette.ColorRole.Window) == theme.DARK.window


def test_the_theme_is_remembered_by_the_next_window(window, qtbot):
    window.theme_actions["light"].trigger()
    again = MainWindow(FlowDocument())
    qtbot.addWidget(again)
    assert again.theme_actions["light"].isChecked()
    assert _canvas_color(again) == theme.LIGHT.canvas
    again.theme_actions["dark"].trigger()


def test_a_new_document_keeps_the_theme(window):
    window.theme_actions["light"].trigger()
    window.set_document(FlowDocument())
    assert _canvas_color(window) == theme.LIGHT.canvas
    window.theme_actions["dark"].trigger()
