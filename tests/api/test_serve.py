"""`aerostudio serve` as a real process on loopback: its first admin, `aerostudio admin-token`,
members with roles, and each workspace's gateway reached with its members' tokens."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from engine.flow import to_document
from tests.flow.builders import edge, end, flow, trigger
from tests.gateway.conftest import echo_server_command

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]
PATIENT = httpx2.Timeout(60)  # a loaded machine starts the echo server slowly


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _env(home: Path) -> dict[str, str]:
    """A private data directory, and never the machine's keyring."""
    return {
        **os.environ,
        "AEROSTUDIO_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


@asynccontextmanager
async def aerostudio_serve(home: Path, *args: str) -> AsyncIterator[tuple[str, list[str]]]:
    """`aerostudio serve --port 0 ARGS` until the block ends (then SIGTERM, and a clean exit):
    its URL, and what it printed before saying where it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine",
        "serve",
        "--port",
        "0",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(home),
    )
    assert process.stdout is not None and process.stderr is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not printed or not printed[-1].startswith("aerostudio serve at "):
                line = await process.stdout.readline()
                if not line:
                    error = (await process.stderr.read()).decode()
                    raise AssertionError(f"aerostudio serve exited: {printed} {error}")
                printed.append(line.decode().strip())
        yield printed[-1].removeprefix("aerostudio serve at "), printed[:-1]
    finally:
        if process.returncode is None:
            process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


def _admin_token(printed: list[str]) -> str:
    [line] = printed
    assert line.startswith("admin token: aero_")
    return line.removeprefix("admin token: ")


def _mint(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "admin-token", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return _admin_token(done.stdout.splitlines())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me(url: str, token: str) -> httpx2.Response:
    async with httpx2.AsyncClient(base_url=url, timeout=PATIENT) as http:
        return await http.get("/api/me", headers=_bearer(token))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_the_first_start_prints_an_admin_token_once_and_admin_token_mints_more(
    tmp_path, request, database
):
    home = tmp_path / "home"
    db = ["--db", request.getfixturevalue("postgres_url")] if database == "postgresql" else []
    async with aerostudio_serve(home, *db) as (url, printed):
        first = _admin_token(printed)
        me = await _me(url, first)
        assert me.json() == {
            "member": "admin",
            "role": "admin",
            "token_id": first[5:17],
            "workspaces": None,  # an admin has them all
        }
    async with aerostudio_serve(home, *db) as (url, printed):
        assert printed == []  # the token was shown once, at the first start
        assert (await _me(url, first)).json()["role"] == "admin"
        minted = await asyncio.to_thread(_mint, home, *db, "--member", "ops")
        assert minted != first
        assert (await _me(url, minted)).json()["member"] == "ops"
        refused = await _me(url, minted + "x")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="aerostudio"'


CHAIN = flow([trigger(), end("done", "hi {{ input.name }}")], [edge("start", "done")])


async def test_members_get_what_their_role_allows_until_revoked(tmp_path):
    async with aerostudio_serve(tmp_path / "home") as (url, printed):
        admin = _bearer(_admin_token(printed))
        async with httpx2.AsyncClient(base_url=url, timeout=PATIENT) as http:
            tokens = {}
            for role in ("viewer", "developer"):
                added = await http.post(
                    "/api/members", json={"member": f"a {role}", "role": role}, headers=admin
                )
                assert (added.status_code, added.json()["role"]) == (201, role)
                tokens[role] = _bearer(added.json()["token"])
            run = {"flow": to_document(CHAIN), "input": {"name": "ana"}}
            refused = await http.post("/api/runs", json=run, headers=tokens["viewer"])
            assert refused.status_code == 403
            assert refused.json()["needs"] == "developer"
            assert "developer role" in refused.json()["message"]
            started = await http.post("/api/runs", json=run, headers=tokens["developer"])
            assert started.status_code == 201
            run_id = started.json()["run_id"]
            async with asyncio.timeout(30):
                while True:
                    seen = await http.get(f"/api/runs/{run_id}", headers=tokens["viewer"])
                    if seen.json()["status"] == "succeeded":
                        break
                    await asyncio.sleep(0.05)
            assert seen.json()["output"] == "hi ana"
            listing = await http.get("/api/members", headers=tokens["developer"])
            assert listing.status_code == 403 and listing.json()["needs"] == "admin"
            members = (await http.get("/api/members", headers=admin)).json()["members"]
            assert [(m["member"], m["role"]) for m in members] == [
                ("admin", "admin"),
                ("a viewer", "viewer"),
                ("a developer", "developer"),
            ]
            assert all("token" not in m and "hash" not in m for m in members)
            viewer_id = members[1]["id"]
            assert (await http.delete(f"/api/members/{viewer_id}", headers=admin)).is_success
            cut_off = await http.get("/api/runs", headers=tokens["viewer"])
            assert (cut_off.status_code, cut_off.json()["message"]) == (
                401,
                f"token {viewer_id} is revoked",
            )


def _text(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def test_each_workspace_gateway_is_served_to_its_members_tokens(tmp_path):
    async with (
        aerostudio_serve(tmp_path / "home", "--allow-stdio-servers") as (url, printed),
        httpx2.AsyncClient(
            base_url=url, headers=_bearer(_admin_token(printed)), timeout=PATIENT
        ) as admin,
    ):
        slug = (await admin.post("/api/workspaces", json={"name": "Team"})).json()["slug"]
        added = await admin.post(
            f"/api/workspaces/{slug}/servers",
            json={"name": "echo", "config": echo_server_command()},
        )
        assert added.status_code == 201
        made = await admin.post(
            f"/api/workspaces/{slug}/tokens", json={"member": "bo", "role": "viewer"}
        )
        viewer = made.json()["token"]
        endpoint = f"{url}/ws/{slug}/mcp"
        async with (
            httpx2.AsyncClient(headers=_bearer(viewer), timeout=PATIENT) as http,
            Client(streamable_http_client(endpoint, http_client=http)) as client,
        ):
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"echo__echo", "echo__wipe"} <= names
            assert _text(await client.call_tool("echo__echo", {"text": "hi"})) == "hi"
            with pytest.raises(MCPError, match="read-only"):
                await client.call_tool("echo__wipe", {})
        # the server's own members hold tokens for the engine API, not for a workspace's tools
        outsider = await admin.post(endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert outsider.status_code == 401
        calls = (await admin.get(f"/api/workspaces/{slug}/calls")).json()["calls"]
        assert {(c["tool"], c["member"], c["outcome"]) for c in calls} == {
            ("echo__echo", "bo", "ok"),
            ("echo__wipe", "bo", "denied"),
        }
