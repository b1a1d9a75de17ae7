"""A stdio MCP server's process, read within bounds: one server cannot stall the gateway.

The SDK's stdio client splits its whole growing buffer on every chunk (a 300 MiB line took
minutes of CPU and its size in memory) and logs a traceback for each line that is not JSON-RPC.
Here a line is found by scanning each byte once, and a server is stopped, its request failing
with a message naming the server and the limit, when it writes a line longer than
`AEROSTUDIO_STDIO_LINE_BYTES` (16 MiB) or more than NOISE_BYTES of non-JSON-RPC output within a
minute. Its stderr goes to its own log file in the data directory (`logs/servers/`, rotated at
1 MiB, one old file kept) and, up to ECHO_LINES a minute, to the gateway's stderr, each line
cut at 64 KiB and with the workspace's secret values redacted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from engine.paths import data_dir, private_file

LINE_ENV = "AEROSTUDIO_STDIO_LINE_BYTES"
LINE_BYTES = 16 * 1024 * 1024
NOISE_BYTES = 1024 * 1024  # of non-JSON-RPC stdout a minute
CHUNK = 64 * 1024
STDERR_LINE_MAX = 64 * 1024
LOG_BYTES = 1024 * 1024  # a server's log file is rotated past this
LOG_BYTES_PER_MINUTE = 1024 * 1024
ECHO_LINES = 100  # a minute, to the gateway's own stderr
STOP_GRACE_S = 2.0


def line_limit() -> int:
    """The longest stdout line a server may write, from the environment, or a ValueError."""
    text = os.environ.get(LINE_ENV, "").strip()
    if not text:
        return LINE_BYTES
    if not text.isascii() or not text.isdigit() or int(text) < 1024:
        raise ValueError(f"{LINE_ENV}: a number of bytes, 1024 or more, not '{text}'")
    return int(text)


class ServerLog:
    """What a server writes to stderr: its own rotated file, and a few lines a minute on the
    gateway's stderr (the rest is only in the file). One per server (`of`), so that a server
    restarting gets no new share."""

    _known: dict[str, ServerLog] = {}

    @classmethod
    def of(cls, label: str, redact: Callable[[str], str]) -> ServerLog:
        log = cls._known.get(label)
        if log is None:
            log = cls._known[label] = cls(label, redact)
        log.redact = redact  # the workspace's secrets as they are now
        return log

    def __init__(self, label: str, redact: Callable[[str], str]) -> None:
        self.label = label
        self.redact = redact
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "server"
        self.path = data_dir() / "logs" / "servers" / f"{safe}.log"
        self._window = 0.0
        self._written = 0
        self._echoed = 0
        self._dropped = 0

    def _roll(self) -> None:
        now = time.monotonic()
        if now - self._window >= 60:
            if self._dropped:
                self._write(f"[aerostudio] {self._dropped:,} bytes of this server's stderr dropped")
            self._window, self._written, self._echoed, self._dropped = now, 0, 0, 0

    def saturated(self) -> bool:
        """Whether this minute's share is written: what comes until the next is dropped."""
        self._roll()
        return self._written >= LOG_BYTES_PER_MINUTE

    def drop(self, size: int) -> None:
        self._dropped += size

    def line(self, raw: bytes) -> None:
        """One line (without its newline), cut to STDERR_LINE_MAX bytes."""
        if self.saturated():
            self.drop(len(raw) + 1)
            return
        text = self.redact(raw[:STDERR_LINE_MAX].decode(errors="replace"))
        self._written += len(text) + 1
        self._write(text)
        if self._echoed < ECHO_LINES:
            self._echoed += 1
            suffix = f" (more in {self.path})" if self._echoed == ECHO_LINES else ""
            with contextlib.suppress(ValueError, OSError):
                sys.stderr.write(f"[{self.label}] {text}{suffix}\n")
                sys.stderr.flush()

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size >= LOG_BYTES:
                self.path.replace(self.path.with_suffix(".log.1"))
            with private_file(self.path).open("a", encoding="utf-8") as file:
                file.write(text + "\n")


class Lines:
    """Lines out of chunks, each byte scanned once. Once a line passes `limit` bytes, `over` is
    set and what is buffered is dropped: the lines before it are given, not it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._scanned = 0
        self.over = False

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        lines: list[bytes] = []
        start = 0
        while (end := self._buffer.find(b"\n", self._scanned)) >= 0:
            if end - start > self.limit:
                break
            lines.append(bytes(self._buffer[start:end]))
            start = self._scanned = end + 1
        else:
            if len(self._buffer) - start <= self.limit:
                del self._buffer[:start]
                self._scanned = len(self._buffer)
                return lines
        self.over = True
        self._buffer.clear()
        self._scanned = 0
        return lines


class BoundedStdio:
    """An `mcp.Client` transport for a stdio server (StdioServerParameters); `failure` says
    why it was stopped, when it was."""

    def __init__(
        self, params: Any, label: str, redact: Callable[[str], str] = str, limit: int = 0
    ) -> None:
        self.params = params
        self.label = label
        self.limit = limit or line_limit()
        self.log = ServerLog.of(label, redact)
        self.failure: str | None = None
        self._context: contextlib.AbstractAsyncContextManager[Any] | None = None

    async def __aenter__(self) -> Any:
        self._context = self._run()
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        assert self._context is not None
        return await self._context.__aexit__(*exc)

    @contextlib.asynccontextmanager
    async def _run(self) -> AsyncIterator[Any]:
        from mcp.client.stdio import get_default_environment

        process = await anyio.open_process(
            [self.params.command, *self.params.args],
            env=get_default_environment() | (self.params.env or {}),
            cwd=self.params.cwd,
            start_new_session=True,
        )
        read_writer, read_stream = anyio.create_memory_object_stream[Any](0)
        write_stream, write_reader = anyio.create_memory_object_stream[Any](0)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._stdout, process, read_writer)
                tasks.start_soon(self._stdin, process, write_reader, read_writer)
                tasks.start_soon(self._stderr, process)
                try:
                    yield read_stream, write_stream
                finally:
                    with anyio.CancelScope(shield=True):
                        await _stop(process)
                    tasks.cancel_scope.cancel()
        finally:
            _kill_group(process.pid)
            for stream in (read_stream, write_stream, read_writer, write_reader):
                stream.close()

    def _fail(self, process: Process, reason: str) -> None:
        self.failure = reason
        self.log.line(f"[aerostudio] stopped: {reason}".encode())
        _kill_group(process.pid)

    async def _stdout(self, process: Process, sink: MemoryObjectSendStream[Any]) -> None:
        """Messages to the session; the read stream closes (failing requests in flight) when
        the server ends or is stopped."""
        from mcp.shared.message import SessionMessage
        from mcp_types import jsonrpc_message_adapter

        assert process.stdout is not None
        lines = Lines(self.limit)
        noise, window = 0, time.monotonic()
        async with sink:
            while True:
                try:
                    chunk = await process.stdout.receive(CHUNK)
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                for line in lines.feed(chunk):
                    try:
                        message = jsonrpc_message_adapter.validate_json(line, by_name=False)
                    except ValueError:
                        if time.monotonic() - window >= 60:
                            noise, window = 0, time.monotonic()
                        noise += len(line) + 1
                        if noise > NOISE_BYTES:
                            self._fail(process, self._noisy())
                            return
                        self.log.line(b"[stdout, not JSON-RPC] " + line)
                        continue
                    try:
                        await sink.send(SessionMessage(message))
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return
                if lines.over:
                    self._fail(process, self._too_long())
                    return

    def _too_long(self) -> str:
        return (
            f"server '{self.label}' wrote a line longer than {self.limit:,} bytes to stdout "
            f"(the limit, {LINE_ENV}); it was stopped"
        )

    def _noisy(self) -> str:
        return (
            f"server '{self.label}' wrote more than {NOISE_BYTES:,} bytes a minute to stdout "
            "that are not JSON-RPC messages (logs belong on stderr); it was stopped"
        )

    async def _stdin(
        self,
        process: Process,
        source: MemoryObjectReceiveStream[Any],
        reader: MemoryObjectSendStream[Any],
    ) -> None:
        assert process.stdin is not None
        try:
            async with source:
                async for message in source:
                    text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((text + "\n").encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await reader.aclose()  # the server is gone: requests fail rather than hang

    async def _stderr(self, process: Process) -> None:
        assert process.stderr is not None
        lines = Lines(STDERR_LINE_MAX)
        while True:
            try:
                chunk = await process.stderr.receive(CHUNK)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            if self.log.saturated():  # not even split into lines: a flood costs little
                self.log.drop(len(chunk))
                continue
            for line in lines.feed(chunk):
                self.log.line(line)
            if lines.over:  # a long stderr line is dropped, not fatal
                self.log.line(f"[aerostudio] a line over {STDERR_LINE_MAX:,} bytes".encode())
                lines.over = False


def _kill_group(group: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(OSError):
        os.killpg(group, sig)


async def _exited(process: Process, within_s: float) -> bool:
    """Whether the process exits within the time, by its return code (not `wait()`, which
    also waits for pipes a child of the server may hold open)."""
    with anyio.move_on_after(within_s):
        while process.returncode is None:
            await anyio.sleep(0.01)
    return process.returncode is not None


async def _stop(process: Process) -> None:
    """Close stdin, then SIGTERM the process group, then SIGKILL it, each after a grace."""
    assert process.stdin is not None
    with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        await process.stdin.aclose()
    if await _exited(process, STOP_GRACE_S):
        return
    _kill_group(process.pid, signal.SIGTERM)
    if not await _exited(process, STOP_GRACE_S):
        _kill_group(process.pid)
        await _exited(process, STOP_GRACE_S)
