"""Starting the studio."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from studio.document import FlowDocument
from studio.window import MainWindow


def run(path: Path | None = None) -> int:
    """Open the main window (with `path` loaded, if given) and run until it closes.

    The Qt event loop is also the asyncio loop (qasync), so panels await the engine API."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Aerostudio")
    app.setOrganizationName("Aerostudio")
    app.setStyle("Fusion")  # the one style that follows the light and dark palettes everywhere
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    document = FlowDocument.open(path) if path else None
    window = MainWindow(document)
    window.show()
    if os.environ.get("AEROSTUDIO_EXIT_AFTER_SHOW") == "1":
        # For measuring cold start (bench/canvas.py): paint the shown window, say when, and exit
        # (exit, not quit: quit would ask about unsaved changes).
        QTimer.singleShot(0, lambda: _report_shown(app, window))
    else:
        # Find or start the local runtime in the background: runs and history need it.
        QTimer.singleShot(0, window.runs.connection.start)
    with loop:
        code = loop.run_forever()
    if app.clipboard().ownsClipboard():
        # Flows copied here are gone with this process anyway; freed now, not by Qt's exit
        # handlers after Python has finalised (a crash at exit).
        app.clipboard().clear()
    return int(code or 0)


def _report_shown(app: QApplication, window: MainWindow) -> None:
    window.repaint()
    print(f"shown at {time.time():.6f}", flush=True)
    app.exit(0)
