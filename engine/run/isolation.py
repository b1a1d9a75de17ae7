"""Where user code runs: a bubblewrap sandbox (engine.run.sandbox starts it) and its cgroup.

The sandbox has its own mount, PID, IPC, UTS and network namespaces and an unprivileged user:
as root, bubblewrap sets up the mounts and `setpriv` drops to uid/gid 65534 with no capabilities
before Python starts; as another user, a user namespace maps 65534 to that user. It sees only a
read-only /usr and the interpreter's prefix, a few /etc files, a fresh /proc and a minimal /dev;
its only writable place is a size-limited tmpfs that is its working and home folder.

A cgroup (v2, or v1's memory, pids and cpu controllers) limits the whole tree's memory, process
count and CPU (one core); the process enters it before it execs bubblewrap, so no user code runs
outside it. When the code's main process ends, the PID namespace ends and the kernel kills
everything left in it; at the timeout, so does killing bubblewrap (and the cgroup's members).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

UNSANDBOXED_SETTING = "AEROSTUDIO_UNSANDBOXED_CODE"
NOBODY = 65534
MAX_PROCESSES = 64
CPU_PERIOD_US = 100_000  # the whole tree gets at most one core
ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime")
NETWORK_ETC_FILES = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf", "ssl", "ca-certificates")
CGROUP_ROOT = Path("/sys/fs/cgroup")
SYSTEM_PATH = "/usr/bin:/bin"  # where Debian installs them, also when a server's PATH is bare

_server = False


class IsolationUnavailable(RuntimeError):
    """Code nodes cannot be isolated here and running them unsandboxed is not allowed."""


def server_mode() -> None:
    """This process is a server (`aerostudio serve`): code nodes never run without the sandbox."""
    global _server
    _server = True


def on_server() -> bool:
    return _server


def unsandboxed_allowed() -> bool:
    """Whether this desktop process may run code nodes without the sandbox (its own setting)."""
    return not _server and os.environ.get(UNSANDBOXED_SETTING, "") == "allow"


def _which(program: str) -> str | None:
    return shutil.which(program, path=f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}")


def interpreter() -> str:
    """The real Python executable (a venv's python is a link into its base prefix)."""
    return os.path.realpath(sys.executable)


def _prefixes() -> list[str]:
    """The folders the interpreter reads that /usr does not already cover."""
    found = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    found.add(os.path.dirname(os.path.dirname(interpreter())))
    return sorted(p for p in found if p != "/usr" and not p.startswith("/usr/"))


def _system_binds(network: bool) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib32", "lib64", "sbin"):
        target = Path("/") / name
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    args += ["--perms", "0755", "--dir", "/etc"]  # bubblewrap would make it root-only
    for name in ETC_FILES + (NETWORK_ETC_FILES if network else ()):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    made: set[str] = set()
    for prefix in _prefixes():
        parents = [str(p) for p in reversed(Path(prefix).parents) if str(p) != "/"]
        for parent in parents:
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]
        args += ["--ro-bind", prefix, prefix]
    return args


def bwrap_command(workdir: str, memory_mb: int, network: bool) -> list[str]:
    """The command prefix that runs a program inside the sandbox, `workdir` its only writable
    folder (a tmpfs of at most memory_mb)."""
    bwrap = _which("bwrap") or "bwrap"
    root = os.geteuid() == 0
    if root:  # no user namespace: setpriv below drops to a real unprivileged uid
        spaces = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        spaces += [] if network else ["--unshare-net"]
    else:
        spaces = ["--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        spaces += ["--share-net"] if network else []
        spaces += ["--disable-userns"]
    command = [bwrap, *spaces, "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    command += _system_binds(network)
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--perms", "0755", "--dir", os.path.dirname(workdir)]
    command += ["--perms", "0777", "--size", str(memory_mb * 1024 * 1024), "--tmpfs", workdir]
    command += ["--remount-ro", "/", "--chdir", workdir, "--"]
    if root:
        command += [
            _which("setpriv") or "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return command


@cache
def sandbox_problem() -> str:
    """Why code cannot be sandboxed on this machine ("" when it can); probed once a process."""
    if _which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    if os.geteuid() == 0 and _which("setpriv") is None:
        return "setpriv is missing (Debian/Ubuntu: apt install util-linux)"
    probe = [*bwrap_command("/tmp/aero-probe", 16, False), interpreter(), "-I", "-c", "print(1)"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20, env={"PATH": "/usr/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if done.returncode != 0 or done.stdout.strip() != b"1":
        said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return (
            f"bubblewrap fails here ({said[0]}); it needs root or user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 "
            "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap)"
        )
    return ""


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup folder for a v1 controller, or for v2 when controller is ""."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and names == ""):
            base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
            if not controller and not (base / "cgroup.controllers").exists():
                base = CGROUP_ROOT / "unified"
            return base / path.lstrip("/")
    return None


@dataclass
class Cgroup:
    """The cgroup folders of one sandboxed run (v2: one; v1: memory and pids)."""

    folders: list[Path] = field(default_factory=list)
    v2: bool = False
    _entry: list[int] = field(default_factory=list)

    @classmethod
    def create(cls, memory_mb: int) -> Cgroup | None:
        """A new cgroup limiting memory and processes (and CPU to one core where the controller
        is there), or None where none can be made."""
        name = f"aero-code-{secrets.token_hex(6)}"
        memory = str(memory_mb * 1024 * 1024)
        processes = str(MAX_PROCESSES)
        v2 = _own_cgroup("")
        if v2 is not None and (v2 / "cgroup.controllers").exists():
            limits = {
                "memory.max": memory,
                "memory.swap.max": "0",
                "pids.max": processes,
                "cpu.max": f"{CPU_PERIOD_US} {CPU_PERIOD_US}",
            }
            made = cls._make([(v2 / name, limits, True)], {"memory.swap.max", "cpu.max"}, True)
            if made is not None:
                return made
        memory_v1, pids_v1, cpu_v1 = (_own_cgroup(c) for c in ("memory", "pids", "cpu"))
        if memory_v1 is None or pids_v1 is None:
            return None
        plan = [
            (
                memory_v1 / name,
                {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory},
                True,
            ),
            (pids_v1 / name, {"pids.max": processes}, True),
        ]
        if cpu_v1 is not None:
            plan.append((cpu_v1 / name, {"cpu.cfs_quota_us": str(CPU_PERIOD_US)}, False))
        return cls._make(plan, {"memory.memsw.limit_in_bytes"}, False)

    @classmethod
    def _make(
        cls, plan: list[tuple[Path, dict[str, str], bool]], optional: set[str], v2: bool
    ) -> Cgroup | None:
        """Make the folders and set their limits; a required folder that fails fails all,
        an optional one is left out, and so is a limit in `optional` this kernel lacks."""
        group = cls(v2=v2)
        for folder, limits, required in plan:
            try:
                folder.mkdir()
                group.folders.append(folder)
                for key, value in limits.items():
                    if key not in optional or (folder / key).exists():
                        (folder / key).write_text(value)
                group._entry.append(os.open(folder / "cgroup.procs", os.O_WRONLY))
            except OSError:
                if required:
                    group.remove()
                    return None
                if group.folders[-1:] == [folder]:
                    group.folders.pop()
                    with contextlib.suppress(OSError):
                        folder.rmdir()
        return group

    def enter(self) -> None:
        """Move the calling process in (called in the child before it execs)."""
        for descriptor in self._entry:
            os.write(descriptor, b"0")

    def members(self) -> list[int]:
        pids: set[int] = set()
        for folder in self.folders:
            try:
                text = (folder / "cgroup.procs").read_text()
            except OSError:
                continue
            pids.update(int(p) for p in text.split())
        return sorted(pids)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for going over its memory."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        for folder in self.folders:
            try:
                for line in (folder / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
            except (OSError, ValueError):
                continue
        return False

    def kill(self, deadline_s: float = 5.0) -> None:
        """Kill every process left in the cgroup, until it is empty or the deadline passes."""
        if self.v2 and self.folders and (self.folders[0] / "cgroup.kill").exists():
            (self.folders[0] / "cgroup.kill").write_text("1")
        end = time.monotonic() + deadline_s
        while (pids := self.members()) and time.monotonic() < end:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and delete the folders."""
        for descriptor in self._entry:
            os.close(descriptor)
        self._entry.clear()
        if self.members():
            self.kill()
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):  # already gone, or the kernel still frees it
                folder.rmdir()
        self.folders.clear()
