"""One upstream cannot stall the gateway: a stdio server writing a 300 MiB line, flooding stdout
with what is not JSON-RPC, or flooding stderr, against `aerostudio serve` as a real process,
while another workspace's server is called through the same gateway."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.served import aerostudio, serving
from tests.gateway.conftest import HERE

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]
MIB = 1024 * 1024
LIMIT = 16 * MIB  # the default line limit


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Gateway(NamedTuple):
    process: subprocess.Popen[str]
    url: str
    home: Path
    stderr: Path
    tokens: dict[str, str]  # workspace -> a developer's token


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Workspaces `flood` and `loud` with the flooding server, `calm` with the echo server."""
    home = tmp_path_factory.mktemp("upstream-limits")
    tokens = {}
    for workspace, name, script in (
        ("flood", "big", "flooding_server.py"),
        ("calm", "echo", "echo_server.py"),
        ("loud", "big", "flooding_server.py"),
    ):
        aerostudio(home, "workspace", "create", workspace)
        command = ["--command", sys.executable, "--arg", str(HERE / script)]
        aerostudio(home, "server", "add", "-w", workspace, name, *command)
        made = aerostudio(
            home, "token", "create", "-w", workspace, "--member", "d", "--role", "developer"
        )
        tokens[workspace] = made.stdout.split()[-1]
    stderr = home / "serve.stderr"
    with serving(home, stderr=stderr) as running:
        yield Gateway(running.process, running.url, home, stderr, tokens)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client(served: Gateway, workspace: str, http: httpx2.AsyncClient) -> Client:
    http.headers["Authorization"] = f"Bearer {served.tokens[workspace]}"
    return Client(streamable_http_client(f"{served.url}/ws/{workspace}/mcp", http_client=http))


async def test_a_300_mib_line_stops_its_server_while_other_calls_stay_fast(served):
    """A server writing one 300 MiB line took 9 CPU-minutes and 575 MB in the SDK's reader,
    and other workspaces' calls took 2-8 s meanwhile."""
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(120)) as flood_http,
        httpx2.AsyncClient(timeout=httpx2.Timeout(120)) as calm_http,
        _client(served, "flood", flood_http) as flood,
        _client(served, "calm", calm_http) as calm,
    ):
        assert (await flood.call_tool("big__hello", {})).content[0].text == "hi"
        assert (await calm.call_tool("echo__echo", {"text": "warm"})).content[0].text == "warm"
        before = _rss(served.process.pid)
        flooding = asyncio.ensure_future(flood.call_tool("big__line", {"mib": 300}))
        slowest, peak = 0.0, before
        while not flooding.done():
            began = time.monotonic()
            said = await calm.call_tool("echo__echo", {"text": "still here"})
            slowest = max(slowest, time.monotonic() - began)
            assert said.content[0].text == "still here"
            peak = max(peak, _rss(served.process.pid))
            await asyncio.sleep(0.02)
        stopped = await flooding
        assert stopped.is_error
        assert stopped.content[0].text == (
            f"server 'flood/big' wrote a line longer than {LIMIT:,} bytes to stdout "
            "(the limit, AEROSTUDIO_STDIO_LINE_BYTES); it was stopped"
        )
        assert slowest < 1.0, slowest
        assert peak - before < 120 * MIB, (peak - before) / MIB
        # the usual restart after a backoff: the server answers again
        assert (await flood.call_tool("big__hello", {})).content[0].text == "hi"


async def test_a_flood_of_what_is_not_json_rpc_stops_its_server_cheaply(served):
    """A server flooding stdout with non-JSON burned 112 s of CPU in the gateway."""
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(120)) as http,
        _client(served, "flood", http) as flood,
    ):
        cpu = _cpu_s(served.process.pid)
        stopped = await flood.call_tool("big__noise", {"mib": 200})
        assert stopped.is_error
        assert "that are not JSON-RPC messages (logs belong on stderr); it was stopped" in (
            stopped.content[0].text
        )
        assert _cpu_s(served.process.pid) - cpu < 5
        assert (await flood.call_tool("big__hello", {})).content[0].text == "hi"


async def test_a_stderr_flood_is_capped_and_rotated(served):
    """A 220 MB log flood went into the gateway's own stderr."""
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(120)) as http,
        _client(served, "loud", http) as loud,
    ):
        logged = await loud.call_tool("big__log", {"mib": 40})
        assert logged.content[0].text == "logged"
    log = served.home / "logs" / "servers" / "loud_big.log"
    deadline = time.monotonic() + 30
    while (not log.exists() or log.stat().st_size < MIB - 4096) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert MIB - 4096 <= log.stat().st_size <= MIB + 4096  # a minute's share, 40 MiB written
    assert "a log line from the flooding server" in log.read_text()
    echoed = [x for x in served.stderr.read_text().splitlines() if x.startswith("[loud/big]")]
    assert len(echoed) == 100  # a minute's share
    assert echoed[-1].endswith(f"(more in {log})")


def test_a_server_log_is_rotated_and_its_lines_cut_and_redacted(tmp_path, monkeypatch):
    from engine.gateway import stdio

    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    monkeypatch.setattr(stdio, "LOG_BYTES_PER_MINUTE", 100 * MIB)
    log = stdio.ServerLog("ws/rotated", lambda text: text.replace("hunter2", "[redacted]"))
    for _ in range(3 * 1024):
        log.line(b"password hunter2 " + b"y" * 1000)
    log.line(b"z" * (stdio.STDERR_LINE_MAX + 10))
    files = sorted(log.path.parent.glob("ws_rotated.log*"))
    assert [f.name for f in files] == ["ws_rotated.log", "ws_rotated.log.1"]
    assert sum(f.stat().st_size for f in files) <= 2 * MIB + stdio.STDERR_LINE_MAX + 2048
    text = "".join(f.read_text() for f in files)
    assert "hunter2" not in text and "password [redacted] " in text
    assert max(len(line) for line in text.splitlines()) == stdio.STDERR_LINE_MAX


async def test_the_gateway_alone_refuses_a_body_past_its_limit(gateway):
    from engine.gateway.server import GatewayApp
    from tests.api.test_limits import _after_headers, _raw_post
    from tests.gateway.conftest import serving

    gateway.workspaces.create("calm")
    async with serving(GatewayApp(gateway).app) as base:
        size = str(LIMIT + 1)
        answer = await asyncio.to_thread(
            _raw_post, base, "/ws/calm/mcp", {"Content-Length": size}, _after_headers(0)
        )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"16,777,216 bytes" in answer
