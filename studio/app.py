"""Starting the studio."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import time
from pathlib import Path

import qasync
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from studio.collector import GuiThreadCollector
from studio.document import FlowDocument
from studio.window import MainWindow


class EventLoop(qasync.QEventLoop):  # type: ignore[misc]  # qasync ships no type hints
    """qasync's asyncio loop on Qt's, whose Qt timers end when it closes (on the GUI thread).

    qasync's own close() leaves the Qt timer of every call still pending (an HTTP timeout, a
    retry's sleep) registered on a parentless QObject, until the closed loop is freed; whoever
    frees it destroys that QObject. A collection on another thread (a worker's; in the tests,
    the in-process runtime's, whose DBOS keeps the loop it was launched from) cannot stop those
    timers, and the next one to fire crashes Qt's event dispatch. Closed on the GUI thread, as
    a qasync loop is, this one destroys that QObject there."""

    def _add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        if self.is_closed():  # never run, as with qasync, but no Qt timer started for it
            return handle
        added: asyncio.Handle = super()._add_callback(handle, delay)
        return added

    def close(self) -> None:
        super().close()
        if shiboken6.isValid(self._timer):
            shiboken6.delete(self._timer)


def run(path: Path | None = None) -> int:
    """Open the main window (with `path` loaded, if given) and run until it closes.

    The Qt event loop is also the asyncio loop (qasync), so panels await the engine API."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("Aerostudio")
    app.setOrganizationName("Aerostudio")
    app.setStyle("Fusion")  # the one style that follows the light and dark palettes everywhere
    GuiThreadCollector(app)
    loop = EventLoop(app)
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
        # The editor's path questions (wiring, layout, completion) use networkx; loaded once the
        # window is up rather than on the first wire drawn.
        QTimer.singleShot(0, lambda: importlib.import_module("networkx"))
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
