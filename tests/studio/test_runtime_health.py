"""The local runtime is started again only when it is really gone, and runtime.log and the status
bar say why: health checks that fail for a moment (a keep-alive connection the server closed)
are retried, not taken for a dead runtime."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from engine.paths import data_dir
from studio.document import FlowDocument
from studio.runtime import RuntimeConnection, runtime_log
from studio.window import MainWindow
from tests.studio.harness import closing, drive, open_window, until

pytestmark = pytest.mark.timeout(240)
START_S = 90.0  # a process start on a loaded machine
HEALTH = b'{"status": "ok"}'


class FlakyRuntime:
    """An HTTP server on 127.0.0.1 that answers /api/health, except that it closes the
    connection without an answer for the next `drop` requests (what a transport error is)."""

    def __init__(self) -> None:
        self.drop = 0
        self.dropped = 0
        self.answered = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readuntil(b"\r\n\r\n")).startswith(b"GET /api/health "):
                if self.drop:
                    self.drop -= 1
                    self.dropped += 1
                    return
                self.answered += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(HEALTH), HEALTH)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def publish(url: str, pid: int) -> None:
    """Write runtime.json as `aerostudio runtime` does: the studio finds its runtime there."""
    state = {"url": url, "token": "token-for-the-health-tests", "pid": pid}
    (data_dir() / "runtime.json").write_text(json.dumps(state), encoding="utf-8")


def test_health_checks_that_fail_for_a_moment_do_not_restart_the_runtime(qtbot):
    async def scenario():
        runtime = FlakyRuntime()
        publish(await runtime.start(), os.getpid())
        connection = RuntimeConnection(health_interval_ms=600_000)
        states: list[str] = []
        connection.state_changed.connect(states.append)
        try:
            await connection.ensure()
            assert connection.state == "connected"
            runtime.drop = 2
            assert await connection.check()
            assert runtime.dropped == 2 and runtime.answered >= 2
            assert connection.state == "connected" and connection.last_restart is None
            assert "restarting" not in states and not connection.owns_process
            log = runtime_log().read_text(encoding="utf-8")
            assert "studio: the runtime answered again after 2 failed health checks" in log
            assert "restarting" not in log
        finally:
            connection.shutdown()
            await runtime.stop()

    drive(scenario())


def test_a_runtime_whose_process_is_gone_is_started_again_and_the_reason_logged(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = open_window(qtbot, FlowDocument())
    session = window.runs
    states: list[str] = []
    session.connection.state_changed.connect(states.append)
    # A runtime started elsewhere (another studio, a terminal): this process stands for it.
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    async def scenario():
        runtime = FlakyRuntime()
        publish(await runtime.start(), stand_in.pid)
        async with closing(session):
            await session.connection.ensure()
            assert session.runtime_label.text() == "Runtime: connected"
            stand_in.kill()
            stand_in.wait()
            await runtime.stop()
            assert await session.connection.check()
            await until(lambda: session.connection.state == "connected", "the restart", START_S)
            assert states[states.index("restarting") :] == ["restarting", "connecting", "connected"]
            assert session.connection.owns_process  # a runtime of its own now
            why = "its process is gone (runtime.json names no running process)"
            log = runtime_log().read_text(encoding="utf-8")
            assert f"studio: restarting the local runtime: {why}" in log
            label = session.runtime_label.text()
            assert label.startswith("Runtime: connected · restarted at ") and why in label
            assert await session.connection.client.health()

    try:
        drive(scenario())
    finally:
        stand_in.kill()
        stand_in.wait()
