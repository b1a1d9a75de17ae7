from __future__ import annotations

import pytest

from engine.paths import examples_dir
from studio.document import FlowDocument
from studio.window import MainWindow


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """QSettings and the data directory go to a temporary folder, never the user's."""
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for settings_format in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(tmp_path / "qs"))
    yield
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.instance() is not None:
        # Mime data we put on the clipboard would otherwise be freed by Qt's exit handlers,
        # after Python has finalised: a crash at exit.
        QGuiApplication.clipboard().clear()


@pytest.fixture
def studio(qtbot, monkeypatch):
    """The main window on a small flow with a human review, for the run tests (harness.py)."""
    from tests.studio.harness import REVIEW, open_window

    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    return open_window(qtbot, FlowDocument(REVIEW))


@pytest.fixture
def window(qtbot, monkeypatch):
    """The main window on an example; closing it at the end never asks about unsaved changes."""
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    main = MainWindow(FlowDocument.open(examples_dir() / "support-triage.flow.json"))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    return main


def scope_flow():
    """A trigger, a loop whose body is a -> b, a node after the loop, a free node, a handler."""
    from engine.flow import from_document

    def node(node_id, node_type, x, y, config=None):
        return {"id": node_id, "type": node_type, "position": [x, y], "config": config or {}}

    def edge(edge_id, source, handle, target):
        return {"id": edge_id, "from": source, "handle": handle, "to": target}

    return from_document(
        {
            "format": "aerostudio.flow/1",
            "id": "scopes",
            "name": "Scopes",
            "nodes": [
                node("start", "trigger", 0, 0, {"kind": "manual"}),
                node("each", "loop", 300, 0, {"items": "input.items"}),
                node("a", "send_message", 600, 0, {"text": "a"}),
                node("b", "send_message", 900, 0, {"text": "b"}),
                node("after", "send_message", 600, 300, {"text": "after"}),
                node("free", "send_message", 900, 300, {"text": "free"}),
                node("handler", "error_handler", 0, 300, {"scope": "all"}),
            ],
            "edges": [
                edge("e1", "start", "out", "each"),
                edge("e2", "each", "body", "a"),
                edge("e3", "a", "out", "b"),
                edge("e4", "each", "done", "after"),
            ],
        }
    )


@pytest.fixture
def scope_window(qtbot, monkeypatch):
    """The main window on `scope_flow()`, fitted so every node is visible."""
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    main = MainWindow(FlowDocument(scope_flow()))
    main.resize(800, 600)  # within the offscreen screen, whatever size settings would restore
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    main.view.fit()
    return main


def drag(view, start, end):
    """Press at scene point `start`, move to `end` and release there, like a user's mouse."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    viewport = view.viewport()
    a, b = view.mapFromScene(start), view.mapFromScene(end)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(viewport, (a + b) / 2)
    QTest.mouseMove(viewport, b)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
