"""Exporting the canvas: `aerostudio export-image` writes PNG and SVG images without a display."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtGui import QImage

from engine.cli import main
from engine.paths import examples_dir
from studio.export import MARGIN

EXAMPLE = examples_dir() / "support-triage.flow.json"
SVG = "{http://www.w3.org/2000/svg}"


def _scene_size(window) -> tuple[float, float]:
    rect = window.scene.itemsBoundingRect()
    return rect.width() + 2 * MARGIN, rect.height() + 2 * MARGIN


def test_export_image_writes_a_png_of_the_whole_flow(window, tmp_path, capsys):
    out = tmp_path / "flow.png"
    assert main(["export-image", str(EXAMPLE), str(out), "--scale", "2"]) == 0
    image = QImage(str(out))
    width, height = _scene_size(window)
    assert abs(image.width() - 2 * width) <= 2
    assert abs(image.height() - 2 * height) <= 2
    assert "wrote" in capsys.readouterr().out


def test_export_image_writes_an_svg_with_paths_and_texts(qapp, tmp_path):
    out = tmp_path / "flow.svg"
    assert main(["export-image", str(EXAMPLE), str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f".//{SVG}path")) > 10
    texts = "".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "Approve refund" in texts
    assert root.findtext(f"{SVG}title") == "Support triage"


def test_the_light_theme_draws_a_light_background(qapp, tmp_path):
    dark, light = tmp_path / "dark.png", tmp_path / "light.png"
    assert main(["export-image", str(EXAMPLE), str(dark)]) == 0
    assert main(["export-image", str(EXAMPLE), str(light), "--theme", "light"]) == 0
    assert QImage(str(dark)).pixelColor(5, 5).lightness() < 60
    assert QImage(str(light)).pixelColor(5, 5).lightness() > 200


def test_an_unknown_image_format_is_a_usage_error(qapp, tmp_path, capsys):
    assert main(["export-image", str(EXAMPLE), str(tmp_path / "flow.jpg")]) == 2
    assert "unknown image format" in capsys.readouterr().err
    assert not (tmp_path / "flow.jpg").exists()


def test_an_invalid_flow_fails_with_its_reason(qapp, tmp_path, capsys):
    broken = tmp_path / "broken.flow.json"
    broken.write_text("{not json", encoding="utf-8")
    assert main(["export-image", str(broken), str(tmp_path / "out.png")]) == 1
    assert "broken.flow.json" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.slow
def test_export_image_needs_no_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env.pop("QT_QPA_PLATFORM", None)
    out = tmp_path / "flow.png"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "export-image", str(EXAMPLE), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert not QImage(str(out)).isNull()


def test_exporting_from_the_window_keeps_the_selection(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    out = tmp_path / "canvas"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "SVG image (*.svg)")
    )
    window.scene.select_nodes(["screen"])
    export_action = next(
        a for a in window.menuBar().actions()[0].menu().actions() if "Export" in a.text()
    )
    export_action.trigger()
    assert ET.parse(tmp_path / "canvas.svg").getroot().tag == f"{SVG}svg"
    assert window.scene.selected_node_ids() == {"screen"}
