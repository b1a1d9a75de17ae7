"""What the gateway keeps in memory and what it writes later, held to their guarantees across
processes (engine.gateway.fresh, engine.gateway.calllog): a token revoked through the CLI is
refused at the very next request (SQLite and PostgreSQL), every call of a burst is in the log
after a clean stop, and a `kill -9` during a burst takes back no answer a client received and
leaves only whole rows in the log."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from engine.gateway.core import Gateway
from engine.gateway.server import GatewayApp
from engine.gateway.vault import Vault, master_key
from engine.store import create_engine, migrate
from engine.store.tables import calls
from tests.gateway.conftest import HERE, echo_server_command, serving
from tests.postgres import postgres_server  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]
TIMEOUT = httpx2.Timeout(60)


@asynccontextmanager
async def client_of(url: str, token: str) -> AsyncIterator[Any]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def echo(client: Any, text: str) -> None:
    result = await client.call_tool("echo__echo", {"text": text})
    assert "\n".join(c.text for c in result.content if c.type == "text") == text


def env_for(tmp_path: Path) -> dict[str, str]:
    """Another process on the same database and vault key, and no keyring."""
    return {
        **os.environ,
        "AEROSTUDIO_HOME": str(tmp_path / "home"),
        "AEROSTUDIO_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


def gateway_on(url: str, tmp_path: Path) -> Gateway:
    engine = create_engine(url)
    migrate(engine)
    return Gateway(engine, Vault(engine, master_key(tmp_path, use_keyring=False)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    from tests.postgres import new_database

    return new_database(request.getfixturevalue("postgres_server"))


async def test_a_token_revoked_through_the_cli_is_refused_at_the_next_request(
    database, tmp_path, monkeypatch
):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    gateway = gateway_on(database, tmp_path)
    ws = gateway.workspaces.create("Cut")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    revoked, token = gateway.tokens.create(ws.slug, "bo", "developer")
    _, other_token = gateway.tokens.create(ws.slug, "cy", "developer")
    async with serving(GatewayApp(gateway).app) as base, httpx2.AsyncClient() as http:
        url = f"{base}/ws/{ws.slug}/mcp"
        async with client_of(url, token) as client:
            await echo(client, "a")
            await echo(client, "b")  # the token answered from memory by now
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine",
                "token",
                "revoke",
                revoked.id,
                "-w",
                ws.slug,
                "--db",
                database,
                env=env_for(tmp_path),
            )
            assert await asyncio.wait_for(cli.wait(), 60) == 0
            answer = await http.post(url, headers={"Authorization": f"Bearer {token}"}, json={})
            assert answer.status_code == 401
            assert f"token {revoked.id} is revoked" in answer.json()["message"]
            with pytest.raises(Exception):  # noqa: B017, PT011  (the 401 ends the transport)
                await asyncio.wait_for(echo(client, "c"), 10)
        async with client_of(url, other_token) as client:
            await echo(client, "d")  # another member's token still works
    await gateway.aclose()


async def test_every_call_of_a_burst_is_in_the_log_after_a_clean_stop(gateway):
    ws = gateway.workspaces.create("Busy")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    _, token = gateway.tokens.create(ws.slug, "ana", "developer")
    async with serving(GatewayApp(gateway, rate_per_minute=10**6).app) as base:
        url = f"{base}/ws/{ws.slug}/mcp"

        async def caller(n: int) -> None:
            async with client_of(url, token) as client:
                for i in range(125):
                    await echo(client, f"{n}-{i}")

        await asyncio.gather(*(caller(n) for n in range(8)))
    with gateway.engine.connect() as db:  # the table itself: no read through the log's queue
        counted = db.execute(
            sa.select(calls.c.tool, calls.c.member, calls.c.outcome, sa.func.count())
            .where(calls.c.workspace == ws.slug)
            .group_by(calls.c.tool, calls.c.member, calls.c.outcome)
        ).all()
    assert [tuple(row) for row in counted] == [("echo__echo", "ana", "ok", 1000)]
    await gateway.aclose()


@asynccontextmanager
async def gateway_process(url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """The gateway in a process of its own (tests/gateway/gateway_process.py): yields the
    process and its base URL; stopped with SIGTERM if still running at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "gateway_process.py"),
        url,
        stdout=asyncio.subprocess.PIPE,
        env=env_for(tmp_path),
    )
    try:
        assert process.stdout is not None
        port = int((await asyncio.wait_for(process.stdout.readline(), 60)).strip())
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with httpx2.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, "the gateway did not answer /healthz"
                await asyncio.sleep(0.05)
        yield process, base
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 60)


def logged(gateway: Gateway, workspace: str) -> list[Any]:
    with gateway.engine.connect() as db:
        return db.execute(calls.select().where(calls.c.workspace == workspace)).all()


async def test_a_kill_during_a_burst_takes_back_no_answer_and_leaves_whole_rows(gateway, tmp_path):
    ws = gateway.workspaces.create("Crash")
    gateway.workspaces.add_server(ws.slug, "echo", echo_server_command())
    _, token = gateway.tokens.create(ws.slug, "ana", "developer")
    database = str(gateway.engine.url)
    began = time.time()
    answered: list[float] = []  # when each answer arrived (monotonic)
    killed = asyncio.Event()
    async with gateway_process(database, tmp_path) as (process, base):
        url = f"{base}/ws/{ws.slug}/mcp"

        async def caller(n: int) -> None:
            try:
                async with client_of(url, token) as client:
                    for i in range(100_000):
                        await echo(client, f"{n}-{i}")  # each answer checked as it arrives
                        answered.append(time.monotonic())
            except Exception:
                if not killed.is_set():
                    raise

        callers = [asyncio.ensure_future(caller(n)) for n in range(4)]
        deadline = time.monotonic() + 120
        while len(answered) < 300:
            assert time.monotonic() < deadline, f"only {len(answered)} answers in 120 s"
            assert not any(c.done() for c in callers), [c.exception() for c in callers if c.done()]
            await asyncio.sleep(0.01)
        process.kill()
        at, received = time.monotonic(), len(answered)
        killed.set()
        await asyncio.wait_for(process.wait(), 30)
        await asyncio.wait_for(asyncio.gather(*callers), 60)
    rows = logged(gateway, ws.slug)
    with gateway.engine.connect() as db:
        assert db.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    # Whole rows only: every column of every row as the call wrote it.
    for row in rows:
        assert (row.tool, row.server, row.member, row.outcome, row.error) == (
            "echo__echo",
            "echo",
            "ana",
            "ok",
            None,
        )
        assert began <= row.started_at <= time.time() and row.latency_ms >= 0
    # At most the last batch is lost: no answer older than a second before the kill is missing,
    # and no call is logged that was not made (at most one in flight per caller).
    recent = sum(1 for when in answered[:received] if when > at - 1.0)
    assert received - recent <= len(rows) <= len(answered) + len(callers)
    # The database is whole: a new gateway on it logs its calls after them, and on a clean stop.
    async with gateway_process(database, tmp_path) as (process, base):
        async with client_of(f"{base}/ws/{ws.slug}/mcp", token) as client:
            await echo(client, "after")
        process.terminate()  # uvicorn stops gracefully, then ends by the signal it caught
        assert await asyncio.wait_for(process.wait(), 60) in (0, -15)
    assert len(logged(gateway, ws.slug)) == len(rows) + 1
