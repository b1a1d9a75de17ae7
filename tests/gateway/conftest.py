"""A gateway on a temporary database, served over real HTTP on loopback, with real upstreams."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.gateway.core import Gateway
from engine.gateway.vault import Vault, master_key
from engine.store import create_engine, migrate

HERE = Path(__file__).parent


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def gateway(tmp_path, monkeypatch) -> Gateway:
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    engine = create_engine(f"sqlite:///{tmp_path / 'gateway.sqlite'}")
    migrate(engine)
    return Gateway(engine, Vault(engine, master_key(tmp_path, use_keyring=False)))


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    deadline = asyncio.get_running_loop().time() + 20
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


def echo_server_command(*args: str) -> dict[str, Any]:
    """A stdio server of ours for tests (tests/gateway/echo_server.py)."""
    return {"command": sys.executable, "args": [str(HERE / "echo_server.py"), *args]}
