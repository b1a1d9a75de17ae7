"""code_block and function_call in the sandbox: limits, isolation, clear errors."""

from __future__ import annotations

import json
import socket

import pytest

from engine.run import Runtime
from engine.run.sandbox import network_isolation
from tests.flow.builders import edge, flow, node, set_vars, trigger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _code(code: str, **config) -> object:
    return flow(
        [trigger(), set_vars("prep", n=2), node("code", "code_block", {"code": code, **config})],
        [edge("start", "prep"), edge("prep", "code")],
    )


async def _run(code: str, payload=None, **config):
    return await Runtime().start(_code(code, **config), payload or {}).result()


async def test_code_gets_input_vars_and_nodes_and_returns_json():
    code = (
        "def main(input, vars, nodes):\n"
        "    print('noise on stdout does not matter')\n"
        "    return {'sum': input['a'] + vars['n'], 'seen': sorted(nodes)}\n"
    )
    result = await _run(code, {"a": 40})
    assert result.output == {"sum": 42, "seen": ["prep", "start"]}


async def test_an_infinite_loop_is_stopped_at_the_timeout():
    result = await _run(
        "def main(input, vars, nodes):\n    while True:\n        pass\n", timeout_s=1
    )
    assert result.status == "failed"
    assert result.error["type"] == "timeout"
    assert "timeout_s (1 s)" in result.error["message"]


async def test_a_memory_bomb_is_stopped():
    result = await _run(
        "def main(input, vars, nodes):\n    x = ['a' * 10**6] * 10**4\n"
        "    return len(''.join(x))\n",
        memory_mb=128,
    )
    assert result.status == "failed"
    assert "memory_mb (128 MiB)" in result.error["message"]


async def test_the_child_sees_no_secret_and_no_parent_environment(monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_TEST_SECRET", "hunter2-secret")
    code = (
        "import os\ndef main(input, vars, nodes):\n"
        "    return {'env': dict(os.environ), 'cwd': os.getcwd()}\n"
    )
    result = await _run(code)
    assert "hunter2-secret" not in json.dumps(result.output)
    assert set(result.output["env"]) <= {"PATH", "LANG", "HOME", "LC_CTYPE"}
    assert result.output["cwd"].startswith(("/tmp/aero-code-", "/var/tmp/aero-code-"))


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()  # the kernel completes connections into the backlog: no accept needed
    yield server.getsockname()[1]
    server.close()


CONNECT = (
    "import socket\ndef main(input, vars, nodes):\n"
    "    socket.create_connection(('127.0.0.1', input['port']), timeout=2).close()\n"
    "    return 'connected'\n"
)


async def test_network_is_refused_when_off(listener):
    result = await _run(CONNECT, {"port": listener})
    assert result.status == "failed"
    assert result.error["type"] == "code_error"
    assert "network access is off" in result.error["message"]


def test_a_network_namespace_is_used_where_the_machine_has_one():
    import shutil
    import subprocess

    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--net", "true"]).returncode != 0:
        pytest.skip("no network namespaces here; the audit hook alone refuses connections")
    assert network_isolation()[:1] == [unshare]


async def test_network_works_when_on(listener):
    result = await _run(CONNECT, {"port": listener}, network=True)
    assert result.output == "connected"


async def test_user_errors_are_reported_with_their_line():
    result = await _run("def main(input, vars, nodes):\n    return 1 / 0\n")
    assert result.error["message"] == "ZeroDivisionError: division by zero (line 2)"


async def test_results_that_are_not_json_are_refused():
    result = await _run("def main(input, vars, nodes):\n    return {1, 2}\n")
    assert "not JSON" in result.error["message"]


async def test_function_call_runs_a_workspace_function(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    folder = tmp_path / "workspaces" / "ops" / "functions"
    folder.mkdir(parents=True)
    (folder / "label_issue.py").write_text(
        "def main(input):\n    return {'labels': [input['label']], 'n': input['number']}\n"
    )
    call = node(
        "label",
        "function_call",
        {"function": "label_issue", "input": {"label": "bug", "number": "{{ input.n }}"}},
    )
    runnable = flow([trigger(), call], [edge("start", "label")], workspace="ops")
    result = await Runtime().start(runnable, {"n": 7}).result()
    assert result.output == {"labels": ["bug"], "n": 7}


async def test_registry_functions_are_not_available_yet():
    call = node("f", "function_call", {"function": "@acme/slugify"})
    result = await Runtime().start(flow([trigger(), call], [edge("start", "f")]), {}).result()
    assert "the function registry is not available yet" in result.error["message"]
