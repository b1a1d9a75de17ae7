"""Starting the studio."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from studio.document import FlowDocument
from studio.window import MainWindow


def run(path: Path | None = None) -> int:
    """Open the main window (with `path` loaded, if given) and run until it closes."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Aerostudio")
    app.setOrganizationName("Aerostudio")
    document = FlowDocument.open(path) if path else None
    window = MainWindow(document)
    window.show()
    return app.exec()
