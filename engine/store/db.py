"""Opening databases: SQLite files tuned for many small commits, or any SQLAlchemy URL."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine.paths import private_file


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3, the driver we ship (SQLAlchemy would look for psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_engine(url: str) -> sa.Engine:
    """SQLite in WAL mode with synchronous=NORMAL (durable at each commit on a process kill), its
    file readable by its owner only, or any other SQLAlchemy URL."""
    if not url.startswith("sqlite"):
        return sa.create_engine(normalize_url(url), pool_pre_ping=True)
    database = sa.engine.make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if path.parent.is_dir():
            private_file(path)  # SQLite gives its -wal and -shm files the same mode
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


@contextlib.contextmanager
def exclusive(engine: sa.Engine, name: str) -> Iterator[None]:
    """Hold a database-wide lock named `name` while setting up (creating tables, migrating, making
    the first admin): several server processes starting at once on one PostgreSQL then do it one
    after the other. A PostgreSQL advisory lock, freed even if the process dies; on SQLite,
    nothing (one process owns a desktop database, and a schema change takes SQLite's own lock)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as db:
        db.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            db.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            db.commit()
