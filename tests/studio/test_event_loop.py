"""The studio's asyncio loop on Qt's: a closed loop leaves no Qt timer behind, so freeing it on
any thread is safe (the studio tests crashed in Qt's dispatch when DBOS's thread freed one)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.app import EventLoop

ROOT = Path(__file__).resolve().parents[2]

FREED_ON_ANOTHER_THREAD = """
import asyncio, gc, threading, weakref
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from studio.app import EventLoop

app = QApplication([])

async def scenario():
    asyncio.get_running_loop().call_later(0.1, print, "ran after close")  # pending at close

def closed_loop_only_a_collection_frees():
    loop = EventLoop(app)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(scenario())
    loop.itself = loop  # a cycle, like the one DBOS's registry held the loop in
    return weakref.ref(loop)

gc.disable()
alive = closed_loop_only_a_collection_frees()
collector = threading.Thread(target=gc.collect)
collector.start()
collector.join()
print("freed on another thread:", alive() is None)
QTimer.singleShot(400, app.quit)  # Qt dispatches past the moment the pending call was due
app.exec()
print("dispatched on")
"""


@pytest.mark.slow
def test_a_closed_loop_freed_on_another_thread_leaves_qt_dispatch_running():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", FREED_ON_ANOTHER_THREAD],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["freed on another thread: True", "dispatched on"]
    assert "Timers cannot be stopped from another thread" not in done.stderr


def test_a_call_pending_at_close_or_made_after_it_never_runs(qapp, qtbot):
    ran: list[str] = []
    loop = EventLoop(qapp)

    async def scenario() -> None:
        loop.call_later(0.5, ran.append, "pending at close")  # long past the runner's close

    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(scenario())
    loop.call_soon(ran.append, "after close")  # a late cancellation, say: accepted, dropped
    qtbot.wait(800)  # past the pending call's time: nothing to wait for but the clock
    assert ran == []
