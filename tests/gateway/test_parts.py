"""The gateway's parts: vault, names, workspaces, tokens, call log, schema versions, and the
supervision of upstream servers (crash, restart, cool-down, a slow one beside a fast one)."""

from __future__ import annotations

import asyncio
import stat

import pytest
import sqlalchemy as sa

from engine.gateway import upstream as upstream_module
from engine.gateway.calllog import Call, redact
from engine.gateway.naming import aggregate, split_resource_uri
from engine.gateway.tokens import AuthError, RateLimiter
from engine.gateway.upstream import UpstreamError
from engine.gateway.vault import (
    KEY_CHECK,
    MasterKeyError,
    SecretNotFound,
    Vault,
    VaultCorrupt,
    master_key,
)
from engine.store import SchemaTooNew, migrate
from engine.store.migrate import VERSION
from engine.store.tables import secrets, settings
from tests.gateway.conftest import echo_server_command


def test_secrets_are_encrypted_with_a_fresh_nonce_and_bound_to_their_name(gateway):
    ws = gateway.workspaces.create("vaulted").slug
    gateway.vault.set(ws, "API_KEY", "s3cr3t-value")
    gateway.vault.set(ws, "OTHER", "s3cr3t-value")
    with gateway.engine.connect() as db:
        rows = {r.name: r for r in db.execute(secrets.select()).all()}
    assert b"s3cr3t" not in rows["API_KEY"].ciphertext
    assert rows["API_KEY"].nonce != rows["OTHER"].nonce
    assert rows["API_KEY"].ciphertext != rows["OTHER"].ciphertext
    assert gateway.vault.get(ws, "API_KEY") == "s3cr3t-value"
    # A ciphertext copied under another name does not decrypt.
    with gateway.engine.begin() as db:
        db.execute(
            secrets.update()
            .where(secrets.c.name == "OTHER")
            .values(nonce=rows["API_KEY"].nonce, ciphertext=rows["API_KEY"].ciphertext)
        )
    with pytest.raises(VaultCorrupt, match="'OTHER'"):
        gateway.vault.get(ws, "OTHER")
    assert [s.name for s in gateway.vault.entries(ws)] == ["API_KEY", "OTHER"]
    gateway.vault.delete(ws, "OTHER")
    with pytest.raises(SecretNotFound, match="no secret 'OTHER'"):
        gateway.vault.get(ws, "OTHER")
    with pytest.raises(ValueError, match="secret name 'bad name'"):
        gateway.vault.set(ws, "bad name", "x")


def test_the_key_file_is_private_and_a_wrong_key_cannot_read(gateway, tmp_path):
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert master_key(tmp_path, use_keyring=False) == master_key(tmp_path, use_keyring=False)
    ws = gateway.workspaces.create("keys").slug
    gateway.vault.set(ws, "TOKEN", "abc")
    stranger = Vault(gateway.engine, bytes(32))
    with pytest.raises(VaultCorrupt):
        stranger.get(ws, "TOKEN")


def test_a_database_from_before_the_key_check_is_checked_against_its_secrets(gateway):
    ws = gateway.workspaces.create("older").slug
    gateway.vault.set(ws, "TOKEN", "abc")
    with gateway.engine.begin() as db:
        db.execute(settings.delete().where(settings.c.key == KEY_CHECK))
    with pytest.raises(MasterKeyError, match="another master key"):
        Vault(gateway.engine, bytes(32)).check_key()
    gateway.vault.check_key()  # the right key passes, and leaves the check for the next ones
    with pytest.raises(MasterKeyError, match="another master key"):
        Vault(gateway.engine, bytes(32)).check_key()
    with gateway.engine.connect() as db:
        assert db.execute(settings.select().where(settings.c.key == KEY_CHECK)).first()


def test_aggregated_names_are_safe_short_unique_and_stable():
    long_tool = "x" * 80
    pairs = [("git", "status"), ("my.server", "do it"), ("my_server", "do_it"), ("s", long_tool)]
    names = aggregate(pairs)
    assert "git__status" in names
    assert all(len(n) <= 64 and n.replace("_", "a").replace("-", "a").isalnum() for n in names)
    assert sorted(names.values()) == sorted(pairs)
    assert list(names) == sorted(names)
    assert aggregate(reversed(pairs)) == names  # the same names whatever the order
    assert split_resource_uri("aero+docs:file:///a.md") == ("docs", "file:///a.md")
    with pytest.raises(ValueError, match="not a resource of this gateway"):
        split_resource_uri("file:///a.md")


def test_workspace_slugs_are_permanent_and_unique(gateway):
    first = gateway.workspaces.create("Support Team")
    second = gateway.workspaces.create("support team!")
    assert (first.slug, second.slug) == ("support-team", "support-team-2")
    renamed = gateway.workspaces.rename(first.slug, "Customer Care")
    assert (renamed.slug, renamed.name) == ("support-team", "Customer Care")
    gateway.workspaces.add_server(first.slug, "echo", echo_server_command())
    gateway.vault.set(first.slug, "K", "v")
    gateway.workspaces.delete(first.slug)
    assert [w.slug for w in gateway.workspaces.all()] == ["support-team-2"]
    assert gateway.vault.entries(first.slug) == []
    with pytest.raises(ValueError, match="needs at least one letter"):
        gateway.workspaces.create("!!!")
    with pytest.raises(ValueError, match="either a command"):
        gateway.workspaces.add_server(second.slug, "x", {"command": "a", "url": "http://b"})


def test_tokens_are_stored_hashed_and_checked_per_workspace(gateway):
    ws = gateway.workspaces.create("tok").slug
    info, token = gateway.tokens.create(ws, "ana", "viewer")
    assert token.startswith(f"aero_{info.id}_") and len(token) >= 43 + 18
    with gateway.engine.connect() as db:
        dump = "".join(str(tuple(r)) for r in db.execute(sa.text("SELECT * FROM aero_tokens")))
    assert token not in dump
    assert gateway.tokens.authenticate(token, ws).role == "viewer"
    with pytest.raises(AuthError, match="unknown token"):
        gateway.tokens.authenticate(token, "elsewhere")
    with pytest.raises(ValueError, match="role 'owner'"):
        gateway.tokens.create(ws, "bo", "owner")


def test_rate_limiter_refills_over_time():
    limiter = RateLimiter(per_minute=2)
    assert limiter.take("t", now=0.0) == 0.0
    assert limiter.take("t", now=0.0) == 0.0
    assert limiter.take("t", now=0.0) == pytest.approx(30.0)
    assert limiter.take("t", now=30.0) == 0.0
    assert limiter.take("other", now=0.0) == 0.0


def test_call_log_usage_redaction_and_retention(gateway):
    log = gateway.log
    for i, (member, latency, outcome) in enumerate(
        [("ana", 10, "ok"), ("ana", 20, "ok"), ("ana", 30, "error"), ("bo", 40, "ok")]
    ):
        log.record(Call("w", "git", "git__status", member, 1000.0 + i, latency, outcome))
    log.record(Call("w", "time", "time__now", "bo", 10.0, 5, "ok"))
    usage = log.usage("w", since=500.0)
    assert usage["member"] == [
        {"member": "ana", "calls": 3, "error_rate": 0.3333, "p50_ms": 20, "p95_ms": 30},
        {"member": "bo", "calls": 1, "error_rate": 0.0, "p50_ms": 40, "p95_ms": 40},
    ]
    assert [line["server"] for line in log.usage("w")["server"]] == ["git", "time"]
    assert redact("token abcd1234 and abcd", ["abcd1234", "abcd"]) == (
        "token [redacted] and [redacted]"
    )
    log.set_retention_days(1)
    assert log.prune(now=1000.0 + 86400) == 1  # only the call at t=10 is older than a day
    assert len(log.entries("w")) == 4


def test_a_database_from_a_newer_version_is_refused(gateway):
    with gateway.engine.begin() as db:
        db.execute(settings.update().values(value=99))
    with pytest.raises(SchemaTooNew, match="schema version 99"):
        migrate(gateway.engine)


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_crashed_server_restarts_and_a_crash_loop_cools_down(gateway, monkeypatch):
    monkeypatch.setattr(upstream_module, "BACKOFF_BASE_S", 0.01)
    ws = gateway.workspaces.create("crashy").slug
    gateway.workspaces.add_server(ws, "echo", echo_server_command())
    try:
        assert (await gateway.call_tool(ws, "echo__echo", {"text": "a"})).text == "a"
        with pytest.raises(LookupError, match="server 'echo'"):
            await gateway.call_tool(ws, "echo__crash", {})
        assert (await gateway.call_tool(ws, "echo__echo", {"text": "b"})).text == "b"
        upstream = await gateway.upstream(ws, "echo")
        assert upstream.restarts == 1
        monkeypatch.setattr(upstream_module, "CRASH_LOOP", (2, 60.0))
        with pytest.raises(LookupError):
            await gateway.call_tool(ws, "echo__crash", {})
        with pytest.raises(LookupError, match="keeps failing; paused for another"):
            await gateway.call_tool(ws, "echo__echo", {"text": "c"})
        errors = gateway.log.entries(ws, outcome="error")
        assert len(errors) == 3
    finally:
        await gateway.aclose()


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_slow_server_does_not_hold_up_another(gateway):
    ws = gateway.workspaces.create("mixed").slug
    gateway.workspaces.add_server(ws, "slowpoke", echo_server_command())
    gateway.workspaces.add_server(ws, "quick", echo_server_command())
    try:
        await gateway.list_tools(ws)  # both started
        slow = asyncio.ensure_future(gateway.call_tool(ws, "slowpoke__slow", {"seconds": 30}))
        quick = await asyncio.wait_for(gateway.call_tool(ws, "quick__echo", {"text": "hi"}), 10)
        assert quick.text == "hi"
        assert not slow.done()
        slow.cancel()
    finally:
        await gateway.aclose()


@pytest.mark.anyio
async def test_a_missing_secret_names_the_variable(gateway):
    ws = gateway.workspaces.create("missing").slug
    gateway.workspaces.add_server(
        ws, "echo", {**echo_server_command(), "env": {"TOKEN": {"secret": "NOPE"}}}
    )
    with pytest.raises(UpstreamError, match="TOKEN: workspace 'missing' has no secret 'NOPE'"):
        await gateway.upstream(ws, "echo")


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent to reap it is gone for our purpose
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_closing_a_server_kills_its_whole_process_tree(gateway):
    import json
    import time

    ws = gateway.workspaces.create("tree").slug
    gateway.workspaces.add_server(ws, "echo", echo_server_command())
    result = await gateway.call_tool(ws, "echo__spawn", {})
    pids = result.structured["result"] if result.structured else json.loads(result.text)
    assert all(_alive(pid) for pid in pids)
    await gateway.aclose()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {pids}"
        await asyncio.sleep(0.05)


def test_a_version_1_database_is_migrated_in_place(gateway):
    from engine.store.tables import deliveries, deployments

    gateway.workspaces.create("kept")
    with gateway.engine.begin() as db:
        deployments.drop(db)
        deliveries.drop(db)
        db.execute(settings.update().values(value=1))
    assert migrate(gateway.engine) == VERSION
    inspector = sa.inspect(gateway.engine)
    assert {"aero_deployments", "aero_deliveries"} <= set(inspector.get_table_names())
    assert [w.slug for w in gateway.workspaces.all()] == ["kept"]
