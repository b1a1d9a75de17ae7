"""The SQLite file the demo MCP servers share, and helpers they all use.

One file holds the tickets, error log and orders so a demo workspace needs one setting,
`AEROSTUDIO_DEMO_DB`; without it the file lives in Aerostudio's data directory.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.types import ToolAnnotations

DB_ENV = "AEROSTUDIO_DEMO_DB"

READ_ONLY = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
WRITES = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
)
DESTRUCTIVE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False
)


def db_path() -> Path:
    """`AEROSTUDIO_DEMO_DB`, else `demo/demo.sqlite` in Aerostudio's data directory."""
    configured = os.environ.get(DB_ENV)
    if configured:
        path = Path(configured).expanduser()
    else:
        from engine.paths import data_dir

        path = data_dir() / "demo" / "demo.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def connect(schema: str) -> Iterator[sqlite3.Connection]:
    """A short-lived connection in one transaction; several demo servers may share the file."""
    connection = sqlite3.connect(db_path(), timeout=10, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA busy_timeout=10000")
        connection.execute("BEGIN IMMEDIATE")
        for statement in filter(str.strip, schema.split(";")):
            connection.execute(statement)
        yield connection
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_dict(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)
