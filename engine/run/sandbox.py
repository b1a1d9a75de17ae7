"""Python for `code_block` and `function_call`, in a separate and limited process.

- JSON in on stdin, JSON out on the original stdout; the user's prints go to stderr, so they
  cannot corrupt the answer.
- Wall-clock timeout (the whole process group is killed), memory (RLIMIT_AS) and CPU limits.
- A clean environment: no parent variables, no secrets; a temporary working directory removed
  afterwards; `python -I` (no user site, no PYTHON* variables).
- Network off unless asked: a new network namespace (`unshare --net` as root, or with an
  unprivileged user namespace). Where neither exists, an audit hook in the child refuses socket
  connections: weaker (C extensions could bypass it), and `network_isolation()` says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from functools import cache
from typing import Any

from engine.run.errors import NodeError, NodeTimeout

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


class SandboxError(NodeError):
    kind = "code_error"


class SandboxTimeout(NodeTimeout):
    pass


@cache
def network_isolation() -> list[str]:
    """The command prefix that takes network access away, or [] if this machine has none."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--user", "--map-root-user", "--net"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return []


def _limits(memory_mb: int, cpu_s: int) -> Any:
    def apply() -> None:
        os.setsid()
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


async def run_python(
    code: str,
    payload: dict[str, Any],
    *,
    timeout_s: float,
    memory_mb: int,
    network: bool,
    function: bool = False,
) -> Any:
    """Run `main` of `code` in a sandboxed process and return its JSON result."""
    request = json.dumps({**payload, "code": code, "network": network, "function": function})
    prefix = [] if network else network_isolation()
    with tempfile.TemporaryDirectory(prefix="aero-code-") as workdir:
        process = await asyncio.create_subprocess_exec(
            *prefix,
            sys.executable,
            "-I",
            "-c",
            BOOTSTRAP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir},
            preexec_fn=_limits(memory_mb, int(timeout_s) + 1),
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(request.encode()), timeout_s)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            raise SandboxTimeout(
                f"the code ran longer than timeout_s ({timeout_s:g} s) and was stopped"
            ) from None
    if not out:
        raise SandboxError(_died(process.returncode, memory_mb, err))
    answer = json.loads(out)
    if "error" in answer:
        error = answer["error"]
        if error["type"] == "MemoryError":
            raise SandboxError(f"the code went over memory_mb ({memory_mb} MiB)")
        where = f" ({error['where']})" if error["where"] else ""
        raise SandboxError(f"{error['type']}: {error['message']}{where}")
    return answer["ok"]


def _died(code: int | None, memory_mb: int, err: bytes) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        if name == "SIGXCPU":
            return "the code used up its CPU time and was stopped"
        if name in ("SIGKILL", "SIGSEGV"):
            return f"the code was killed ({name}), most likely over memory_mb ({memory_mb} MiB)"
        return f"the code was stopped by {name}"
    tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return f"the code's process ended without an answer: {tail[0]}"
