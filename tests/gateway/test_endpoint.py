"""The gateway end to end: real upstreams (mcp-server-time, mcp-server-git, our echo server over
stdio and over streamable HTTP), real clients over HTTP on loopback (`mcp.Client` speaking
2026-07-28 and a handshaking `ClientSession`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client, ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client

from engine.gateway.server import GatewayApp
from engine.store.tables import tokens
from tests.gateway.conftest import HERE, echo_server_command, serving

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
BIN = Path(sys.executable).parent
# Starting four upstreams on a busy machine takes longer than httpx2's default 5 s.
TIMEOUT = httpx2.Timeout(60)


def _git_repo(path: Path) -> Path:
    path.mkdir()
    for command in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "first"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *command],
            cwd=path,
            check=True,
        )
    return path


@asynccontextmanager
async def modern(url: str, token: str):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


@asynccontextmanager
async def legacy(url: str, token: str, on_message=None):
    """A 2025-era client: the initialize handshake, a session id."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        await session.initialize()
        yield session


def _text(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def test_real_upstreams_are_aggregated_and_called_by_both_client_eras(gateway, tmp_path):
    repo = _git_repo(tmp_path / "repo")
    ws = gateway.workspaces.create("Team Tools")
    gateway.workspaces.add_server(ws.slug, "time", {"command": str(BIN / "mcp-server-time")})
    gateway.workspaces.add_server(
        ws.slug, "git", {"command": str(BIN / "mcp-server-git"), "args": ["-r", str(repo)]}
    )
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    _, token = gateway.tokens.create(ws.slug, "ana", "developer")
    async with serving(GatewayApp(gateway).app) as base:
        url = f"{base}/ws/{ws.slug}/mcp"
        async with modern(url, token) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert names == sorted(names)
            assert {"time__get_current_time", "git__git_status", "echo__echo"} <= set(names)
            now = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert json.loads(_text(now))["timezone"] == "UTC"
            status = await client.call_tool("git__git_status", {"repo_path": str(repo)})
            assert "On branch" in _text(status)
        async with legacy(url, token) as session:
            listed = [t.name for t in (await session.list_tools()).tools]
            assert listed == names
            echoed = await session.call_tool("echo__echo", {"text": "hi"})
            assert _text(echoed) == "hi"
            resources = (await session.list_resources()).resources
            assert [str(r.uri) for r in resources] == ["aero+echo:notes://today"]
            read = await session.read_resource("aero+echo:notes://today")
            assert read.contents[0].text == "remember the milk"
            prompts = (await session.list_prompts()).prompts
            assert [p.name for p in prompts] == ["echo__greet"]
            prompt = await session.get_prompt("echo__greet", {"name": "Bo"})
            assert "Say hello to Bo" in prompt.messages[0].content.text
    calls = gateway.log.entries(ws.slug)
    assert {(c.tool, c.member, c.outcome) for c in calls} == {
        ("time__get_current_time", "ana", "ok"),
        ("git__git_status", "ana", "ok"),
        ("echo__echo", "ana", "ok"),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_remote_upstream_gets_its_header_from_the_vault(gateway):
    port = _free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(HERE / "echo_server.py"), "--http", str(port)],
        env={"ECHO_API_KEY": "k-123", "PATH": ""},
    )
    try:
        async with httpx2.AsyncClient() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await http.get(f"http://127.0.0.1:{port}/mcp")
                    break
                except httpx2.TransportError:
                    assert time.monotonic() < deadline, "the echo server did not start"
                    await asyncio.sleep(0.05)
        ws = gateway.workspaces.create("remote")
        gateway.vault.set(ws.slug, "ECHO_KEY", "k-123")
        gateway.workspaces.add_server(
            ws.slug,
            "web",
            {
                "url": f"http://127.0.0.1:{port}/mcp",
                "headers": {"X-Api-Key": {"secret": "ECHO_KEY"}},
            },
        )
        result = await gateway.call_tool(ws.slug, "web__key", {})
        # The server answers only requests with the key, and says it back: redacted
        assert result.text == "[redacted]"
    finally:
        await gateway.aclose()
        upstream.kill()
        upstream.wait()


async def test_a_rotated_secret_reaches_the_upstream_without_any_client_change(
    gateway, monkeypatch
):
    monkeypatch.setenv("PARENT_ONLY_SECRET", "do-not-pass")
    ws = gateway.workspaces.create("rotation")
    gateway.workspaces.add_server(
        ws.slug, "echo", {**echo_server_command(), "env": {"TOKEN": {"secret": "API_TOKEN"}}}
    )
    gateway.vault.set(ws.slug, "API_TOKEN", "first-value")
    _, token = gateway.tokens.create(ws.slug, "ci", "admin")
    async with (
        serving(GatewayApp(gateway).app) as base,
        legacy(f"{base}/ws/rotation/mcp", token) as s,
    ):
        # The value arrives (its hash says so); said back, it would be redacted
        sha = await s.call_tool("echo__env_sha256", {"name": "TOKEN"})
        assert _text(sha) == hashlib.sha256(b"first-value").hexdigest()
        assert _text(await s.call_tool("echo__env", {"name": "TOKEN"})) == "[redacted]"
        assert _text(await s.call_tool("echo__env", {"name": "PARENT_ONLY_SECRET"})) == "<unset>"
        gateway.vault.set(ws.slug, "API_TOKEN", "second-value")
        sha = await s.call_tool("echo__env_sha256", {"name": "TOKEN"})
        assert _text(sha) == hashlib.sha256(b"second-value").hexdigest()


async def test_roles_call_by_call(gateway):
    ws = gateway.workspaces.create("roles")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    tokens_by_role = {
        r: gateway.tokens.create(ws.slug, r, r)[1] for r in ("admin", "developer", "viewer")
    }
    expected = {
        ("admin", "echo__echo"): True,
        ("admin", "echo__wipe"): True,
        ("developer", "echo__echo"): True,
        ("developer", "echo__wipe"): True,
        ("viewer", "echo__echo"): True,
        ("viewer", "echo__wipe"): False,
    }
    arguments = {"echo__echo": {"text": "x"}, "echo__wipe": {}}
    async with serving(GatewayApp(gateway).app) as base:
        for role, token in tokens_by_role.items():
            async with modern(f"{base}/ws/roles/mcp", token) as client:
                listed = {t.name for t in (await client.list_tools()).tools}
                assert {"echo__echo", "echo__wipe"} <= listed  # every role lists
                for tool in ("echo__echo", "echo__wipe"):
                    if expected[(role, tool)]:
                        result = await client.call_tool(tool, arguments[tool])
                        assert not result.is_error
                    else:
                        with pytest.raises(MCPError, match="viewer role may only call read-only"):
                            await client.call_tool(tool, arguments[tool])
    denied = gateway.log.entries(ws.slug, outcome="denied")
    assert [(c.member, c.tool) for c in denied] == [("viewer", "echo__wipe")]


async def test_revocation_and_expiry_cut_off_a_connected_client(gateway):
    ws = gateway.workspaces.create("cut")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    revoked, revoked_token = gateway.tokens.create(ws.slug, "bo", "developer")
    expiring, expiring_token = gateway.tokens.create(ws.slug, "cy", "developer", 3600)
    async with serving(GatewayApp(gateway).app) as base:
        url = f"{base}/ws/cut/mcp"
        async with legacy(url, revoked_token) as session:
            assert _text(await session.call_tool("echo__echo", {"text": "a"})) == "a"
            gateway.tokens.revoke(ws.slug, revoked.id)
            with pytest.raises(Exception):  # noqa: B017, PT011  (the 401 ends the transport)
                await asyncio.wait_for(session.call_tool("echo__echo", {"text": "b"}), 10)
        async with legacy(url, expiring_token) as session:
            assert _text(await session.call_tool("echo__echo", {"text": "c"})) == "c"
            with gateway.engine.begin() as db:
                db.execute(
                    tokens.update()
                    .where(tokens.c.id == expiring.id)
                    .values(expires_at=time.time() - 1)
                )
            with pytest.raises(Exception):  # noqa: B017, PT011
                await asyncio.wait_for(session.call_tool("echo__echo", {"text": "d"}), 10)
        async with httpx2.AsyncClient() as http:
            answer = await http.post(
                url, headers={"Authorization": f"Bearer {revoked_token}"}, json={}
            )
            assert answer.status_code == 401
            assert "revoked" in answer.json()["message"]
            answer = await http.post(
                url, headers={"Authorization": f"Bearer {expiring_token}"}, json={}
            )
            assert "expired" in answer.json()["message"]


async def test_rate_limit_host_origin_and_health(gateway):
    ws = gateway.workspaces.create("edge")
    _, token = gateway.tokens.create(ws.slug, "dee", "viewer")
    other_ws = gateway.workspaces.create("other")
    _, other_token = gateway.tokens.create(other_ws.slug, "eve", "admin")
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        serving(GatewayApp(gateway, rate_per_minute=3).app) as base,
        httpx2.AsyncClient() as http,
    ):
        url = f"{base}/ws/edge/mcp"
        assert (await http.get(f"{base}/healthz")).json()["status"] == "ok"
        evil_host = await http.post(url, headers={**auth, "Host": "evil.example"}, json={})
        assert evil_host.status_code == 421
        evil_origin = await http.post(
            url, headers={**auth, "Origin": "http://evil.example"}, json={}
        )
        assert evil_origin.status_code == 403
        assert (await http.post(f"{base}/ws/nope/mcp", headers=auth, json={})).status_code == 404
        wrong_ws = await http.post(url, headers={"Authorization": f"Bearer {other_token}"}, json={})
        assert wrong_ws.status_code == 401
        assert (await http.post(url, json={})).status_code == 401
        statuses = [
            (await http.post(url, headers={**auth, "Origin": base}, json={})).status_code
            for _ in range(3)
        ]
        assert 429 not in statuses and 401 not in statuses
        limited = await http.post(url, headers=auth, json={})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1


async def test_list_changed_reaches_a_session_client_when_a_server_goes(gateway):
    ws = gateway.workspaces.create("changes")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    gateway.workspaces.add_server(ws.slug, "time", {"command": str(BIN / "mcp-server-time")})
    _, token = gateway.tokens.create(ws.slug, "fay", "admin")
    changed = asyncio.Event()

    async def on_message(message):
        if getattr(message, "method", "") == "notifications/tools/list_changed":
            changed.set()

    async with (
        serving(GatewayApp(gateway).app) as base,
        legacy(f"{base}/ws/changes/mcp", token, on_message) as session,
    ):
        before = {t.name for t in (await session.list_tools()).tools}
        assert "time__get_current_time" in before
        gateway.workspaces.set_enabled(ws.slug, "time", False)
        await gateway.stop_server(ws.slug, "time")
        await asyncio.wait_for(changed.wait(), 10)
        after = {t.name for t in (await session.list_tools()).tools}
        assert after == {n for n in before if not n.startswith("time__")}
        gateway.workspaces.set_tool_enabled(ws.slug, "echo", "wipe", False)
        assert "echo__wipe" not in {t.name for t in (await session.list_tools()).tools}


async def test_a_server_switched_off_by_the_cli_reaches_connected_clients(gateway, tmp_path):
    """Another process (the CLI) changes the store; the serving gateway notices and tells its
    session clients, which then list the tools without that server."""
    ws = gateway.workspaces.create("elsewhere")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    gateway.workspaces.add_server(ws.slug, "time", {"command": str(BIN / "mcp-server-time")})
    _, token = gateway.tokens.create(ws.slug, "fay", "admin")
    changed = asyncio.Event()

    async def on_message(message):
        if getattr(message, "method", "") == "notifications/tools/list_changed":
            changed.set()

    async with (
        serving(GatewayApp(gateway, watch_interval_s=0.05).app) as base,
        legacy(f"{base}/ws/elsewhere/mcp", token, on_message) as session,
    ):
        assert "time__get_current_time" in {t.name for t in (await session.list_tools()).tools}
        cli = await asyncio.create_subprocess_exec(
            str(BIN / "aerostudio"), "server", "disable", "time", "-w", ws.slug,
            "--db", str(gateway.engine.url),
        )  # fmt: skip
        assert await cli.wait() == 0
        await asyncio.wait_for(changed.wait(), 10)
        assert not any(t.name.startswith("time__") for t in (await session.list_tools()).tools)
        assert (ws.slug, "time") not in gateway._upstreams  # its process was stopped
