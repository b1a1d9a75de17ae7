"""The local runtime listens on a stable port (7410 unless configured), so the gateway URL in an
editor config keeps working when the runtime is started again; a port in use by another program
is not fatal: the runtime listens elsewhere and the studio says why, in runtime.log and the
status bar."""

from __future__ import annotations

import os
import signal
import socket

import pytest
from PySide6.QtCore import QSettings

from studio.document import FlowDocument
from studio.runtime import DEFAULT_PORT, PORT_ENV, PORT_SETTING, RuntimeConnection, runtime_log
from studio.window import MainWindow
from tests.studio.harness import closing, drive, open_window, until

pytestmark = pytest.mark.timeout(240)
START_S = 90.0


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_port_is_7410_unless_the_environment_or_the_settings_say_otherwise(qapp, monkeypatch):
    monkeypatch.delenv(PORT_ENV, raising=False)
    assert RuntimeConnection().port == DEFAULT_PORT == 7410
    QSettings("Aerostudio", "Aerostudio").setValue(PORT_SETTING, 7500)
    assert RuntimeConnection().port == 7500
    monkeypatch.setenv(PORT_ENV, "7600")
    assert RuntimeConnection().port == 7600
    monkeypatch.setenv(PORT_ENV, "not a port")
    assert RuntimeConnection().port == 7500


def test_a_restarted_runtime_listens_on_the_same_port(qtbot, monkeypatch):
    port = unused_port()
    monkeypatch.setenv(PORT_ENV, str(port))
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = open_window(qtbot, FlowDocument())
    session = window.runs

    async def scenario():
        async with closing(session):
            client = await session.connection.ensure()
            assert client.base_url == f"http://127.0.0.1:{port}"
            first = session.connection._process.pid
            os.kill(first, signal.SIGKILL)
            assert await session.connection.check()
            await until(lambda: session.connection.state == "connected", "the restart", START_S)
            again = session.connection.client
            assert session.connection._process.pid != first
            assert again.base_url == f"http://127.0.0.1:{port}"
            assert await again.health()
            assert session.connection.port_notice is None

    drive(scenario())


def test_a_port_in_use_starts_the_runtime_elsewhere_and_says_so(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = open_window(qtbot, FlowDocument())
    session = window.runs
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    session.connection.port = port

    async def scenario():
        async with closing(session):
            client = await session.connection.ensure()
            assert not client.base_url.endswith(f":{port}")
            assert await client.health()
            notice = session.connection.port_notice
            assert notice.startswith(f"port {port} is in use by another program")
            assert notice in runtime_log().read_text(encoding="utf-8")
            assert notice in session.runtime_label.text()

    try:
        drive(scenario())
    finally:
        taken.close()


def test_a_server_installed_with_the_studio_starts_without_its_venv_on_path(qtbot, monkeypatch):
    """`mcp-server-time` as the README writes it: the studio's runtime finds it in the studio's
    own environment though PATH lacks it (a studio started by its full path)."""
    import sys
    from pathlib import Path

    assert (Path(sys.executable).parent / "mcp-server-time").exists()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv(PORT_ENV, "0")
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = open_window(qtbot, FlowDocument())
    session = window.runs

    async def scenario():
        async with closing(session):
            client = await session.connection.ensure()
            slug = (await client.create_workspace("Clock"))["slug"]
            await client.add_server(slug, "time", {"command": "mcp-server-time"})
            tools = await client.tools(slug)
            assert any(t["name"].startswith("time__") for t in tools), tools

    drive(scenario())
