"""What the gateway keeps in memory between requests (workspaces, tokens, servers, switched-off
tools, secrets), and how it knows that is still what the database holds.

Every request first asks the database whether anything was committed since the last look, by
any process; if so, everything kept is forgotten and read again (in a worker thread, off the
event loop). So a token revoked through the CLI, the API or another server process is refused at
the very next request, and an expiry is checked against the clock on every request.

- SQLite: `PRAGMA data_version` on a connection of our own, which SQLite changes whenever
  another connection (of this process or another) commits: a read of the database's shared
  memory, not of a table, cheap enough to make on the event loop.
- PostgreSQL: the current snapshot (`pg_current_snapshot()`: the next transaction id and those
  in progress), one round trip in a worker thread. A transaction that writes takes an id, which
  moves the snapshot's end, and its commit takes it out of those in progress, so no committed
  write leaves the snapshot unchanged, whichever server process or client made it.
- Any other database: every request reads again.

What is read is kept under the stamp seen before the read, so a change committed during the
read shows as a new stamp at the next request.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")
MAX_KEPT = 10_000  # answers kept at most; past it they are all read again


class Fresh:
    """Answers kept for as long as the database has not changed."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._seen: object = object()
        self._kept: dict[Hashable, Any] = {}
        self._loading: dict[tuple[Hashable, object], asyncio.Future[Any]] = {}
        self._lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None
        database = engine.url.database
        self._sqlite_path = (
            database
            if engine.dialect.name == "sqlite" and database and database != ":memory:"
            else None
        )

    def stamp(self) -> object:
        """A value that changes whenever anything is committed to the database."""
        if self._sqlite_path is not None:
            with self._lock:
                if self._watcher is None:
                    self._watcher = sqlite3.connect(
                        self._sqlite_path,
                        uri=self._sqlite_path.startswith("file:"),
                        check_same_thread=False,
                        isolation_level=None,
                    )
                row = self._watcher.execute("PRAGMA data_version").fetchone()
            return ("sqlite", row[0])
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as db:
                return db.execute(sa.text("SELECT pg_current_snapshot()::text")).scalar()
        return object()

    async def check(self) -> None:
        """Forget what is kept if the database changed since the last check."""
        if self._sqlite_path is not None:
            stamp = self.stamp()
        else:
            stamp = await asyncio.to_thread(self.stamp)
        if stamp != self._seen:
            self._kept.clear()
            self._seen = stamp

    async def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The kept answer for `key`, else `load()` run in a worker thread (and kept unless the
        database changed meanwhile)."""
        if key in self._kept:
            value: T = self._kept[key]
            return value
        seen = self._seen
        loading = self._loading.get((key, seen))
        if loading is None:  # one read for the requests that miss together
            loading = asyncio.ensure_future(asyncio.to_thread(load))
            self._loading[(key, seen)] = loading
            loading.add_done_callback(lambda _: self._loading.pop((key, seen), None))
        value = await asyncio.shield(loading)
        if seen is self._seen:
            if len(self._kept) >= MAX_KEPT:
                self._kept.clear()
            self._kept[key] = value
        return value

    def close(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
