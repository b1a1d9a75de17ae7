"""Serving the engine API and the workspace gateway in one process.

`aerostudio runtime` is the desktop's: on loopback, its address and its own admin token written
to the data directory (`runtime.json`, mode 0600) for the studio and the CLI to find.
`aerostudio serve` is a server's: its members hold tokens (the first start makes an admin and
prints its token once), its runs and gateway data in one database (`--db`, SQLite in the data
directory by default), its runs executed under a stable executor id.

On SIGTERM or Ctrl-C both stop within a grace period (`AEROSTUDIO_SHUTDOWN_GRACE_S`, 10 s):
event streams end at once (their followers resume on the next process with Last-Event-ID),
other requests get the grace period to finish, then are cancelled.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.httpguard import LOCAL_HOSTS
from engine.paths import data_dir

if TYPE_CHECKING:
    from engine.api.app import EngineApi

STATE_FILE = "runtime.json"
WILDCARDS = ("0.0.0.0", "::", "")
GRACE_ENV = "AEROSTUDIO_SHUTDOWN_GRACE_S"
GRACE_S = 10


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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def grace_s() -> int:
    """The shutdown grace period from the environment, or a ValueError naming the variable."""
    text = os.environ.get(GRACE_ENV, "").strip()
    if not text:
        return GRACE_S
    try:
        seconds = int(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 3600:
        raise ValueError(f"{GRACE_ENV}: whole seconds from 0 to 3600, not '{text}'")
    return seconds


async def _serve_app(api: EngineApi, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve the API until cancelled; `announce(url)` once it accepts connections.
    A signal to stop ends its event streams at once."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            api.streams.close()

    grace = grace_s()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    url = f"http://{_url_host(host)}:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        api.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=grace
    )
    server = Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                await serving
                return
            await asyncio.sleep(0.01)
        announce(url)
        await serving
    finally:
        server.should_exit = True
        api.streams.close()
        if not serving.done():
            await asyncio.wait_for(serving, grace + 10)


async def serve(db: str | None, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """The desktop runtime: run until cancelled or interrupted."""
    from engine.api.app import EngineApi
    from engine.cli.runs import open_runtime

    runtime = open_runtime(db)
    token = secrets.token_urlsafe(32)
    api = EngineApi(runtime, runtime.services.tools, token)

    def announce(url: str) -> None:
        _write_state(url, token)
        print(f"aerostudio runtime at {url} (token in {state_path()})", flush=True)
        if ready is not None:
            ready.set()

    try:
        await _serve_app(api, host, port, announce)
    finally:
        if _own_state():
            state_path().unlink(missing_ok=True)
        await runtime.aclose()


def default_executor_id() -> str:
    """This machine's name: the same after a restart, so the runs a killed server left are
    recovered by the next one on the same host (give each process its own id when several
    share a database from one host)."""
    return f"serve-{socket.gethostname()}"


def server_hosts(host: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The Host headers a server answers: loopback, the address it binds unless a wildcard,
    this machine's name and the names given."""
    named = () if host in WILDCARDS else (_url_host(host),)
    return (*LOCAL_HOSTS, *named, socket.gethostname(), *allowed)


async def serve_server(
    db: str | None,
    host: str,
    port: int,
    executor_id: str,
    allowed_hosts: tuple[str, ...] = (),
    workers: int | None = None,
    allow_stdio_servers: bool = False,
) -> None:
    """`aerostudio serve`: run until cancelled or interrupted; admins add stdio servers (commands
    run on this host) over the API only with `allow_stdio_servers`."""
    from engine.api.app import EngineApi
    from engine.cli.runs import open_runtime
    from engine.run.isolation import server_mode

    server_mode()  # code nodes run only in the sandbox here

    runtime = open_runtime(db, gateway_url=db, executor_id=executor_id, workers=workers)
    api = EngineApi(
        runtime,
        runtime.services.tools,
        hosts=server_hosts(host, allowed_hosts),
        allow_stdio_servers=allow_stdio_servers,
    )

    def announce(url: str) -> None:
        first = api.members.first_admin()  # once serving, so that a failed start loses none
        if first is not None:
            print(f"admin token: {first}", flush=True)
        print(f"aerostudio serve at {url}", flush=True)

    try:
        await _serve_app(api, host, port, announce)
    finally:
        await runtime.aclose()
