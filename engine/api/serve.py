"""`aerostudio runtime`: a durable runtime, the workspace gateway and the engine API in one
process on loopback; its address and admin token are written to the data directory
(`runtime.json`, mode 0600) for the studio and the CLI to find."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from pathlib import Path

from engine.paths import data_dir

STATE_FILE = "runtime.json"


def state_path() -> Path:
    return data_dir() / STATE_FILE


def _own_state() -> bool:
    """Whether runtime.json is this process's."""
    try:
        return bool(json.loads(state_path().read_text(encoding="utf-8"))["pid"] == os.getpid())
    except (OSError, ValueError, KeyError):
        return False


def _write_state(url: str, token: str) -> None:
    path = state_path()
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, file)
    temporary.replace(path)


async def serve(db: str | None, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Run until cancelled or interrupted."""
    import uvicorn

    from engine.api.app import EngineApi
    from engine.cli.runs import open_runtime

    runtime = open_runtime(db)
    token = secrets.token_urlsafe(32)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{host}:{sock.getsockname()[1]}"
    api = EngineApi(runtime, runtime.services.tools, token)
    server = uvicorn.Server(uvicorn.Config(api.app, log_level="warning", lifespan="on"))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                await serving
                return
            await asyncio.sleep(0.01)
        _write_state(url, token)
        print(f"aerostudio runtime at {url} (token in {state_path()})", flush=True)
        if ready is not None:
            ready.set()
        await serving
    finally:
        server.should_exit = True
        if not serving.done():
            await asyncio.wait_for(serving, 10)
        if _own_state():
            state_path().unlink(missing_ok=True)
        await runtime.aclose()
