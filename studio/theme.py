"""Light and dark themes: the application's palette and the canvas background, remembered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QActionGroup, QColor, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView, QMenu

from studio.canvas import style

SETTINGS_KEY = "view/theme"


@dataclass(frozen=True)
class Theme:
    name: str
    window: QColor
    base: QColor
    """Text fields, lists and trees."""
    alternate_base: QColor
    text: QColor
    disabled_text: QColor
    button: QColor
    highlight: QColor
    highlighted_text: QColor
    tooltip: QColor
    canvas: QColor
    grid: QColor


DARK = Theme(
    name="dark",
    window=QColor("#2b2d31"),
    base=QColor("#232428"),
    alternate_base=QColor("#2f3136"),
    text=QColor("#e6e6e6"),
    disabled_text=QColor("#7c7f86"),
    button=QColor("#35373c"),
    highlight=QColor("#3d8ee8"),
    highlighted_text=QColor("#ffffff"),
    tooltip=QColor("#393b40"),
    canvas=QColor("#1e1f22"),
    grid=QColor("#26282c"),
)
LIGHT = Theme(
    name="light",
    window=QColor("#f0f1f4"),
    base=QColor("#ffffff"),
    alternate_base=QColor("#f5f6f8"),
    text=QColor("#1d1f23"),
    disabled_text=QColor("#9a9ca3"),
    button=QColor("#e4e6ea"),
    highlight=QColor("#2f7bd6"),
    highlighted_text=QColor("#ffffff"),
    tooltip=QColor("#ffffff"),
    canvas=QColor("#e9ebef"),
    grid=QColor("#dcdfe5"),
)
THEMES = {theme.name: theme for theme in (DARK, LIGHT)}


def saved(settings: QSettings) -> Theme:
    """The theme chosen last time (dark when none was, or the setting is unknown)."""
    return THEMES.get(str(settings.value(SETTINGS_KEY, DARK.name)), DARK)


def remember(settings: QSettings, theme: Theme) -> None:
    settings.setValue(SETTINGS_KEY, theme.name)


def palette(theme: Theme) -> QPalette:
    roles = QPalette.ColorRole
    result = QPalette()
    for role, color in (
        (roles.Window, theme.window),
        (roles.WindowText, theme.text),
        (roles.Base, theme.base),
        (roles.AlternateBase, theme.alternate_base),
        (roles.Text, theme.text),
        (roles.Button, theme.button),
        (roles.ButtonText, theme.text),
        (roles.BrightText, theme.highlighted_text),
        (roles.Highlight, theme.highlight),
        (roles.HighlightedText, theme.highlighted_text),
        (roles.ToolTipBase, theme.tooltip),
        (roles.ToolTipText, theme.text),
        (roles.PlaceholderText, theme.disabled_text),
        (roles.Link, theme.highlight),
    ):
        result.setColor(role, color)
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        result.setColor(QPalette.ColorGroup.Disabled, role, theme.disabled_text)
    return result


def apply_to_app(theme: Theme) -> None:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setPalette(palette(theme))


def apply_to_scene(scene: QGraphicsScene, theme: Theme) -> None:
    scene.setBackgroundBrush(style.canvas_brush(theme.canvas, theme.grid))


def smooth_grid(view: QGraphicsView) -> None:
    """Filter the grid texture: zoomed out, its lines fade evenly instead of flickering."""
    view.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)


def add_menu(menu: QMenu, current: Theme, choose: Callable[[Theme], None]) -> dict[str, QAction]:
    """View ▸ Theme: one checkable action per theme, `current` checked."""
    submenu = menu.addMenu("&Theme")
    group = QActionGroup(submenu)
    actions = {}
    for theme in THEMES.values():
        action = submenu.addAction(theme.name.capitalize())
        action.setCheckable(True)
        action.setChecked(theme is current)
        action.setActionGroup(group)
        action.triggered.connect(lambda _=False, t=theme: choose(t))
        actions[theme.name] = action
    return actions
