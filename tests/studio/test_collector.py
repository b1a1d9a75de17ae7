"""Cycle collection in the studio runs on the GUI thread only, whoever allocates."""

from __future__ import annotations

import gc
import threading

from studio.collector import GuiThreadCollector


class Cycle:
    """Garbage only a cycle collection frees; says on which thread it was freed."""

    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.freed_on.append(threading.current_thread().name)


def test_garbage_made_on_a_worker_thread_is_collected_on_the_gui_thread(qapp, qtbot):
    collector = GuiThreadCollector(qapp, interval_ms=10)
    try:
        assert not gc.isenabled()
        Cycle.freed_on.clear()

        kept: list[list[object]] = []

        def allocate() -> None:
            for _ in range(20):
                Cycle()
            # Past the youngest generation's threshold: Python alone would collect right here.
            kept.append([[] for _ in range(3 * gc.get_threshold()[0])])

        worker = threading.Thread(target=allocate, name="worker")
        worker.start()
        worker.join()
        assert Cycle.freed_on == []  # nothing was collected on the worker
        qtbot.waitUntil(lambda: len(Cycle.freed_on) == 20)
        assert set(Cycle.freed_on) == {threading.main_thread().name}
    finally:
        collector.stop()
        collector.deleteLater()
    assert gc.isenabled()
