"""Python's cycle collector in the studio: on the GUI thread only, and paused while a big flow
is read, validated or drawn.

Those steps make tens of thousands of objects and free almost none; each collection they trigger
walks everything alive (the whole flow, the Qt wrappers), which cost a large share of opening it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QTimer


@contextmanager
def paused_collection() -> Iterator[None]:
    """No cycle collection inside the block (nested blocks leave it to the outermost one)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class GuiThreadCollector(QObject):
    """Cycle collection on the GUI thread only.

    Python collects in whichever thread allocates when a threshold is crossed, and asyncio runs
    some work (address lookups) in worker threads. A Qt object freed by a collection there can
    crash Qt's event dispatch later, so automatic collection is off while this lives, and a timer
    here runs the generation Python would have run."""

    def __init__(self, parent: QObject, interval_ms: int = 200) -> None:
        super().__init__(parent)
        gc.disable()
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def stop(self) -> None:
        """Back to Python's own collection."""
        self._timer.stop()
        gc.enable()

    @staticmethod
    def collect_due() -> None:
        """What Python would collect now: when the youngest generation is over its threshold,
        the oldest generation over its own."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if thresholds[0] and counts[0] > thresholds[0]:
            gc.collect(next(g for g in (2, 1, 0) if counts[g] > thresholds[g]))
