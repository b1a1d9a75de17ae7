"""`aerostudio gateway`, `bridge`, `workspace`, `server`, `secret`, `token`, `usage`, `log`,
`import-config` and `client-config`, run in-process against the data directory's gateway."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import mcp.client.stdio  # noqa: F401  (see below)
import pytest

from engine.cli import main
from engine.gateway import open_gateway

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "tests" / "gateway" / "echo_server.py"

# The SDK binds a stdio server's stderr to `sys.stderr` when `mcp.client.stdio` is imported.
# Imported here, at collection, that is pytest's session-long capture file, not the short-lived
# buffer of one test's capsys, which has no file descriptor and is closed after the test.


@pytest.fixture(autouse=True)
def _no_keyring(monkeypatch):
    """The master key goes to the private data directory's key file, never the OS keyring."""
    monkeypatch.setattr("engine.gateway.vault._keyring_usable", lambda: False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def acme() -> str:
    return open_gateway().workspaces.create("Acme").slug


@pytest.fixture
def echo(acme) -> str:
    open_gateway().workspaces.add_server(acme, "echo", {"command": sys.executable, "args": [ECHO]})
    return "echo"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------- workspaces


def test_workspace_create_adds_a_number_when_the_slug_is_taken(capsys):
    code, out, _ = run(capsys, "workspace", "create", "Acme Corp")
    assert code == 0
    assert "slug acme-corp" in out
    second = run_json(capsys, "workspace", "create", "acme corp")
    assert second["slug"] == "acme-corp-2"


def test_workspace_list_json_shows_stored_and_built_in_workspaces(capsys, acme):
    records = run_json(capsys, "workspace", "list")
    assert [(r["slug"], r["builtin"]) for r in records] == [("acme", False), ("demo", True)]


def test_workspace_rename_keeps_the_slug(capsys, acme):
    code, out, _ = run(capsys, "workspace", "rename", acme, "Acme Industries")
    assert code == 0
    assert "'Acme Industries'" in out
    assert open_gateway().workspaces.get("acme").name == "Acme Industries"


def test_workspace_delete_with_yes_deletes_it(capsys, acme):
    code, out, _ = run(capsys, "workspace", "delete", acme, "--yes")
    assert code == 0
    assert "deleted workspace acme" in out
    assert open_gateway().workspaces.all() == []


def test_workspace_delete_without_a_terminal_or_yes_is_a_usage_error(capsys, acme, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code, _, err = run(capsys, "workspace", "delete", acme)
    assert code == 2
    assert "--yes" in one_line(err)
    assert [w.slug for w in open_gateway().workspaces.all()] == ["acme"]


def test_an_unknown_workspace_is_an_error_naming_the_existing_ones(capsys, acme):
    code, _, err = run(capsys, "server", "list", "--workspace", "acne")
    assert code == 1
    line = one_line(err)
    assert "no workspace 'acne'" in line
    assert "acme, demo" in line


# ---------------------------------------------------------------------------------- servers


def test_server_add_with_an_env_secret_stores_a_reference_and_says_it_is_missing(capsys, acme):
    code, out, _ = run(
        capsys,
        *("server", "add", "github", "-w", acme, "--command", "npx", "--arg=-y"),
        *("--arg", "server-github", "--env", "LEVEL=debug", "--env-secret", "TOKEN=GITHUB_PAT"),
    )
    assert code == 0
    assert "aerostudio secret set GITHUB_PAT --workspace acme" in out
    [record] = run_json(capsys, "server", "list", "-w", acme)
    assert record["config"] == {
        "command": "npx",
        "args": ["-y", "server-github"],
        "env": {"LEVEL": "debug", "TOKEN": {"secret": "GITHUB_PAT"}},
    }
    assert record["enabled"] is True
    code, out, _ = run(capsys, "server", "list", "-w", acme)
    assert "TOKEN=<secret GITHUB_PAT>" in out


def test_server_add_remote_with_a_header_secret(capsys, acme):
    argv = ["server", "add", "docs", "-w", acme, "--url", "https://example.com/sse"]
    code, _, _ = run(capsys, *argv, "--transport", "sse", "--header-secret", "X-Key=DOCS_KEY")
    assert code == 0
    server = open_gateway().workspaces.server(acme, "docs")
    assert server.kind == "sse"
    assert server.config["headers"] == {"X-Key": {"secret": "DOCS_KEY"}}


def test_server_disable_enable_and_remove(capsys, acme, echo):
    assert run(capsys, "server", "disable", echo, "-w", acme)[0] == 0
    assert run_json(capsys, "server", "list", "-w", acme)[0]["enabled"] is False
    assert run(capsys, "server", "enable", echo, "-w", acme)[0] == 0
    assert run(capsys, "server", "disable", echo, "-w", acme, "--tool", "wipe")[0] == 0
    [record] = run_json(capsys, "server", "list", "-w", acme)
    assert (record["enabled"], record["disabled_tools"]) == (True, ["wipe"])
    code, out, _ = run(capsys, "server", "remove", echo, "-w", acme)
    assert (code, "removed server 'echo'" in out) == (0, True)
    code, _, err = run(capsys, "server", "remove", echo, "-w", acme)
    assert code == 1
    assert "has no server 'echo'" in one_line(err)


@pytest.mark.parametrize(
    "extra",
    [
        ["--command", "npx", "--transport", "sse"],
        ["--command", "npx", "--env", "NOEQUALS"],
        ["--url", "https://example.com/mcp", "--env", "A=b"],
    ],
)
def test_server_add_with_options_that_do_not_fit_is_a_usage_error(capsys, acme, extra):
    code, _, err = run(capsys, "server", "add", "x", "-w", acme, *extra)
    assert code == 2
    one_line(err)


def test_server_add_without_command_or_url_is_a_usage_error(acme):
    with pytest.raises(SystemExit) as exited:
        main(["server", "add", "x", "-w", acme])
    assert exited.value.code == 2


def test_server_add_with_a_bad_name_is_a_failed_check(capsys, acme):
    code, _, err = run(capsys, "server", "add", "a__b", "-w", acme, "--command", "npx")
    assert code == 1
    assert "server name 'a__b'" in one_line(err)


def test_server_tools_starts_the_server_and_lists_annotations_and_disabled_tools(capfd, acme, echo):
    # capfd: the server process writes its stderr to ours, which must be a real file
    run(capfd, "server", "disable", echo, "-w", acme, "--tool", "wipe")
    code, out, err = run(capfd, "server", "tools", echo, "-w", acme, "--json")
    assert code == 0, err
    assert "starting echo..." in err
    tools = {t["name"]: t for t in json.loads(out)}
    assert tools["echo"]["read_only"] is True
    assert tools["wipe"]["destructive"] is True
    assert tools["wipe"]["disabled"] is True
    assert tools["echo"]["disabled"] is False


def test_server_tools_of_a_server_with_a_missing_secret_fails_with_a_hint(capsys, acme):
    argv = ["server", "add", "echo", "-w", acme, "--command", sys.executable, f"--arg={ECHO}"]
    run(capsys, *argv, "--env-secret", "KEY=NOT_SET")
    code, _, err = run(capsys, "server", "tools", "echo", "-w", acme)
    assert code == 1
    assert "workspace acme: server 'echo'" in err
    assert "NOT_SET" in err


# ---------------------------------------------------------------------------------- secrets


def _cli(*argv: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
        timeout=60,
    )


def test_secret_set_reads_the_value_from_stdin_and_never_prints_it(acme):
    value = "s3cr3t-value-42"
    done = _cli("secret", "set", "API_KEY", "--workspace", acme, stdin=value + "\n")
    assert done.returncode == 0, done.stderr
    assert value not in done.stdout + done.stderr
    assert open_gateway().vault.get(acme, "API_KEY") == value
    listed = _cli("secret", "list", "--workspace", acme, "--json", stdin="")
    assert [s["name"] for s in json.loads(listed.stdout)] == ["API_KEY"]
    assert value not in listed.stdout


def test_secret_set_refuses_an_empty_value(acme):
    done = _cli("secret", "set", "API_KEY", "--workspace", acme, stdin="")
    assert done.returncode == 2
    assert "empty" in done.stderr


def test_secret_set_has_no_option_for_the_value(acme):
    from engine.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command")
    secret = commands.choices["secret"]
    verbs = next(a for a in secret._actions if a.dest == "verb")
    options = {o for a in verbs.choices["set"]._actions for o in a.option_strings}
    assert options == {"-h", "--help", "--workspace", "-w", "--db"}
    with pytest.raises(SystemExit) as exited:
        main(["secret", "set", "API_KEY", "-w", acme, "--value", "oops"])
    assert exited.value.code == 2


def test_secret_set_on_a_terminal_asks_without_echo(capsys, acme, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt: "typed-value")
    code, out, _ = run(capsys, "secret", "set", "TYPED", "-w", acme)
    assert code == 0
    assert "typed-value" not in out
    assert open_gateway().vault.get(acme, "TYPED") == "typed-value"


def test_secret_delete(capsys, acme):
    open_gateway().vault.set(acme, "OLD", "value")
    assert run(capsys, "secret", "delete", "OLD", "-w", acme)[0] == 0
    assert open_gateway().vault.entries(acme) == []
    code, _, err = run(capsys, "secret", "delete", "OLD", "-w", acme)
    assert code == 1
    assert "no secret 'OLD'" in one_line(err)


def test_servers_sharing_a_database_share_the_key_a_file_carries(
    capsys, acme, tmp_path, monkeypatch
):
    """Two data directories stand for two machines with their own master keys, on one database:
    the second refuses to start with its own key, and works with the first one's exported key."""
    db = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("AEROSTUDIO_HOME", str(machine_a))
    open_gateway(db).workspaces.create("Acme")
    open_gateway(db).vault.set("acme", "API_KEY", "s3cr3t-shared")

    monkeypatch.setenv("AEROSTUDIO_HOME", str(machine_b))
    code, out, err = run(capsys, "secret", "list", "-w", "acme", "--db", db)
    assert code == 1
    assert "written with another master key" in one_line(err)
    assert "AEROSTUDIO_MASTER_KEY_FILE" in err and "s3cr3t" not in out + err

    monkeypatch.setenv("AEROSTUDIO_HOME", str(machine_a))
    key_file = tmp_path / "shared.key"
    assert run(capsys, "secret", "export-key", str(key_file), "--db", db)[0] == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    code, _, err = run(capsys, "secret", "export-key", str(key_file), "--db", db)
    assert code == 1 and "never overwritten" in err

    monkeypatch.setenv("AEROSTUDIO_HOME", str(machine_b))
    monkeypatch.setenv("AEROSTUDIO_MASTER_KEY_FILE", str(key_file))
    assert open_gateway(db).vault.get("acme", "API_KEY") == "s3cr3t-shared"


@pytest.mark.parametrize(
    ("content", "mode", "expected"),
    [
        (None, 0o600, "No such file"),
        ("not a key\n", 0o600, "is not a master key"),
        (base64.b64encode(bytes(32)).decode(), 0o644, "may be read by others (mode 644)"),
    ],
)
def test_a_bad_shared_key_file_is_named(
    capsys, acme, tmp_path, monkeypatch, content, mode, expected
):
    key_file = tmp_path / "given.key"
    if content is not None:
        key_file.write_text(content)
        key_file.chmod(mode)
    monkeypatch.setenv("AEROSTUDIO_MASTER_KEY_FILE", str(key_file))
    code, _, err = run(capsys, "secret", "list", "-w", acme)
    assert code == 1
    assert f"AEROSTUDIO_MASTER_KEY_FILE: {key_file}" in one_line(err) and expected in err


# ----------------------------------------------------------------------------------- tokens


def test_token_create_list_and_revoke(capsys, acme):
    code, out, err = run(
        capsys, "token", "create", "-w", acme, "--member", "ann", "--role", "viewer"
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("aero_")
    assert "not shown again" in err
    member = open_gateway().tokens.authenticate(token, acme)
    assert (member.name, member.role) == ("ann", "viewer")
    [listed] = run_json(capsys, "token", "list", "-w", acme)
    assert (listed["id"], listed["member"], listed["state"]) == (member.token_id, "ann", "active")
    assert token not in json.dumps(listed)
    assert run(capsys, "token", "revoke", member.token_id, "-w", acme)[0] == 0
    assert run_json(capsys, "token", "list", "-w", acme)[0]["state"] == "revoked"
    code, out, _ = run(capsys, "token", "list", "-w", acme)
    assert "revoked" in out
    code, _, err = run(capsys, "token", "revoke", member.token_id, "-w", acme)
    assert code == 1
    assert "token list --workspace acme" in one_line(err)


def test_token_create_with_expiry(capsys, acme):
    created = run_json(
        capsys,
        "token",
        "create",
        "-w",
        acme,
        "--member",
        "bo",
        "--role",
        "admin",
        "--expires",
        "12h",
    )
    assert created["expires_at"] - created["created_at"] == pytest.approx(12 * 3600)
    code, _, err = run(
        capsys,
        "token",
        "create",
        "-w",
        acme,
        "--member",
        "bo",
        "--role",
        "admin",
        "--expires",
        "1y",
    )
    assert code == 2
    assert "30d" in one_line(err)


# ------------------------------------------------------------------------------- usage, log


async def _call_echo(workspace: str) -> None:
    gateway = open_gateway()
    try:
        result = await gateway.call_tool(workspace, "echo__echo", {"text": "hi"}, caller="carol")
        assert result.text == "hi"
        failed = await gateway.call_tool(workspace, "echo__fail", {"text": "no"}, caller="carol")
        assert failed.is_error
    finally:
        await gateway.aclose()


def test_usage_and_log_show_calls_made_through_the_gateway(capsys, acme, echo):
    asyncio.run(_call_echo(acme))
    usage = run_json(capsys, "usage", "-w", acme, "--since", "24h")
    [member] = usage["member"]
    assert (member["member"], member["calls"], member["error_rate"]) == ("carol", 2, 0.5)
    assert 0 < member["p50_ms"] <= member["p95_ms"]
    assert {line["tool"] for line in usage["tool"]} == {"echo__echo", "echo__fail"}
    assert usage["server"][0]["server"] == "echo"
    code, out, _ = run(capsys, "usage", "-w", acme)
    assert code == 0
    assert "carol" in out
    assert "50%" in out
    entries = run_json(capsys, "log", "-w", acme, "--tool", "echo__echo")
    assert [(e["member"], e["outcome"]) for e in entries] == [("carol", "ok")]
    assert len(run_json(capsys, "log", "-w", acme, "--member", "carol", "--limit", "1")) == 1
    assert run_json(capsys, "log", "-w", acme, "--member", "dave") == []
    code, out, _ = run(capsys, "log", "-w", acme)
    assert "tool_error" in out


# ----------------------------------------------------------------------- editors' files


CLAUDE_DESKTOP = {
    "mcpServers": {
        "github": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-github"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_abc123"},
        },
        "notes": {"command": "notes-server", "env": {"NOTES_KEY": "${env:AERO_TEST_UNSET_KEY}"}},
    }
}


def test_import_config_stores_secrets_in_the_vault_and_lists_the_missing(
    capsys, acme, tmp_path, monkeypatch
):
    monkeypatch.delenv("AERO_TEST_UNSET_KEY", raising=False)
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(json.dumps(CLAUDE_DESKTOP), encoding="utf-8")
    code, out, _ = run(capsys, "import-config", str(path), "-w", acme)
    assert code == 0
    assert "added server github" in out
    assert "aerostudio secret set AERO_TEST_UNSET_KEY --workspace acme" in out
    assert "ghp_abc123" not in out
    gateway = open_gateway()
    assert gateway.vault.get(acme, "GITHUB_PERSONAL_ACCESS_TOKEN") == "ghp_abc123"
    config = gateway.workspaces.server(acme, "github").config
    assert config["env"] == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": {"secret": "GITHUB_PERSONAL_ACCESS_TOKEN"}
    }
    again = run_json(capsys, "import-config", str(path), "-w", acme)
    assert again["added"] == []
    assert again["skipped"] == ["github", "notes"]


def test_import_config_of_a_file_that_is_not_json_fails_naming_it(capsys, acme, tmp_path):
    path = tmp_path / "mcp.json"
    path.write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, "import-config", str(path), "-w", acme)
    assert code == 1
    assert str(path) in one_line(err)


@pytest.mark.parametrize("client", ["cursor", "vscode", "claude", "windsurf"])
def test_client_config_prints_json_with_the_workspace_url(capsys, acme, client):
    code, out, _ = run(capsys, "client-config", client, "-w", acme, "--token", "aero_x_y")
    assert code == 0
    entry = json.loads(out)
    assert "http://127.0.0.1:7410/ws/acme/mcp" in json.dumps(entry)
    assert "aero_x_y" in json.dumps(entry)


def test_client_config_can_create_the_token(capsys, acme):
    code, out, err = run(
        capsys,
        *("client-config", "cursor", "-w", acme, "--url", "http://gw.local:9000/"),
        *("--create-token", "--member", "ann", "--role", "viewer"),
    )
    assert code == 0
    assert "not shown again" in err
    entry = json.loads(out)["mcpServers"]["aerostudio-acme"]
    assert entry["url"] == "http://gw.local:9000/ws/acme/mcp"
    token = entry["headers"]["Authorization"].removeprefix("Bearer ")
    assert open_gateway().tokens.authenticate(token, acme).role == "viewer"


def test_client_config_create_token_needs_a_member(capsys, acme):
    code, _, err = run(capsys, "client-config", "vscode", "-w", acme, "--create-token")
    assert code == 2
    assert "--member" in one_line(err)


# -------------------------------------------------------------------------- serve, bridge


def test_gateway_prints_its_url_and_allows_a_non_loopback_host(capsys, monkeypatch):
    import uvicorn

    from engine.gateway import server

    made = {}

    class Recorded(server.GatewayApp):
        def __init__(self, gateway, **kwargs):
            super().__init__(gateway, **kwargs)
            made.update(kwargs)

    monkeypatch.setattr(server, "GatewayApp", Recorded)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: made.update(ran=True))
    code, out, _ = run(capsys, "gateway", "--host", "0.0.0.0", "--port", "0")
    assert code == 0
    assert out.startswith("gateway at http://0.0.0.0:")
    assert out.strip().endswith("/ws/<workspace>/mcp")
    assert "0.0.0.0" in made["hosts"]
    assert "127.0.0.1" in made["hosts"]
    assert made["ran"]


def test_gateway_on_a_port_in_use_fails_with_a_hint(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "gateway", "--port", str(port))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(err)


def test_bridge_without_a_token_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.delenv("AEROSTUDIO_TOKEN", raising=False)
    code, _, err = run(capsys, "bridge", "--url", "http://127.0.0.1:7410/ws/acme/mcp")
    assert code == 2
    assert "AEROSTUDIO_TOKEN" in err
