"""One upstream MCP server, kept warm and supervised.

A session is opened on first use and kept. When it breaks (a stdio server crashed, a remote
closed), the next use opens a new one after a backoff that doubles with each failure in a row;
five failures within a minute put the server in a cool-down during which calls fail at once with
a clear message instead of hammering it. A stdio server is read within bounds and stopped when
it passes them (engine.gateway.stdio); closing its session kills its whole process tree. Each
upstream has its own session and task, and every request has a deadline, so a slow server never
holds up the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mcp_types as types


BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 15.0
CRASH_LOOP = (5, 60.0)  # this many failures within this many seconds...
COOL_DOWN_S = 60.0  # ...pause the server for this long
LIST_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 120.0


def stdio_tree(params: Any, redact: Callable[[str], str] = str, label: str = "") -> Any:
    """The transport of a stdio server (engine.gateway.stdio): its stdout read within a line
    limit, its stderr to its own rotated log with `redact` applied (a traceback may show the
    secrets it was given), and when it closes, its whole process group killed: children the
    server started and did not stop."""
    from engine.gateway.stdio import BoundedStdio

    return BoundedStdio(params, label or str(params.command), redact)


class UpstreamError(RuntimeError):
    """The upstream server cannot be reached or broke during a request."""


Connect = Callable[[], Awaitable[Any]]  # returns what `mcp.Client` takes as its server


class _Session:
    """An open `mcp.Client`, owned by one task (MCP sessions live in anyio task groups)."""

    def __init__(self, target: Any, on_notice: Callable[[Any], Awaitable[None]]) -> None:
        self._target = target
        self._on_notice = on_notice
        self.ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self.task = asyncio.ensure_future(self._own())

    async def _own(self) -> None:
        from mcp import Client

        async def handle(message: Any) -> None:
            if isinstance(message, Exception):
                return
            await self._on_notice(message)

        try:
            async with Client(self._target, message_handler=handle) as client:
                self.ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(
                    exc if isinstance(exc, Exception) else UpstreamError("the session was stopped")
                )
            if not isinstance(exc, Exception):
                raise

    @property
    def failure(self) -> str | None:
        """Why the transport stopped the server, when it did (a line past its limit...)."""
        failure = getattr(self._target, "failure", None)
        return failure if isinstance(failure, str) else None

    async def close(self) -> None:
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 10)
        except TimeoutError:
            self.task.cancel()


class Upstream:
    """A server of a workspace: warm session, restarts with backoff, cached tool list."""

    def __init__(
        self,
        name: str,
        connect: Connect,
        *,
        on_changed: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._connect = connect
        self._on_changed = on_changed
        self._clock = clock
        self._session: _Session | None = None
        self._opening: asyncio.Lock = asyncio.Lock()
        self._failures: list[float] = []
        self._cool_until = 0.0
        self._not_before = 0.0
        self.tools: list[types.Tool] | None = None
        self.starts = 0

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    # ----------------------------------------------------------------------------- sessions

    async def client(self) -> Any:
        """The open client, opening (or reopening after a backoff) if needed."""
        async with self._opening:
            if self._session is not None and not self._session.task.done():
                return await self._session.ready
            now = self._clock()
            if now < self._cool_until:
                raise UpstreamError(
                    f"server '{self.name}' keeps failing; paused for another "
                    f"{self._cool_until - now:.0f} s"
                )
            if now < self._not_before:
                await asyncio.sleep(self._not_before - now)
            self.starts += 1
            self._session = _Session(await self._connect(), self._notice)
            try:
                client = await asyncio.wait_for(asyncio.shield(self._session.ready), 30)
            except Exception as exc:
                reason = (
                    self._session.failure or f"server '{self.name}' did not start: {_reason(exc)}"
                )
                await self._broke()
                raise UpstreamError(reason) from None
            return client

    async def _broke(self) -> None:
        """Record a failure and drop the session; the next use reopens it after a backoff."""
        now = self._clock()
        window, limit = CRASH_LOOP[1], CRASH_LOOP[0]
        self._failures = [t for t in self._failures if now - t < window] + [now]
        streak = len(self._failures)
        self._not_before = now + min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (streak - 1))
        if streak >= limit:
            self._cool_until = now + COOL_DOWN_S
            self._failures = []
        session, self._session = self._session, None
        self.tools = None
        if session is not None:
            await session.close()

    async def _notice(self, message: Any) -> None:
        """Upstream notifications: a changed tool list is fetched again and passed on."""
        kind = getattr(message, "method", "")
        if kind == "notifications/tools/list_changed":
            self.tools = None
            if self._on_changed is not None:
                await self._on_changed()

    async def _request(self, work: Callable[[Any], Awaitable[Any]], timeout_s: float) -> Any:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        client = await self.client()
        session = self._session
        try:
            return await asyncio.wait_for(work(client), timeout_s)
        except TimeoutError:
            raise UpstreamError(
                f"server '{self.name}' did not answer within {timeout_s:g} s"
            ) from None
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise  # the upstream's own answer (an unknown tool, bad arguments): pass it on
            reason = f"server '{self.name}' closed the connection"
        except Exception as exc:
            reason = f"server '{self.name}' failed: {_reason(exc)}"
        failure = session.failure if session is not None else None
        await self._broke()
        raise UpstreamError(failure or reason)

    # ----------------------------------------------------------------------------- requests

    async def list_tools(self) -> list[types.Tool]:
        if self.tools is None:
            result = await self._request(lambda c: c.list_tools(), LIST_TIMEOUT_S)
            self.tools = list(result.tools)
        return self.tools

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], timeout_s: float = CALL_TIMEOUT_S
    ) -> types.CallToolResult:
        result: types.CallToolResult = await self._request(
            lambda c: c.call_tool(name, dict(arguments)), timeout_s
        )
        return result

    async def list_resources(self) -> list[types.Resource]:
        result = await self._request(lambda c: c.list_resources(), LIST_TIMEOUT_S)
        return list(result.resources)

    async def read_resource(self, uri: str) -> types.ReadResourceResult:
        result: types.ReadResourceResult = await self._request(
            lambda c: c.read_resource(uri), CALL_TIMEOUT_S
        )
        return result

    async def list_prompts(self) -> list[types.Prompt]:
        result = await self._request(lambda c: c.list_prompts(), LIST_TIMEOUT_S)
        return list(result.prompts)

    async def get_prompt(
        self, name: str, arguments: Mapping[str, str] | None
    ) -> types.GetPromptResult:
        result: types.GetPromptResult = await self._request(
            lambda c: c.get_prompt(name, dict(arguments or {})), CALL_TIMEOUT_S
        )
        return result

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    return str(exc) or type(exc).__name__
