"""`aerostudio deploy` and `aerostudio remote runs` against a real `aerostudio serve` process on
loopback, with members of each role."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx2
import pytest

from engine.api.client import ApiClient, save_token
from engine.cli import main
from engine.flow import save, to_document
from tests.flow.builders import edge, end, flow, node, trigger
from tests.memory_keyring import memory_keyring

pytestmark = pytest.mark.timeout(120)
START_TIMEOUT_S = 60


@dataclass
class Server:
    url: str
    tokens: dict[str, str]
    """A token per role: admin, developer, viewer."""


def _read_until_serving(process: subprocess.Popen[str]) -> tuple[str, str]:
    """(URL, first admin token) from what `aerostudio serve` prints when it is ready; its
    output is read on a thread, so that a server that never gets ready fails the deadline."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    admin = ""
    while (left := deadline - time.monotonic()) > 0 and process.poll() is None:
        with contextlib.suppress(queue.Empty):
            line = lines.get(timeout=min(left, 1.0))
            if line.startswith("admin token: "):
                admin = line.removeprefix("admin token: ").strip()
            elif line.startswith("aerostudio serve at "):
                return line.removeprefix("aerostudio serve at ").strip(), admin
    raise RuntimeError(f"aerostudio serve did not start (exit code {process.poll()})")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("server-home")
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AEROSTUDIO_HOME": str(home)},
    )
    try:
        url, admin = _read_until_serving(process)
        tokens = {"admin": admin}
        with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as http:
            for role in ("developer", "viewer"):
                answer = http.post("/api/members", json={"member": role, "role": role})
                tokens[role] = answer.raise_for_status().json()["token"]
        yield Server(url, tokens)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def developer(server, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_TOKEN", server.tokens["developer"])
    return server


def _endpoint_flow(flow_id, answer="hi {{ input.name }}"):
    endpoint = trigger(kind="endpoint", endpoint={"slug": f"{flow_id}-api", "auth": "public"})
    return flow([endpoint, end("done", answer)], [edge("start", "done")], id=flow_id)


def _review_flow(flow_id):
    return flow(
        [trigger(), node("review", "human_review", {"title": "Ship?"}), end("done", "shipped")],
        [edge("start", "review"), edge("review", "done", "approved")],
        id=flow_id,
    )


def test_deploy_prints_version_changes_and_urls_and_an_unchanged_redeploy_says_so(
    developer, tmp_path, capsys
):
    path = tmp_path / "greet.flow.json"
    save(_endpoint_flow("greet"), path)
    assert main(["deploy", str(path), "--server", developer.url]) == 1
    assert "deploy --yes" in capsys.readouterr().err  # a public endpoint: confirmed, or refused
    assert main(["deploy", str(path), "--server", developer.url, "--yes"]) == 0
    out = capsys.readouterr().out
    assert f"deployed greet v1 to {developer.url}: active" in out
    assert f"endpoint  {developer.url}/api/run/greet-api" in out
    assert httpx2.post(f"{developer.url}/api/run/greet-api", json={"name": "ana"}).json()[
        "output"
    ] == ("hi ana")

    assert main(["deploy", str(path), "--server", developer.url, "--yes"]) == 0
    assert "greet is unchanged: v1" in capsys.readouterr().out

    save(_endpoint_flow("greet", "hello {{ input.name }}"), path)
    deploy = ["deploy", str(path), "--server", developer.url, "--yes"]
    assert main([*deploy, "--no-activate", "--diff"]) == 0
    out = capsys.readouterr().out
    assert "deployed greet v2" in out and "not active" in out
    assert "since v1: 1 line added, 1 removed" in out
    assert '+          "output": "hello {{ input.name }}"' in out
    # Not activated: the endpoint still answers with version 1.
    answer = httpx2.post(f"{developer.url}/api/run/greet-api", json={"name": "bo"}).json()
    assert answer["output"] == "hi bo"
    assert developer.tokens["developer"] not in out


def test_a_flow_with_errors_is_refused_with_its_issues(developer, tmp_path, capsys):
    broken = to_document(_endpoint_flow("broken"))
    broken["edges"].append({"id": "back", "from": "done", "handle": "out", "to": "start"})
    path = tmp_path / "broken.flow.json"
    save(flow(broken["nodes"], broken["edges"], id="broken"), path)
    assert main(["deploy", str(path), "--server", developer.url]) == 1
    captured = capsys.readouterr()
    assert "the server refused" in captured.err
    issue_lines = [line for line in captured.out.splitlines() if line.startswith(str(path))]
    errors = [line for line in issue_lines if "trigger.public_endpoint" not in line]  # a warning
    assert errors and all(" error " in line for line in errors)
    assert any("start" in line and "trigger" in line for line in issue_lines)


def _start(server, flow_id):
    async def start():
        async with ApiClient(server.url, server.tokens["developer"]) as client:
            run_id = await client.start_run(to_document(_review_flow(flow_id)), {})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                nodes = (await client.run(run_id))["nodes"]
                if nodes.get("review", {}).get("status") == "paused":
                    return run_id
                await asyncio.sleep(0.05)
            raise AssertionError("the run did not pause at the review")

    return asyncio.run(start())


def test_remote_runs_list_show_resume_and_cancel(developer, capsys):
    run_id = _start(developer, "ship")
    server = ["--server", developer.url]
    assert main(["remote", "runs", "list", "--flow", "ship", *server]) == 0
    listed = capsys.readouterr().out
    assert re.search(rf"^{run_id}\s.*running\s.*ship$", listed, re.MULTILINE)

    assert main(["remote", "runs", "show", run_id, *server]) == 0
    shown = capsys.readouterr().out
    assert f"run {run_id} of ship: running" in shown
    assert re.search(r"^\s+review\s+paused", shown, re.MULTILINE)

    code = main(["remote", "runs", "resume", run_id, "--decision", "approve", *server])
    out = capsys.readouterr().out
    assert code == 0
    assert "⏵ resumed (approval)" in out and out.rstrip().endswith("■ succeeded")

    other = _start(developer, "ship")
    assert main(["remote", "runs", "cancel", other, *server]) == 0
    assert f"cancel requested for run {other}" in capsys.readouterr().out
    assert main(["remote", "runs", "resume", run_id, "--decision", "approve", *server]) == 1
    assert f"run {run_id} is already succeeded" in capsys.readouterr().err


def test_wrong_token_too_little_role_unknown_run_and_no_server_are_one_readable_line(
    server, tmp_path, capsys, monkeypatch
):
    path = tmp_path / "greet.flow.json"
    save(_endpoint_flow("viewed"), path)
    monkeypatch.setenv("AEROSTUDIO_TOKEN", "aero_wrong")
    assert main(["remote", "runs", "list", "--server", server.url]) == 1
    err = capsys.readouterr().err
    assert f"{server.url} refused the token" in err and "AEROSTUDIO_TOKEN" in err
    assert "aero_wrong" not in err

    monkeypatch.setenv("AEROSTUDIO_TOKEN", server.tokens["viewer"])
    assert main(["deploy", str(path), "--server", server.url]) == 1
    err = capsys.readouterr().err
    assert "developer" in err and "ask an admin" in err and len(err.splitlines()) == 1

    assert main(["remote", "runs", "show", "nosuchrun", "--server", server.url]) == 1
    assert "nosuchrun" in capsys.readouterr().err

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    assert main(["remote", "runs", "list", "--server", nobody]) == 1
    assert f"cannot reach {nobody}" in capsys.readouterr().err


def test_the_token_the_studio_saved_in_the_keyring_is_used(server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AEROSTUDIO_TOKEN", raising=False)
    path = tmp_path / "saved.flow.json"
    save(_endpoint_flow("saved"), path)
    assert main(["deploy", str(path), "--server", server.url]) == 1
    assert f"no token for {server.url}" in capsys.readouterr().err
    with memory_keyring():
        assert save_token(server.url + "/", server.tokens["developer"])
        assert main(["deploy", str(path), "--server", server.url, "--yes"]) == 0
    assert "deployed saved v1" in capsys.readouterr().out
