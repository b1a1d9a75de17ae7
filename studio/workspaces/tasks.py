"""Runtime calls made by the workspace manager, in the background, and the line that shows them.

A call that may take long (starting a server to list its tools) is named: the status line shows
it as busy with a Cancel button, and a newer call of the same name replaces it. Every failure
ends as one readable line there, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from engine.api.client import ApiClient
from studio.runtime import RuntimeConnection, readable

T = TypeVar("T")
Work = Callable[[ApiClient], Awaitable[T]]


class Tasks(QObject):
    """The manager's runtime calls: started, tracked, cancelled, their failures reported."""

    busy = Signal(str)
    """A long call started: the text to show while it runs."""
    idle = Signal()
    """No long call runs any more."""
    failed = Signal(str)
    """A call failed: what happened, for a person."""
    cancelled = Signal(str)
    """A long call was cancelled: the text it showed."""

    def __init__(self, connection: RuntimeConnection, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.connection = connection
        self.running: set[asyncio.Future[Any]] = set()
        self._long: dict[str, tuple[asyncio.Future[Any], str]] = {}

    def run(
        self,
        work: Work[T],
        done: Callable[[T], None] | None = None,
        *,
        long: str | None = None,
        name: str | None = None,
    ) -> asyncio.Future[Any] | None:
        """Call `work(client)` in the background, then `done(result)`. With `long` (the text to
        show while it runs) the call can be cancelled; `name` (default: the text) identifies it,
        and a newer call of that name cancels the older one."""

        async def call() -> None:
            client = await self.connection.ensure()
            result = await work(client)
            if done is not None:
                done(result)

        try:
            task = asyncio.ensure_future(call())
        except RuntimeError as exc:  # no event loop: the studio is closing
            self.failed.emit(f"cannot reach the runtime: {exc}")
            return None
        self.running.add(task)
        key = name or long
        if key is not None and long is not None:
            previous = self._long.pop(key, None)
            if previous is not None:
                previous[0].cancel()
            self._long[key] = (task, long)
            self.busy.emit(long)
        task.add_done_callback(lambda t: self._finished(t, key))
        return task

    def is_running(self, name: str) -> bool:
        return name in self._long

    def cancel(self, name: str | None = None) -> None:
        """Cancel the long call `name`, or every long call."""
        for key in [name] if name is not None else list(self._long):
            entry = self._long.pop(key, None) if key is not None else None
            if entry is not None:
                entry[0].cancel()
                self.cancelled.emit(entry[1])
        if not self._long:
            self.idle.emit()

    def shutdown(self) -> None:
        self._long.clear()
        for task in list(self.running):
            task.cancel()

    def _finished(self, task: asyncio.Future[Any], key: str | None) -> None:
        self.running.discard(task)
        if key is not None and self._long.get(key, (None, ""))[0] is task:
            del self._long[key]
            if not self._long:
                self.idle.emit()
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.failed.emit(readable(error))


class StatusLine(QWidget):
    """What the manager is doing or what went wrong: a busy bar with Cancel, or a message."""

    def __init__(self, tasks: Tasks) -> None:
        super().__init__()
        self.tasks = tasks
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("workspace-status")
        layout.addWidget(self.message, 1)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: how long a server takes to start is unknown
        self.bar.setMaximumWidth(160)
        self.bar.setTextVisible(False)
        layout.addWidget(self.bar)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: tasks.cancel())
        layout.addWidget(self.cancel_button)
        self._set_busy(False)
        tasks.busy.connect(self._busy)
        tasks.idle.connect(self._idle)
        tasks.failed.connect(self.warn)
        tasks.cancelled.connect(lambda text: self.say(f"Cancelled: {text.rstrip('…')}"))

    def say(self, text: str) -> None:
        self.message.setText(text)

    def warn(self, text: str) -> None:
        self.message.setText(f"⚠ {text}")

    def _busy(self, text: str) -> None:
        self.say(text)
        self._set_busy(True)

    def _idle(self) -> None:
        """Done: a line still saying what was running goes (the result says more)."""
        if not self.bar.isHidden() and self.message.text().endswith("…"):
            self.say("")
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
