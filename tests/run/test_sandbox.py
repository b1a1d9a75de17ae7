"""code_block and function_call in the sandbox: limits, isolation, clear errors."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from engine.run import FlowInvalid, Runtime, isolation
from engine.run.code_nodes import function_path
from engine.run.errors import NodeError
from engine.run.isolation import (
    MAX_PROCESSES,
    NOBODY,
    UNSANDBOXED_SETTING,
    Cgroup,
    sandbox_problem,
)
from engine.run.sandbox import SandboxError, SandboxTimeout, network_isolation, run_python
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
    assert set(result.output["env"]) <= {"PATH", "LANG", "HOME", "LC_CTYPE", "PWD"}
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


# Attacks from the security review (issue 14): each must be refused or contained.

ATTACK = {"timeout_s": 20, "memory_mb": 256, "network": False}


def _alive(marker: str) -> list[int]:
    """Host processes whose command line or environment carries `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{entry}/{part}", "rb") as file:
                    if marker.encode() in file.read():
                        found.append(int(entry))
                        break
            except OSError:
                continue
    return found


def _none_alive(marker: str, deadline_s: float = 5.0) -> list[int]:
    """Poll until no process carries `marker` or the deadline passes; what is left."""
    end = time.monotonic() + deadline_s
    while (alive := _alive(marker)) and time.monotonic() < end:
        time.sleep(0.05)
    return alive


def _cgroup_here() -> bool:
    """Whether this machine gives the sandbox a cgroup (whole-tree limits)."""
    group = Cgroup.create(16)
    if group is not None:
        group.remove()
    return group is not None


needs_sandbox = pytest.mark.skipif(
    bool(sandbox_problem()), reason=f"no sandbox here: {sandbox_problem()}"
)


@needs_sandbox
async def test_the_data_folder_and_other_processes_are_invisible(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    monkeypatch.setenv("AEROSTUDIO_TEST_SECRET", "planted-7f3a")
    (tmp_path / "master.key").write_text("planted-7f3a")
    code = (
        "import glob, os\n"
        "def main(input):\n"
        "    seen = {}\n"
        "    for path in [input['key'], input['home'], '/etc/shadow', '/root', '/work',\n"
        "                 f'/proc/{os.getppid()}/environ'] + glob.glob('/proc/*/environ'):\n"
        "        try:\n"
        "            is_dir = os.path.isdir(path)\n"
        "            seen[path] = os.listdir(path) if is_dir else open(path).read()\n"
        "        except OSError as exc:\n"
        "            seen[path] = type(exc).__name__\n"
        "    return {'seen': seen, 'uid': os.getuid(), 'pids': sorted(glob.glob('/proc/[0-9]*'))}\n"
    )
    payload = {"input": {"key": str(tmp_path / "master.key"), "home": str(tmp_path)}}
    result = await run_python(code, payload, function=True, **ATTACK)
    assert "planted-7f3a" not in json.dumps(result)
    assert result["seen"][str(tmp_path / "master.key")] == "FileNotFoundError"
    assert result["seen"]["/etc/shadow"] == "FileNotFoundError"
    assert result["seen"]["/work"] == "FileNotFoundError"
    assert result["seen"]["/root"] in ("FileNotFoundError", [".pyenv"])  # only the interpreter
    assert result["uid"] == NOBODY
    assert len(result["pids"]) <= 3, result["pids"]  # bubblewrap's init, the code, its parent


@needs_sandbox
async def test_writing_outside_its_folder_fails(tmp_path):
    os.chmod(tmp_path, 0o777)  # even a folder anyone may write to on the host
    code = (
        "import os\n"
        "def main(input):\n"
        "    done = {}\n"
        "    for path in input['targets'] + [os.path.join(os.getcwd(), 'mine.txt')]:\n"
        "        try:\n"
        "            open(path, 'w').write('x')\n"
        "            done[path] = 'written'\n"
        "        except OSError as exc:\n"
        "            done[path] = type(exc).__name__\n"
        "    return done\n"
    )
    targets = [str(tmp_path / "escaped.txt"), "/usr/escaped.txt", "/escaped.txt", "/tmp/escaped"]
    result = await run_python(code, {"input": {"targets": targets}}, function=True, **ATTACK)
    assert [result[t] for t in targets] != ["written"] * len(targets)
    assert all(result[t] != "written" for t in targets), result
    assert list(result.values())[-1] == "written"
    assert not (tmp_path / "escaped.txt").exists()


SURVIVORS = (
    "import os, subprocess, sys, time\n"
    "def main(input):\n"
    "    marked = {'AERO_MARK': input['marker']}\n"
    "    sleeper = [sys.executable, '-c', 'import time; time.sleep(300)', input['marker']]\n"
    "    subprocess.Popen(sleeper, start_new_session=True)\n"
    "    subprocess.Popen(['/bin/sh', '-c', 'setsid sleep 300 &'], env=marked)\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    "            os.execve('/bin/sleep', ['sleep', '300'], marked)\n"
    "        os._exit(0)\n"
    "    started = 0\n"
    "    for _ in range(input['many']):\n"
    "        try:\n"
    "            subprocess.Popen(['/bin/sleep', '300'], env=marked, start_new_session=True)\n"
    "            started += 1\n"
    "        except OSError:\n"
    "            break\n"
    "    if input['hang']:\n"
    "        time.sleep(300)\n"
    "    return started\n"
)


@needs_sandbox
async def test_detached_children_die_with_the_node():
    marker = f"aero-survivor-{os.getpid()}-end"
    payload = {"input": {"marker": marker, "many": 300, "hang": False}}
    started = await run_python(SURVIVORS, payload, function=True, **ATTACK)
    assert _none_alive(marker) == []
    if _cgroup_here():  # a cgroup counts the whole tree's processes
        assert started < MAX_PROCESSES


@needs_sandbox
async def test_detached_children_die_at_the_timeout():
    marker = f"aero-survivor-{os.getpid()}-timeout"
    payload = {"input": {"marker": marker, "many": 5, "hang": True}}
    with pytest.raises(SandboxTimeout, match="timeout_s"):
        await run_python(SURVIVORS, payload, function=True, **{**ATTACK, "timeout_s": 3})
    assert _none_alive(marker) == []


@needs_sandbox
async def test_memory_is_limited_for_the_whole_tree():
    if not _cgroup_here():
        pytest.skip("no cgroup can be made here: memory is limited per process only")
    code = (
        "import subprocess, sys\n"
        "def main(input):\n"
        "    hog = \"b = 'x' * (150 << 20); import time; time.sleep(4)\"\n"
        "    children = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(6)]\n"
        "    return [child.wait() for child in children]\n"
    )
    with pytest.raises(SandboxError, match=r"memory_mb \(256 MiB\)"):
        await run_python(code, {"input": {}}, function=True, **ATTACK)


@pytest.fixture
def unix_socket(tmp_path):
    path = str(tmp_path / "host.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen()
    yield path
    server.close()


# in a child process: the audit hook that refuses sockets in the code's own process is not there
CHILD_CONNECT = (
    "import subprocess, sys\n"
    "probe = '''import socket, sys\n"
    "try:\n"
    "    if sys.argv[1] == 'unix':\n"
    "        s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[2])\n"
    "    else:\n"
    "        socket.create_connection(('127.0.0.1', int(sys.argv[2])), timeout=2)\n"
    "    print('connected')\n"
    "except OSError as exc:\n"
    "    print(type(exc).__name__)\n"
    "'''\n"
    "def main(input):\n"
    "    run = lambda *args: subprocess.run([sys.executable, '-c', probe, *args],\n"
    "                                       capture_output=True, text=True).stdout.strip()\n"
    "    return {'unix': run('unix', input['path']), 'tcp': run('tcp', str(input['port']))}\n"
)


@needs_sandbox
async def test_sockets_are_unreachable_with_network_off(unix_socket, listener):
    payload = {"input": {"path": unix_socket, "port": listener}}
    result = await run_python(CHILD_CONNECT, payload, function=True, **ATTACK)
    assert result["unix"] in ("FileNotFoundError", "PermissionError"), result
    assert result["tcp"] != "connected" and result["tcp"], result


@needs_sandbox
async def test_tcp_is_reachable_with_network_on(listener, unix_socket):
    payload = {"input": {"path": unix_socket, "port": listener}}
    result = await run_python(CHILD_CONNECT, payload, function=True, **{**ATTACK, "network": True})
    assert result["tcp"] == "connected"
    assert result["unix"] == "FileNotFoundError"  # files stay out of sight


@pytest.fixture
def outside_function(tmp_path, monkeypatch):
    """A data folder with workspace 'ops', and a function file outside it, in x/."""
    home = tmp_path / "home"
    monkeypatch.setenv("AEROSTUDIO_HOME", str(home))
    (home / "workspaces" / "ops" / "functions").mkdir(parents=True)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "steal.py").write_text("def main(input):\n    return 'ran'\n")


@pytest.mark.parametrize(
    ("workspace", "name", "problem"),
    [
        ("../../../x", "steal", "is not a workspace slug"),
        ("ops/../../../x", "steal", "is not a workspace slug"),
        ("ops", "../../x/steal", "is not a function name"),
        ("ops", "", "is not a function name"),
    ],
)
def test_function_names_that_leave_the_folder_are_refused(
    outside_function, workspace, name, problem
):
    with pytest.raises(NodeError, match=problem):
        function_path(workspace, name)


async def test_a_function_call_in_workspace_dot_dot_does_not_run(outside_function):
    call = node("f", "function_call", {"function": "steal", "input": {}})
    runnable = flow([trigger(), call], [edge("start", "f")], workspace="../../../x")
    try:
        handle = Runtime().start(runnable, {})
    except FlowInvalid as exc:  # refused before it starts, where flows check their workspace
        refused = str(exc)
    else:
        result = await handle.result()
        assert result.status == "failed"
        refused = result.error["message"]
    assert "is not a workspace slug" in refused


async def test_function_call_refuses_a_link_out_of_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    folder = tmp_path / "workspaces" / "ops" / "functions"
    folder.mkdir(parents=True)
    (tmp_path / "outside.py").write_text("def main(input):\n    return 'ran'\n")
    (folder / "steal.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(NodeError, match="has no function 'steal'"):
        function_path("ops", "steal")


@pytest.fixture
def no_bubblewrap(monkeypatch, tmp_path):
    """This process as on a machine without bubblewrap (nothing on its search path)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(isolation, "SYSTEM_PATH", str(tmp_path))
    isolation.sandbox_problem.cache_clear()
    network_isolation.cache_clear()
    yield
    isolation.sandbox_problem.cache_clear()
    network_isolation.cache_clear()


async def test_without_a_sandbox_a_server_refuses_code(no_bubblewrap, monkeypatch):
    monkeypatch.setattr(isolation, "_server", True)
    monkeypatch.setenv(UNSANDBOXED_SETTING, "allow")  # a server ignores the desktop's setting
    result = await _run("def main(input, vars, nodes):\n    return 1\n")
    assert result.status == "failed"
    assert result.error["type"] == "sandbox_unavailable"
    assert "cannot run on this server: bubblewrap is not installed" in result.error["message"]
    assert "apt install bubblewrap" in result.error["message"]


async def test_without_a_sandbox_the_desktop_asks_for_the_setting(no_bubblewrap, monkeypatch):
    monkeypatch.delenv(UNSANDBOXED_SETTING, raising=False)
    result = await _run("def main(input, vars, nodes):\n    return 1\n")
    assert result.error["type"] == "sandbox_unavailable"
    assert f"set {UNSANDBOXED_SETTING}=allow" in result.error["message"]


async def test_the_desktop_setting_runs_code_unsandboxed_with_a_warning(no_bubblewrap, monkeypatch):
    monkeypatch.setenv(UNSANDBOXED_SETTING, "allow")
    handle = Runtime().start(_code("def main(input, vars, nodes):\n    return vars['n']\n"), {})
    result = await handle.result()
    assert result.output == 2
    warnings = [e for e in handle.events.history if e["type"] == "message"]
    assert [e["node_id"] for e in warnings] == ["code"]
    assert "WITHOUT a sandbox" in warnings[0]["text"] and warnings[0]["level"] == "warning"


def test_a_cgroup_limits_memory_processes_and_cpu_and_is_removed():
    group = Cgroup.create(64)
    if group is None:
        pytest.skip("no cgroup can be made here")
    folders = list(group.folders)
    names = ("memory.max", "memory.limit_in_bytes", "pids.max", "cpu.max", "cpu.cfs_quota_us")
    try:
        limits = {
            name: (folder / name).read_text().strip()
            for folder in folders
            for name in names
            if (folder / name).exists()
        }
    finally:
        group.remove()
    assert str(64 << 20) in (limits.get("memory.max"), limits.get("memory.limit_in_bytes"))
    assert limits["pids.max"] == str(MAX_PROCESSES)
    assert limits.get("cpu.max", limits.get("cpu.cfs_quota_us", "")).startswith("100000")
    assert not any(folder.exists() for folder in folders)
