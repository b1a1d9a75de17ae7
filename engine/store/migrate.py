"""Schema versions of the gateway's database, applied in order on open.

Version 1 is the schema of `engine.store.tables` as first shipped. A later change adds a
function to MIGRATIONS that moves a version-N database to N+1 (`ALTER TABLE ...` through
SQLAlchemy), and `tables.py` describes the result; a database newer than this code is refused
rather than touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from engine.store.db import exclusive
from engine.store.tables import (
    deliveries,
    deployments,
    metadata,
    schedule_ticks,
    server_tokens,
    settings,
    tokens,
    workspaces,
)

Migration = Callable[[sa.Connection], None]


def _add_deployments(db: sa.Connection) -> None:
    """Version 2: deployed flows and the webhook deliveries they received."""
    deployments.create(db, checkfirst=True)
    deliveries.create(db, checkfirst=True)


def _add_server_tokens(db: sa.Connection) -> None:
    """Version 3: the server's members (admin, developer, viewer of `aerostudio serve`)."""
    server_tokens.create(db, checkfirst=True)


def _add_schedules(db: sa.Connection) -> None:
    """Version 4: when each deployed version was activated, and the schedule ticks claimed."""
    column = deployments.c.activated_at
    if column.name not in {c["name"] for c in sa.inspect(db).get_columns(deployments.name)}:
        ddl = sa.schema.CreateColumn(column).compile(dialect=db.dialect)
        db.execute(sa.text(f"ALTER TABLE {deployments.name} ADD COLUMN {ddl}"))
    schedule_ticks.create(db, checkfirst=True)


def _add_column(db: sa.Connection, column: sa.Column[Any]) -> None:
    """Add a nullable column to its table unless it is there already."""
    table = column.table
    if column.name not in {c["name"] for c in sa.inspect(db).get_columns(table.name)}:
        ddl = sa.schema.CreateColumn(column).compile(dialect=db.dialect)
        db.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))


def _add_member_workspaces(db: sa.Connection) -> None:
    """Version 5: the workspaces each server member belongs to (members made before it belong
    to none but admins, who have them all)."""
    _add_column(db, server_tokens.c.workspaces)


def _add_rate_limits(db: sa.Connection) -> None:
    """Version 6: a rate limit per workspace and per token (none set: the gateway's default,
    as before)."""
    _add_column(db, workspaces.c.rate_per_minute)
    _add_column(db, tokens.c.rate_per_minute)


# MIGRATIONS[i] moves version i + 1 to i + 2
MIGRATIONS: list[Migration] = [
    _add_deployments,
    _add_server_tokens,
    _add_schedules,
    _add_member_workspaces,
    _add_rate_limits,
]
VERSION = 1 + len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer Aerostudio."""


def migrate(engine: sa.Engine) -> int:
    """Create or upgrade the schema; returns the version the database is now at."""
    with exclusive(engine, "aerostudio.schema"), engine.begin() as db:
        fresh = not sa.inspect(db).has_table(settings.name)
        if fresh:
            metadata.create_all(db)
            db.execute(settings.insert().values(key="schema_version", value=VERSION))
            return VERSION
        current = db.execute(
            sa.select(settings.c.value).where(settings.c.key == "schema_version")
        ).scalar_one()
        if current > VERSION:
            raise SchemaTooNew(
                f"the database is at schema version {current}; this Aerostudio knows up to "
                f"{VERSION}: upgrade Aerostudio"
            )
        for step in MIGRATIONS[current - 1 :]:
            step(db)
        db.execute(
            settings.update().where(settings.c.key == "schema_version").values(value=VERSION)
        )
        return VERSION
