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
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qs"))


@pytest.fixture
def window(qtbot, monkeypatch):
    """The main window on an example; closing it at the end never asks about unsaved changes."""
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    main = MainWindow(FlowDocument.open(examples_dir() / "support-triage.flow.json"))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    return main
