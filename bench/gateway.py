"""What the gateway adds to a tool call: p50/p95/p99 latency and calls/s at 1 and 8 sessions,
direct and through the gateway, for an HTTP and a stdio echo upstream (issue 18).

Real processes: the echo server of the gateway tests (tests/gateway/echo_server.py) over
streamable HTTP on loopback and over stdio, and `GatewayApp` served by uvicorn in a process of its
own on a fresh SQLite database, its per-token rate limit lifted so that the bench measures the
gateway and not the limiter. Every row uses the same harness: `mcp.Client` sessions calling
`echo`, a few warm-up calls per session first, then --calls calls shared out over the sessions,
each timed from just before the call to its result. "Direct stdio" is one stdio session shared by
the row's concurrent callers, as the gateway shares one upstream session. An mcp-proxy row (stdio
upstream behind it) is added when `mcp-proxy` is on PATH.

    .venv/bin/python bench/gateway.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

ECHO = ROOT / "tests" / "gateway" / "echo_server.py"
ECHO_KEY = "bench-echo-key"
WARM_UP = 5  # calls per session first, not measured: sessions opened, caches filled
SESSIONS = (1, 8)
START_TIMEOUT_S = 30.0

Call = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Row:
    path: str
    sessions: int
    latencies_ms: list[float]
    wall_s: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.wall_s

    @property
    def upstream(self) -> str:
        return self.path.split(" ")[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {START_TIMEOUT_S:g} s")


@contextlib.contextmanager
def process(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    started = subprocess.Popen(args, env={**os.environ, **(env or {})})
    try:
        wait_listening(port, started)
        yield
    finally:
        started.terminate()
        try:
            started.wait(10)
        except subprocess.TimeoutExpired:
            started.kill()
            started.wait()


# ------------------------------------------------------------------------------------ clients


@contextlib.asynccontextmanager
async def http_client(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def stdio_params() -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(ECHO)])


async def measure(
    path: str, sessions: int, calls: int, open_session: Callable[[int], Any], tool: str
) -> Row:
    """`calls` echo calls over `sessions` concurrent callers, each with the session that
    `open_session(i)` opens (the same one for every caller when it is shared)."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(open_session(i)) for i in range(sessions)]

        async def one(client: Any) -> None:
            result = await client.call_tool(tool, {"text": "ping"})
            if result.is_error:
                raise RuntimeError(f"{path}: {tool} failed: {result.content}")

        await asyncio.gather(*(one(c) for c in clients for _ in range(WARM_UP)))
        latencies: list[float] = []

        async def caller(client: Any, count: int) -> None:
            for _ in range(count):
                begun = time.perf_counter()
                await one(client)
                latencies.append((time.perf_counter() - begun) * 1000)

        shares = [calls // sessions + (1 if i < calls % sessions else 0) for i in range(sessions)]
        begun = time.perf_counter()
        await asyncio.gather(*(caller(c, n) for c, n in zip(clients, shares, strict=True)))
        return Row(path, sessions, latencies, time.perf_counter() - begun)


def shared(context: Any) -> Callable[[int], Any]:
    """Every caller of a row on one session: opened by the first, reused by the others."""
    opened: list[Any] = []

    @contextlib.asynccontextmanager
    async def open_session(index: int) -> AsyncIterator[Any]:
        if index == 0:
            async with context() as client:
                opened.append(client)
                yield client
        else:
            yield opened[-1]

    return open_session


# ------------------------------------------------------------------------------------ gateway


def serve_gateway(url: str, port: int) -> None:
    """The gateway's own process (--serve-gateway): rate limit lifted, served by uvicorn."""
    import logging

    import uvicorn

    from engine.gateway import open_gateway
    from engine.gateway.server import GatewayApp

    app = GatewayApp(open_gateway(url), rate_per_minute=10**9)
    logging.getLogger("mcp").setLevel(logging.WARNING)  # no line per session
    uvicorn.run(app.app, host="127.0.0.1", port=port, log_level="warning")


def prepare(url: str, echo_url: str) -> str:
    """The bench workspace (an HTTP echo server whose key is a secret of the vault, and a stdio
    one) and a developer's token."""
    from engine.gateway import open_gateway

    gateway = open_gateway(url)
    slug = gateway.workspaces.create("Bench").slug
    gateway.vault.set(slug, "ECHO_KEY", ECHO_KEY)  # as a team would: its results get redacted
    headers = {"X-Api-Key": {"secret": "ECHO_KEY"}}
    gateway.workspaces.add_server(slug, "web", {"url": echo_url, "headers": headers})
    gateway.workspaces.add_server(slug, "local", {"command": sys.executable, "args": [str(ECHO)]})
    _, token = gateway.tokens.create(slug, "bench", "developer")
    return token


# -------------------------------------------------------------------------------------- table


def table(rows: list[Row]) -> str:
    direct = {(r.upstream, r.sessions): r for r in rows if r.path.startswith("direct")}
    lines = [
        "| path | sessions | p50 ms | p95 ms | p99 ms | calls/s | added p50 ms | of direct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base = None if row.path.startswith("direct") else direct.get((row.upstream, row.sessions))
        added = f"{row.percentile(0.5) - base.percentile(0.5):+.2f}" if base else ""
        ratio = f"{row.per_second / base.per_second:.0%}" if base else ""
        lines.append(
            f"| {row.path} | {row.sessions} | {row.percentile(0.5):.2f} | "
            f"{row.percentile(0.95):.2f} | {row.percentile(0.99):.2f} | {row.per_second:.0f} | "
            f"{added} | {ratio} |"
        )
    return "\n".join(lines)


async def bench(calls: int, work: Path) -> list[Row]:
    echo_port, gateway_port = free_port(), free_port()
    echo_url = f"http://127.0.0.1:{echo_port}/mcp"
    url = f"sqlite:///{work / 'gateway.sqlite'}"
    rows: list[Row] = []
    with process(
        [sys.executable, str(ECHO), "--http", str(echo_port)], echo_port, {"ECHO_API_KEY": ECHO_KEY}
    ):
        token = prepare(url, echo_url)
        gateway_args = [sys.executable, __file__, "--serve-gateway", url, str(gateway_port)]
        with process(gateway_args, gateway_port):
            gateway_url = f"http://127.0.0.1:{gateway_port}/ws/bench/mcp"
            bearer = {"Authorization": f"Bearer {token}"}

            def direct_http(_: int) -> Any:
                return http_client(echo_url, {"X-Api-Key": ECHO_KEY})

            def through(_: int) -> Any:
                return http_client(gateway_url, bearer)

            plans: list[tuple[str, Callable[[int], Any], str]] = [
                ("direct http", direct_http, "echo"),
                ("gateway → http", through, "web__echo"),
                ("direct stdio", shared(lambda: Client(stdio_params())), "echo"),
                ("gateway → stdio", through, "local__echo"),
            ]
            for path, open_session, tool in plans:
                for sessions in SESSIONS:
                    rows.append(await measure(path, sessions, calls, open_session, tool))
                    print(f"  {path}, {sessions} sessions: done", file=sys.stderr, flush=True)
        rows += await proxy_rows(calls)
    return rows


async def proxy_rows(calls: int) -> list[Row]:
    """mcp-proxy in front of one stdio echo server, when it is installed."""
    proxy = shutil.which("mcp-proxy")
    if proxy is None:
        print("  mcp-proxy is not installed: its rows are left out", file=sys.stderr)
        return []
    port = free_port()
    args = [proxy, "--host", "127.0.0.1", "--port", str(port), sys.executable, str(ECHO)]
    rows = []
    with process(args, port):

        def open_session(_: int) -> Any:
            return http_client(f"http://127.0.0.1:{port}/mcp", {})

        for sessions in SESSIONS:
            rows.append(await measure("mcp-proxy → stdio", sessions, calls, open_session, "echo"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="measured calls per row")
    parser.add_argument("--serve-gateway", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_gateway:
        serve_gateway(args.serve_gateway[0], int(args.serve_gateway[1]))
        return 0
    if args.calls < max(SESSIONS):
        parser.error(f"--calls: at least {max(SESSIONS)}")
    with tempfile.TemporaryDirectory(prefix="aerostudio-bench-") as work:
        os.environ["AEROSTUDIO_HOME"] = str(Path(work) / "home")
        os.environ.setdefault("AEROSTUDIO_MASTER_KEY_FILE", str(Path(work) / "master.key"))
        _key_file(Path(os.environ["AEROSTUDIO_MASTER_KEY_FILE"]))
        rows = asyncio.run(bench(args.calls, Path(work)))
    print(f"{args.calls} calls per row, {WARM_UP} warm-up calls per session first")
    print(table(rows))
    print("targets: added p50 at 1 session (http) <= 1 ms; calls/s at 8 sessions >= 80% of direct")
    return 0


def _key_file(path: Path) -> None:
    """A master key file of its own, so the bench touches no keyring."""
    if path.exists():
        return
    from engine.gateway.vault import write_key_file

    write_key_file(path, os.urandom(32))


if __name__ == "__main__":
    sys.exit(main())
