"""Python for `code_block` and `function_call`, in a separate and limited process.

- JSON in on stdin, JSON out on the original stdout; the user's prints go to stderr, so they
  cannot corrupt the answer.
- Isolated (engine.run.isolation): bubblewrap namespaces, an unprivileged user, only /usr and the
  interpreter visible read-only, a private tmpfs as working and home folder; memory and process
  count of the whole tree limited by a cgroup where one can be made.
- Wall-clock timeout (the sandbox and its cgroup are killed), per-process memory (RLIMIT_AS) and
  CPU limits; a clean environment; `python -I -S` (the standard library, no site-packages).
- Where the sandbox cannot be had: refused on a server; on the desktop, run unsandboxed only
  when AEROSTUDIO_UNSANDBOXED_CODE=allow, with a warning (network still cut where `unshare`
  works, else by an audit hook).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from typing import Any

from engine.run.errors import NodeError, NodeTimeout
from engine.run.isolation import (
    MAX_PROCESSES,
    UNSANDBOXED_SETTING,
    Cgroup,
    bwrap_command,
    interpreter,
    on_server,
    sandbox_problem,
    unsandboxed_allowed,
)

BOOTSTRAP = r"""
import json, os, sys, traceback
answer = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
request = json.load(sys.stdin)
if not request["network"]:
    def _no_network(event, args):
        if event in ("socket.connect", "socket.bind", "socket.getaddrinfo"):
            raise PermissionError("network access is off for this code (network: false)")
    sys.addaudithook(_no_network)
try:
    scope = {"__name__": "__aerostudio__"}
    exec(compile(request["code"], "<code>", "exec"), scope)
    main = scope.get("main")
    if not callable(main):
        raise NameError("the code defines no main()")
    args = [request["input"]] if request["function"] else [
        request["input"], request["vars"], request["nodes"]]
    result = {"ok": main(*args)}
except MemoryError:
    result = {"error": {"type": "MemoryError", "message": "memory limit exceeded", "where": ""}}
except BaseException as exc:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<code>"]
    where = f"line {frames[-1].lineno}" if frames else ""
    result = {"error": {"type": type(exc).__name__, "message": str(exc), "where": where}}
try:
    text = json.dumps(result)
except (TypeError, ValueError) as exc:
    text = json.dumps({"error": {"type": "TypeError", "where": "",
                                 "message": f"main() returned something that is not JSON: {exc}"}})
answer.write(text)
answer.flush()
"""

Warn = Callable[[str], None]


class SandboxError(NodeError):
    kind = "code_error"


class SandboxUnavailable(NodeError):
    """Code cannot be isolated here and may not run without isolation."""

    kind = "sandbox_unavailable"


class SandboxTimeout(NodeTimeout):
    pass


@cache
def network_isolation() -> list[str]:
    """Unsandboxed runs only: the command prefix that takes network access away, or []."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--user", "--map-root-user", "--net"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return []


def _limits(memory_mb: int, cpu_s: int, cgroup: Cgroup | None, count: bool) -> Any:
    def apply() -> None:
        os.setsid()
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if count:  # the sandbox's own uid: its processes are the only ones counted
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        if cgroup is not None:
            cgroup.enter()

    return apply


def _unavailable(problem: str) -> SandboxUnavailable:
    if on_server():
        return SandboxUnavailable(
            f"code nodes cannot run on this server: {problem}. A server never runs them "
            "unsandboxed; install bubblewrap and restart it"
        )
    return SandboxUnavailable(
        f"code nodes cannot be sandboxed here: {problem}. Install it, or set "
        f"{UNSANDBOXED_SETTING}=allow to run your own code unsandboxed on this machine"
    )


async def run_python(
    code: str,
    payload: dict[str, Any],
    *,
    timeout_s: float,
    memory_mb: int,
    network: bool,
    function: bool = False,
    warn: Warn | None = None,
) -> Any:
    """Run `main` of `code` in the sandbox and return its JSON result."""
    request = json.dumps({**payload, "code": code, "network": network, "function": function})
    problem = sandbox_problem()
    if not problem:
        return await _isolated(request, timeout_s, memory_mb, network)
    if not unsandboxed_allowed():
        raise _unavailable(problem)
    if warn is not None:
        warn(f"⚠ this code ran WITHOUT a sandbox ({UNSANDBOXED_SETTING}=allow): {problem}")
    return await _unsandboxed(request, timeout_s, memory_mb, network)


async def _isolated(request: str, timeout_s: float, memory_mb: int, network: bool) -> Any:
    workdir = f"/tmp/aero-code-{secrets.token_hex(6)}"
    cgroup = Cgroup.create(memory_mb)
    count = cgroup is None and os.geteuid() == 0
    try:
        # -S: the standard library only, and half the start-up time
        command = [*bwrap_command(workdir, memory_mb, network), interpreter(), "-I", "-S"]
        code, out, err = await _communicate(
            command,
            request,
            workdir,
            _limits(memory_mb, int(timeout_s) + 1, cgroup, count),
            timeout_s,
            cgroup,
        )
        if cgroup is not None and cgroup.oom_killed():
            raise SandboxError(_over_memory(memory_mb))
    finally:
        if cgroup is not None:
            cgroup.remove()
    return _answer(_signalled(code), out, err, memory_mb)


async def _unsandboxed(request: str, timeout_s: float, memory_mb: int, network: bool) -> Any:
    prefix = [] if network else network_isolation()
    with tempfile.TemporaryDirectory(prefix="aero-code-") as workdir:
        code, out, err = await _communicate(
            [*prefix, sys.executable, "-I"],
            request,
            workdir,
            _limits(memory_mb, int(timeout_s) + 1, None, False),
            timeout_s,
            None,
        )
    return _answer(code, out, err, memory_mb)


async def _communicate(
    command: list[str],
    request: str,
    workdir: str,
    preexec: Callable[[], None],
    timeout_s: float,
    cgroup: Cgroup | None,
) -> tuple[int | None, bytes, bytes]:
    """Start the code's process, feed it the request, wait for its answer or the timeout."""
    process = await asyncio.create_subprocess_exec(
        *command,
        "-c",
        BOOTSTRAP,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=workdir if os.path.isdir(workdir) else "/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir},
        preexec_fn=preexec,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(request.encode()), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # its group may have no member left
            os.killpg(process.pid, signal.SIGKILL)
        if cgroup is not None:
            await asyncio.to_thread(cgroup.kill)
        await process.wait()
        raise SandboxTimeout(
            f"the code ran longer than timeout_s ({timeout_s:g} s) and was stopped"
        ) from None
    return process.returncode, out, err


def _signalled(code: int | None) -> int | None:
    """bubblewrap reports a signal that ended the code as 128 + its number: as negative."""
    if code is not None and 128 < code < 128 + signal.NSIG:
        return 128 - code
    return code


def _over_memory(memory_mb: int) -> str:
    return f"the code went over memory_mb ({memory_mb} MiB) and was stopped"


def _answer(code: int | None, out: bytes, err: bytes, memory_mb: int) -> Any:
    if not out:
        raise SandboxError(_died(code, memory_mb, err))
    answer = json.loads(out)
    if "error" in answer:
        error = answer["error"]
        if error["type"] == "MemoryError":
            raise SandboxError(_over_memory(memory_mb))
        where = f" ({error['where']})" if error["where"] else ""
        raise SandboxError(f"{error['type']}: {error['message']}{where}")
    return answer["ok"]


def _died(code: int | None, memory_mb: int, err: bytes) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGXCPU":
            return "the code used up its CPU time and was stopped"
        if name in ("SIGKILL", "SIGSEGV"):
            return f"the code was killed ({name}), most likely over memory_mb ({memory_mb} MiB)"
        return f"the code was stopped by {name}"
    tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return f"the code's process ended without an answer: {tail[0]}"
