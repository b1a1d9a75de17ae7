"""Who may execute a database's runs: one process per SQLite file, one per executor id on
PostgreSQL. Both locks die with their holder, even by `kill -9`, so a restart can take over."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from engine.paths import private_file
from engine.store.db import normalize_url


class RuntimeBusy(RuntimeError):
    """Another process already runs this database's runs (or this executor id's)."""


def shown_url(url: str) -> str:
    """A database URL fit for a message: its password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "the runs database"


def _advisory_key(executor_id: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(f"aerostudio-executor:{executor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class RuntimeLock:
    """A SQLite file is run by one process at a time: whoever holds a file lock beside it.

    On PostgreSQL several processes share the runs, each with its own executor id; a session
    advisory lock per executor id keeps two processes from claiming the same id (both would
    recover, and run, the same pending runs)."""

    def __init__(self, url: str, executor_id: str = "local") -> None:
        self.url = url
        self.executor_id = executor_id
        self.path = (
            Path(url.removeprefix("sqlite:///") + ".lock") if url.startswith("sqlite:///") else None
        )
        self._file: Any = None
        self._connection: sa.Connection | None = None

    def acquire(self) -> None:
        """Take the lock, or raise RuntimeBusy naming who holds it."""
        if self.path is not None:
            if not self._lock_file(self.path):
                raise RuntimeBusy(
                    f"another Aerostudio runtime is running the runs of {shown_url(self.url)}"
                )
        elif normalize_url(self.url).startswith("postgresql") and not self._lock_executor():
            raise RuntimeBusy(
                f"another Aerostudio runtime is running executor '{self.executor_id}' "
                f"on {shown_url(self.url)}"
            )

    def _lock_file(self, path: Path) -> bool:
        import fcntl

        handle = private_file(path).open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def _lock_executor(self) -> bool:
        """Held by a connection of its own, for as long as this process lives."""
        engine = sa.create_engine(normalize_url(self.url), poolclass=NullPool)
        connection = engine.connect()
        key = _advisory_key(self.executor_id)
        held = bool(connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
        connection.commit()
        if not held:
            connection.close()
            engine.dispose()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._connection is not None:
            engine = self._connection.engine
            self._connection.close()  # the session ends, and its advisory lock with it
            engine.dispose()
            self._connection = None


def executor_alive(url: str, executor_id: str) -> bool:
    """Whether a process holds `executor_id` on the PostgreSQL database at `url` now (its
    advisory lock is taken); on SQLite, only the lock's holder runs anything."""
    if not normalize_url(url).startswith("postgresql"):
        return False
    engine = sa.create_engine(normalize_url(url), poolclass=NullPool)
    key = _advisory_key(executor_id)
    try:
        with engine.connect() as connection:
            taken = bool(connection.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
            if taken:
                connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            connection.commit()
    finally:
        engine.dispose()
    return not taken
