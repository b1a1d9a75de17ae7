"""Event streams end when the server stops. A client following a run's events (a paused run's
can stay open for days) would otherwise hold the shutdown for uvicorn's whole grace period: on
`close()` each stream in flight finishes its response cleanly, and the client resumes with
`Last-Event-ID` on the next process, which renumbers no event.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVENT_STREAM = b"text/event-stream"


class Streams:
    """The event streams in flight, for `close()` to end them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closing = False

    def close(self) -> None:
        """End every stream in flight and any that starts later; safe from a signal handler."""
        self.closing = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for task in list(self._tasks):
            task.cancel("the server is stopping")

    def follow(self, task: asyncio.Task[object]) -> None:
        """A task now streaming events."""
        self._loop = asyncio.get_running_loop()
        self._tasks.add(task)
        if self.closing:
            task.cancel("the server is stopping")

    def forget(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)


class StreamCloser:
    """ASGI middleware: an event-stream response ends (a complete response, not a broken
    connection) when its `Streams` is closed."""

    def __init__(self, app: ASGIApp, streams: Streams) -> None:
        self.app = app
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        streaming = False

        async def watched(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start" and task is not None:
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(EVENT_STREAM):
                    streaming = True
                    self.streams.follow(task)
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if not (streaming and self.streams.closing) or task is None:
                raise
            task.uncancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if task is not None:
                self.streams.forget(task)
