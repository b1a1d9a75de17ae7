"""The canvas as an image: PNG or SVG, from File ▸ Export image… or `aerostudio export-image`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QUndoStack
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog

from studio import theme
from studio.canvas.scene import FlowScene
from studio.document import FlowDocument

if TYPE_CHECKING:
    from studio.window import MainWindow

FORMATS = (".png", ".svg")
MARGIN = 40.0
"""Space around the flow's items, in scene units."""
MAX_SIDE = 20_000
"""The longest side of a PNG, in pixels (a larger image would take gigabytes of memory)."""
WINDOW_SCALE = 2.0
"""PNGs exported from the window are drawn at twice the scene's size: crisp on HiDPI screens."""
_DIALOG_FILTERS = {"PNG image (*.png)": ".png", "SVG image (*.svg)": ".svg"}


class ExportError(ValueError):
    """The image cannot be written: an unknown format, too large, or an unwritable file."""


def image_format(path: Path) -> str:
    """`.png` or `.svg`, from the file name; anything else is refused."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{path}: unknown image format {suffix or '(none)'!r}: use .png or .svg")
    return suffix


def export_rect(scene: FlowScene) -> QRectF:
    """The part of the scene to draw: every item, with a margin."""
    rect = scene.itemsBoundingRect()
    if rect.isEmpty():
        rect = QRectF(0, 0, 1, 1)
    return rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)


def write_image(scene: FlowScene, path: Path, scale: float = 1.0) -> QSize:
    """Draw the scene's items into `path` (PNG at `scale`, or SVG); return the size written."""
    suffix = image_format(path)
    source = export_rect(scene)
    size = QSize(math.ceil(source.width() * scale), math.ceil(source.height() * scale))
    if suffix == ".png" and max(size.width(), size.height()) > MAX_SIDE:
        raise ExportError(
            f"{path}: the image would be {size.width()}x{size.height()} px: use a smaller scale"
        )
    with _for_export(scene):
        if suffix == ".png":
            _write_png(scene, source, size, path)
        else:
            _write_svg(scene, source, size, path)
    return size


def export_flow(
    flow_path: Path, output: Path, scale: float = 1.0, theme_name: str = "dark"
) -> QSize:
    """Draw a flow file as an image without a window (the scene alone, in the given theme)."""
    image_format(output)
    document = FlowDocument.open(flow_path)
    scene = FlowScene(document, QUndoStack())
    theme.apply_to_scene(scene, theme.THEMES[theme_name])
    return write_image(scene, output, scale)


def export_dialog(window: MainWindow) -> None:
    """File ▸ Export image…: ask where, then write the canvas there."""
    default = f"{window.document.flow.id}.png"
    name, chosen = QFileDialog.getSaveFileName(
        window, "Export image", default, ";;".join(_DIALOG_FILTERS)
    )
    if not name:
        return
    path = Path(name)
    if path.suffix.lower() not in FORMATS:
        path = path.with_name(path.name + _DIALOG_FILTERS.get(chosen, ".png"))
    try:
        size = write_image(window.scene, path, WINDOW_SCALE)
    except ExportError as exc:
        window.statusBar().showMessage(str(exc), 10_000)
        return
    window.statusBar().showMessage(f"Exported {path.name} ({size.width()}x{size.height()})", 10_000)


@contextmanager
def _for_export(scene: FlowScene) -> Iterator[None]:
    """Without selection, and painting nodes directly (a cached pixmap would blur or end up
    embedded in the SVG); both restored afterwards."""
    selected = scene.selectedItems()
    scene.clearSelection()
    nodes = list(scene.node_items.values())
    for node in nodes:
        node.set_cached(False)
    try:
        yield
    finally:
        for node in nodes:
            node.set_cached(not scene.low_detail)
        for item in selected:
            item.setSelected(True)


def _render_hints(painter: QPainter) -> None:
    hints = QPainter.RenderHint
    painter.setRenderHints(
        hints.Antialiasing | hints.TextAntialiasing | hints.SmoothPixmapTransform
    )


def _write_png(scene: FlowScene, source: QRectF, size: QSize, path: Path) -> None:
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    _render_hints(painter)
    scene.render(painter, QRectF(0, 0, size.width(), size.height()), source)
    painter.end()
    # PySide6's stub wants the format as bytes; at run time it takes only a str.
    if not image.save(str(path), "PNG"):  # type: ignore[call-overload]
        raise ExportError(f"{path}: cannot write the file")


def _write_svg(scene: FlowScene, source: QRectF, size: QSize, path: Path) -> None:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setResolution(_screen_dpi())
    generator.setTitle(scene.document.flow.name)
    generator.setDescription("Exported from Aerostudio")
    painter = QPainter()
    if not painter.begin(generator):
        raise ExportError(f"{path}: cannot write the file")
    _render_hints(painter)
    scene.render(painter, QRectF(0, 0, size.width(), size.height()), source)
    painter.end()


def _screen_dpi() -> int:
    """The DPI texts are laid out at in a PNG (and on screen), so that SVG texts fit alike."""
    return QImage(1, 1, QImage.Format.Format_RGB32).logicalDpiX()
