"""The studio's connection to a runtime: a local one already running, else one it starts.

The studio is a client of the engine API (docs/architecture.md): it finds `aerostudio runtime`
through `runtime.json` in the data directory, starts one as a subprocess when none runs, watches
its health, starts it again if it dies, and stops it on exit unless the user keeps it running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from engine.api.client import ApiClient, ApiError, local_runtime
from engine.paths import data_dir

LOG_FILE = "runtime.log"
DEFAULT_PORT = 7410
"""The local runtime's port unless settings say otherwise: the gateway URL editor configs hold
(`http://127.0.0.1:7410/ws/<workspace>/mcp`) keeps working across restarts."""
PORT_SETTING = "runtime/port"
PORT_ENV = "AEROSTUDIO_RUNTIME_PORT"
RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0)
"""Waits between health checks before a runtime whose process lives counts as hung: one failed
check is often a race (a keep-alive connection the server just closed), not a dead runtime."""


class RuntimeUnavailable(Exception):
    """No runtime could be reached or started; the message says why, for a person."""


def readable(exc: BaseException) -> str:
    """One line a person can act on, for any failure of a runtime call."""
    if isinstance(exc, ApiError):
        issues = (exc.body or {}).get("issues") if isinstance(exc.body, dict) else None
        if issues:
            first = "; ".join(str(i.get("message")) for i in issues[:3])
            return f"{exc.message}: {first}"
        return exc.message
    if isinstance(exc, RuntimeUnavailable | ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RuntimeConnection(QObject):
    state_changed = Signal(str)
    """"connecting", "connected", "restarting", "stopped" or "error: <what happened>"."""
    progress = Signal(str)
    """A line about a long step (starting the runtime), for the status bar."""

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        start_timeout_s: float = 60.0,
        health_interval_ms: int = 5000,
        port: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.port = configured_port() if port is None else port
        """The port the local runtime is started on (0: any free one)."""
        self.port_notice: str | None = None
        """Why the runtime started last listens elsewhere than `port`, for the status bar."""
        self.start_timeout_s = start_timeout_s
        self._client: ApiClient | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._state = "stopped"
        self._connecting: asyncio.Task[ApiClient] | None = None
        self._checking: asyncio.Task[bool] | None = None
        self.generation = 0
        """Counts the runtimes connected to: a new number means another runtime process, whose
        event numbers may differ from its predecessor's for events that were never saved."""
        self._restartable = True
        self.last_restart: tuple[float, str] | None = None
        """(when, why) the local runtime was last started again, for the status bar."""
        self.keep_running = QAction("&Keep runtime running after exit", self)
        self.keep_running.setCheckable(True)
        self._health = QTimer(self)
        self._health.setInterval(health_interval_ms)
        self._health.timeout.connect(self._check_soon)

    @property
    def state(self) -> str:
        return self._state

    @property
    def client(self) -> ApiClient | None:
        """The API client while connected, for the panels."""
        return self._client if self._state == "connected" else None

    @property
    def restartable(self) -> bool:
        """Whether this is the local runtime (found or started, restarted if it dies), not a
        given one (`use`)."""
        return self._restartable

    @property
    def owns_process(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    # ------------------------------------------------------------------------ connecting

    def use(self, url: str, token: str) -> ApiClient:
        """Talk to a given runtime (a remote one, or a test's); it is never restarted. The
        client used before is closed."""
        previous, self._client = self._client, ApiClient(url, token)
        if previous is not None:
            asyncio.ensure_future(previous.aclose()).add_done_callback(_swallow)
        self._restartable = False
        self.generation += 1
        self._set_state("connected")
        self._health.start()
        return self._client

    def use_local(self) -> None:
        """Back to the local runtime after `use`: found or started at the next call, and
        restarted if it dies."""
        self._health.stop()
        client, self._client = self._client, None
        self._restartable = True
        self._set_state("stopped")
        if client is not None:
            asyncio.ensure_future(client.aclose()).add_done_callback(_swallow)

    def start(self) -> None:
        """Connect in the background (from synchronous code, with the event loop running)."""
        task = asyncio.ensure_future(self.ensure())
        task.add_done_callback(_swallow)

    async def ensure(self) -> ApiClient:
        """The connected client, connecting (or starting the runtime) first if needed."""
        if self.client is not None:
            return self.client
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> ApiClient:
        self._set_state("connecting")
        try:
            found = local_runtime()
            if found is None:
                found = await self._launch()
            client = ApiClient(*found)
            try:
                await client.health()
            except ApiError:
                await client.aclose()
                raise
        except (ApiError, RuntimeUnavailable, OSError) as exc:
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            self._set_state(f"error: {message}")
            raise RuntimeUnavailable(message) from None
        self._client = client
        self.generation += 1
        self._set_state("connected")
        self.progress.emit(f"Connected to the runtime at {client.base_url}")
        self._health.start()
        return client

    async def _launch(self) -> tuple[str, str]:
        """Start `aerostudio runtime` and wait for it to publish its address."""
        self.progress.emit("Starting the local runtime…")
        port = self._free_port()
        log = open(data_dir() / LOG_FILE, "ab")  # noqa: SIM115 - the child owns it from now
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "engine", "runtime", "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=runtime_env(),
            )
        finally:
            log.close()
        started = time.monotonic()
        while True:
            found = local_runtime()
            if found is not None:
                return found
            if self._process.poll() is not None:
                raise RuntimeUnavailable(
                    f"the local runtime exited while starting ({self._last_log_line()})"
                )
            waited = time.monotonic() - started
            if waited > self.start_timeout_s:
                self._stop_process()
                raise RuntimeUnavailable(
                    f"the local runtime did not start within {self.start_timeout_s:.0f} s; "
                    f"see {data_dir() / LOG_FILE}"
                )
            self.progress.emit(f"Starting the local runtime… {waited:.0f} s")
            await asyncio.sleep(0.1)

    def _free_port(self) -> int:
        """The configured port when it is free, else 0 (any), saying so: editor configs made
        for this runtime then hold a port that changes at its next start."""
        self.port_notice = None
        if self.port == 0 or port_is_free(self.port):
            return self.port
        self.port_notice = (
            f"port {self.port} is in use by another program, so the local runtime listens on "
            f"another port this time: editor configs made now stop working when it restarts "
            f"(free port {self.port}, or choose another in Run > Local runtime port)"
        )
        log_line(self.port_notice)
        self.progress.emit(f"Local runtime: {self.port_notice}")
        return 0

    @staticmethod
    def _last_log_line() -> str:
        try:
            lines = (data_dir() / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "no log"
        last = [line for line in lines.splitlines() if line.strip()][-1:]
        return last[0].strip() if last else f"see {data_dir() / LOG_FILE}"

    # -------------------------------------------------------------------------- watching

    def _check_soon(self) -> None:
        if self._client is not None and (self._checking is None or self._checking.done()):
            asyncio.ensure_future(self.check()).add_done_callback(_swallow)

    async def check(self) -> bool:
        """Ask the runtime whether it is up; start it again when it died (if it is ours or
        the local one). Callers at the same time share one check (and one restart)."""
        if self._checking is None or self._checking.done():
            self._checking = asyncio.ensure_future(self._check())
        return await asyncio.shield(self._checking)

    async def _check(self) -> bool:
        if self._client is None:
            return False
        reason = await self._gone_reason(self._client)
        if reason is None:
            if self._state != "connected":
                self._set_state("connected")
            return True
        if not self._restartable:
            self._set_state(f"error: {reason}")
            return False
        self.last_restart = (time.time(), reason)
        log_line(f"restarting the local runtime: {reason}")
        self._set_state("restarting")
        self.progress.emit(f"The local runtime was gone ({reason}): starting it again…")
        old, self._client = self._client, None
        await old.aclose()
        self._stop_process()
        await self.ensure()
        return True

    async def _gone_reason(self, client: ApiClient) -> str | None:
        """Why the runtime counts as gone, or None while it answers. A process that exited is
        gone at once; one that lives must fail every check over a few seconds (hung)."""
        failure = ""
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S)):
            exited = self._exited()
            if exited is not None:
                return exited
            await asyncio.sleep(delay)
            try:
                await client.health()
            except ApiError as exc:
                failure = exc.message
                continue
            if attempt:
                log_line(f"the runtime answered again after {attempt} failed health checks")
            return None
        return f"it did not answer {len(RETRY_DELAYS_S) + 1} health checks ({failure})"

    def _exited(self) -> str | None:
        """How the runtime's process ended, when it did (ours, or the one runtime.json names)."""
        if self._process is not None:
            code = self._process.poll()
            if code is None:
                return None
            return f"its process ended with {_how(code)}"
        if self._restartable and local_runtime() is None:
            return "its process is gone (runtime.json names no running process)"
        return None

    def choose_port(self, parent: QWidget) -> None:
        """Run ▸ Local runtime port: where the local runtime listens from its next start, so
        the gateway URLs in editor configs stay put."""
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QInputDialog

        port, chosen = QInputDialog.getInt(
            parent,
            "Local runtime port",
            "Port of the local runtime and its gateway (editor configs point at it; 0 for any "
            "free one). Used from the runtime's next start.",
            self.port,
            0,
            65535,
        )
        if chosen:
            QSettings("Aerostudio", "Aerostudio").setValue(PORT_SETTING, port)
            self.port = port

    # -------------------------------------------------------------------------- stopping

    def shutdown(self) -> None:
        """On exit: stop the runtime this studio started, unless it should keep running."""
        self._health.stop()
        if not self.keep_running.isChecked():
            self._stop_process()
        self._process = None
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(client.aclose())
        self._set_state("stopped")

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGINT lets `aerostudio runtime` remove runtime.json and close its database cleanly.
        process.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _how(code: int) -> str:
    """An exit code as a person reads it (a negative one is the signal that ended it)."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit code {code}"


def runtime_env() -> dict[str, str]:
    """The local runtime's environment: the studio's, with the studio's own scripts first on
    PATH, so a stdio server installed with it (`mcp-server-time`) starts even when the studio
    was started without its virtual environment activated."""
    env = os.environ.copy()
    scripts = str(Path(sys.executable).parent)
    paths = env.get("PATH", "").split(os.pathsep)
    if scripts not in paths:
        env["PATH"] = os.pathsep.join([scripts, *[p for p in paths if p]])
    return env


def configured_port() -> int:
    """The local runtime's port: $AEROSTUDIO_RUNTIME_PORT, else the studio's setting, else 7410."""
    from PySide6.QtCore import QSettings

    setting = QSettings("Aerostudio", "Aerostudio").value(PORT_SETTING)
    for value in (os.environ.get(PORT_ENV), setting):
        with contextlib.suppress(TypeError, ValueError):
            if value not in (None, "") and 0 <= int(value) <= 65535:
                return int(value)
    return DEFAULT_PORT


def port_is_free(port: int) -> bool:
    """Whether the runtime could listen on 127.0.0.1:`port` (bound as the runtime binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def runtime_log() -> Path:
    """The local runtime's log: what it printed, and the studio's lines on restarting it."""
    return data_dir() / LOG_FILE


def log_line(text: str) -> None:
    """A line from the studio in runtime.log, next to what the runtime wrote: why it restarted."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with contextlib.suppress(OSError), open(runtime_log(), "a", encoding="utf-8") as log:
        log.write(f"{stamp} studio: {text}\n")


def _swallow(task: asyncio.Future[Any]) -> None:
    """Background connection attempts report through `state_changed`, not exceptions."""
    if not task.cancelled():
        task.exception()
