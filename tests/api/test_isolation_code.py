"""The security review's attacks through code nodes (issue 14), on a real `aerostudio serve` on
loopback: a flow with a `code_block` started over the API by its admin. Each is refused or
contained; the server's data folder, database, environment and members stay out of reach."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from engine.run.isolation import sandbox_problem
from tests.api.served import Served, serving
from tests.flow.builders import document, edge, node, trigger
from tests.run.test_sandbox import CHILD_CONNECT, SURVIVORS, _cgroup_here, _none_alive

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(bool(sandbox_problem()), reason=f"no sandbox here: {sandbox_problem()}"),
]

PLANTED = "planted-env-4c1d"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`aerostudio serve` on SQLite in a private data folder, with a bare PATH (as servers have
    it) and a planted variable that no code may see."""
    home = tmp_path_factory.mktemp("isolation")
    empty = home / "no-commands"
    empty.mkdir()
    with serving(home, PATH=str(empty), AEROSTUDIO_TEST_PLANTED=PLANTED) as served:
        yield served


def _run(server: Served, code: str, payload: Any, **config: Any) -> dict[str, Any]:
    """Run a one-code_block flow on the server and wait for it to end; its details."""
    block = node("attack", "code_block", {"code": code, "timeout_s": 20, **config})
    flow = document([trigger(), block], [edge("start", "attack")])
    with httpx2.Client(base_url=server.url, headers=server.admin, timeout=30) as http:
        started = http.post("/api/runs", json={"flow": flow, "input": payload})
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            detail = http.get(f"/api/runs/{run_id}").json()
            if detail["status"] not in ("queued", "running", "pending"):
                return dict(detail)
            time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end in 60 s")


STEAL = (
    "import glob, os, sqlite3\n"
    "def main(input, vars, nodes):\n"
    "    seen = {}\n"
    "    paths = input['files'] + ['/etc/shadow', f'/proc/{os.getppid()}/environ']\n"
    "    for path in paths + glob.glob('/proc/*/environ'):\n"
    "        try:\n"
    "            seen[path] = open(path, 'rb').read().decode(errors='replace')\n"
    "        except OSError as exc:\n"
    "            seen[path] = type(exc).__name__\n"
    "    for db in input['databases']:\n"
    "        try:\n"
    "            with sqlite3.connect(f'file:{db}?mode=rw', uri=True) as c:\n"
    "                c.execute(\"insert into aero_server_tokens (id) values ('mine')\")\n"
    "            seen[db] = 'written'\n"
    "        except sqlite3.Error as exc:\n"
    "            seen[db] = str(exc)\n"
    "    seen['home'] = os.path.exists(input['home'])\n"
    "    return seen\n"
)


def test_the_server_s_key_vault_database_and_environment_are_out_of_reach(server):
    with httpx2.Client(base_url=server.url, headers=server.admin) as http:
        me = http.get("/api/me").json()
        members = http.get("/api/members").json()
    files = sorted(str(p) for p in server.home.rglob("*") if p.is_file())
    databases = [f for f in files if f.endswith((".db", ".sqlite", ".sqlite3"))]
    assert any(f.endswith("master.key") for f in files) and databases, files
    secrets = [Path(f).read_bytes() for f in files if f.endswith("master.key")]
    payload = {"files": files, "databases": databases, "home": str(server.home)}
    detail = _run(server, STEAL, payload)
    assert detail["status"] == "succeeded", detail["error"]
    seen = detail["output"]
    values = str(list(seen.values()))
    assert PLANTED not in values and str(server.home) not in values
    assert all(s.decode(errors="replace") not in values for s in secrets)
    assert {seen[f] for f in files if f not in databases} == {"FileNotFoundError"}
    assert seen["/etc/shadow"] == "FileNotFoundError"
    assert all(seen[db] == "unable to open database file" for db in databases)
    assert seen["home"] is False
    with httpx2.Client(base_url=server.url, headers=server.admin) as http:
        assert http.get("/api/me").json() == me
        assert http.get("/api/members").json() == members


def test_detached_children_end_with_the_node(server):
    marker = f"aero-served-survivor-{os.getpid()}"
    detail = _run(server, _as_block(SURVIVORS), {"marker": marker, "many": 100, "hang": False})
    assert detail["status"] == "succeeded", detail["error"]
    assert _none_alive(marker) == []
    timed_out = _run(
        server, _as_block(SURVIVORS), {"marker": marker, "many": 3, "hang": True}, timeout_s=2
    )
    assert timed_out["error"]["type"] == "timeout"
    assert _none_alive(marker) == []


def test_memory_over_the_limit_across_children_is_stopped(server):
    if not _cgroup_here():
        pytest.skip("no cgroup can be made here: memory is limited per process only")
    code = (
        "import subprocess, sys\n"
        "def main(input, vars, nodes):\n"
        "    hog = \"b = 'x' * (150 << 20); import time; time.sleep(4)\"\n"
        "    children = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(6)]\n"
        "    return [child.wait() for child in children]\n"
    )
    detail = _run(server, code, {}, memory_mb=256)
    assert detail["status"] == "failed"
    assert "memory_mb (256 MiB)" in detail["error"]["message"]


def test_unix_and_tcp_sockets_are_unreachable_with_network_off(server, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    unix = socket.socket(socket.AF_UNIX)
    path = str(tmp_path / "host.sock")
    unix.bind(path)
    os.chmod(path, 0o777)
    unix.listen()
    try:
        payload = {"path": path, "port": listener.getsockname()[1]}
        detail = _run(server, _as_block(CHILD_CONNECT), payload)
    finally:
        listener.close()
        unix.close()
    assert detail["status"] == "succeeded", detail["error"]
    assert detail["output"]["unix"] in ("FileNotFoundError", "PermissionError")
    assert detail["output"]["tcp"] not in ("connected", "")


def _as_block(function_code: str) -> str:
    """A workspace function's code (`main(input)`) as a code_block's."""
    return function_code.replace("def main(input):", "def main(input, vars=None, nodes=None):")
