"""Through the gateway, a server that echoes the secret it was given, in its answers, its errors
and its traceback: the client, the call log and the gateway's stderr get `[redacted]`."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from engine.gateway.server import GatewayApp
from engine.redaction import MARKER
from tests.api.served import serving as serve_process
from tests.gateway.conftest import HERE, serving
from tests.planted import NAME, PLANTED, assert_clean, clean_cli, leaks

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
LEAKY = {
    "command": sys.executable,
    "args": [str(HERE / "leaky_server.py")],
    "env": {NAME: {"secret": NAME}},
}


def _client(url: str, token: str, http: httpx2.AsyncClient) -> Client:
    http.headers["Authorization"] = f"Bearer {token}"
    return Client(streamable_http_client(url, http_client=http))


async def test_tool_results_and_the_call_log_hold_no_secret(gateway, tmp_path):
    ws = gateway.workspaces.create("Ops")
    gateway.vault.set(ws.slug, NAME, PLANTED)
    gateway.workspaces.add_server(ws.slug, "leaky", LEAKY)
    _, token = gateway.tokens.create(ws.slug, "ana", "developer")
    hidden = base64.b64encode(f"user:{PLANTED}".encode()).decode()
    async with (
        serving(GatewayApp(gateway).app) as base,
        httpx2.AsyncClient(timeout=httpx2.Timeout(60)) as http,
        _client(f"{base}/ws/{ws.slug}/mcp", token, http) as client,
    ):
        shown = await client.call_tool("leaky__environment", {})
        refused = await client.call_tool("leaky__refuse", {"name": NAME})
        said = await client.call_tool("leaky__say", {"text": f"Basic {hidden}"})
    for result in (shown, refused, said):
        assert_clean(result.model_dump_json(), "a tool result the gateway returned")
    assert shown.structured_content["plain"][NAME] == MARKER
    assert shown.structured_content["base64"][NAME] == MARKER
    assert shown.structured_content["plain"]["PATH"]  # the environment really was shown
    assert refused.is_error and MARKER in refused.content[0].text
    assert said.content[0].text.startswith("Basic ") and MARKER in said.content[0].text
    logged = gateway.log.entries(ws.slug)
    assert [c.outcome for c in logged] == ["ok", "tool_error", "ok"]  # newest first
    assert MARKER in (logged[1].error or "")
    assert_clean(repr(logged), "the call log")
    assert not list(leaks(tmp_path))


async def test_a_rotated_secret_is_redacted_at_the_next_call(gateway):
    ws = gateway.workspaces.create("Ops")
    gateway.vault.set(ws.slug, NAME, "first-value-of-the-token")
    gateway.workspaces.add_server(ws.slug, "leaky", LEAKY)
    first = await gateway.call_tool(ws.slug, "leaky__environment", {})
    gateway.vault.set(ws.slug, NAME, PLANTED)
    second = await gateway.call_tool(ws.slug, "leaky__environment", {})
    await gateway.aclose()
    assert first.structured["plain"][NAME] == second.structured["plain"][NAME] == MARKER
    assert_clean(json.dumps(second.structured), "a flow's tool result")


def _server_logs(home: Path) -> str:
    """What the gateway keeps of its servers' stderr in the data folder, if anything."""
    folder = home / "logs"
    return "".join(p.read_text() for p in sorted(folder.rglob("*.log*"))) if folder.is_dir() else ""


async def test_a_traceback_with_the_secret_reaches_the_logs_redacted(gateway, capfd, tmp_path):
    ws = gateway.workspaces.create("Ops")
    gateway.vault.set(ws.slug, NAME, PLANTED)
    gateway.workspaces.add_server(ws.slug, "leaky", LEAKY)
    with pytest.raises(LookupError):
        await gateway.call_tool(ws.slug, "leaky__traceback", {"name": NAME})
    await gateway.aclose()
    err = ""
    deadline = time.monotonic() + 30
    while "login failed with" not in err + _server_logs(tmp_path / "home"):
        assert time.monotonic() < deadline, "the traceback reached neither stderr nor a log"
        await asyncio.sleep(0.05)
        err += capfd.readouterr().err
    for where, text in (("stderr", err), ("the server's log", _server_logs(tmp_path / "home"))):
        assert_clean(text, f"the gateway's {where}")
        if "login failed with" in text:
            assert f"login failed with {MARKER}" in text


def test_a_served_gateway_logs_an_upstream_traceback_redacted(tmp_path):
    home = tmp_path / "home"
    clean_cli(home, "workspace", "create", "ops")
    clean_cli(home, "secret", "set", "-w", "ops", NAME, stdin=PLANTED)
    args = ["--command", sys.executable, "--arg", str(HERE / "leaky_server.py")]
    clean_cli(home, "server", "add", "-w", "ops", "leaky", *args, "--env-secret", f"{NAME}={NAME}")
    made = clean_cli(home, "token", "create", "-w", "ops", "--member", "bo", "--role", "developer")
    token = made.stdout.split()[-1]
    log = tmp_path / "serve.log"
    with serve_process(home, stderr=log) as served:

        async def crash() -> None:
            async with (
                httpx2.AsyncClient(timeout=httpx2.Timeout(60)) as http,
                _client(f"{served.url}/ws/ops/mcp", token, http) as client,
            ):
                result = await client.call_tool("leaky__traceback", {"name": NAME})
                assert result.is_error

        asyncio.run(crash())
        deadline = time.monotonic() + 30
        while "login failed with" not in log.read_text() + _server_logs(home):
            assert time.monotonic() < deadline, "the traceback reached neither stderr nor a log"
            time.sleep(0.05)
    for where, text in (("stderr", log.read_text()), ("server logs", _server_logs(home))):
        assert_clean(text, f"aerostudio serve's {where}")
        if "login failed with" in text:
            assert f"login failed with {MARKER}" in text
    assert not list(leaks(home))
