"""Demo MCP server: a small ticket tracker on SQLite, for example flows and agents.

Run it over stdio: `python resources/servers/tickets.py`. The database file comes from
`AEROSTUDIO_DEMO_DB` (see `_demo_db.py`); a few open tickets are there on first start.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated, Any, Literal

from _demo_db import DESTRUCTIVE, READ_ONLY, WRITES, connect, iso, now, row_dict
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

Priority = Literal["low", "normal", "high", "urgent"]
TicketId = Annotated[int, Field(ge=1, description="The ticket's number, e.g. 1001")]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL DEFAULT 'normal',
    status TEXT NOT NULL DEFAULT 'open',
    assignee TEXT,
    labels TEXT NOT NULL DEFAULT '[]',
    resolution TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ticket_comments (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""

SEED = [
    (
        "Checkout times out for some EU customers",
        "p95 latency above 8 s since the last deploy.",
        "high",
        "maya",
        ["checkout", "latency"],
    ),
    (
        "Password reset email arrives twice",
        "Reported by three customers this week.",
        "normal",
        None,
        ["auth", "email"],
    ),
    (
        "Search ignores accented characters",
        "'café' finds nothing, 'cafe' works.",
        "low",
        "tom",
        ["search"],
    ),
]

server = MCPServer(
    "tickets",
    title="Demo ticket tracker",
    instructions="A demo ticket tracker. Tickets have a number, a priority and a status.",
    log_level="WARNING",
)


def _seed(db: sqlite3.Connection) -> None:
    if db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'tickets'").fetchone():
        return
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('tickets', 1000)")
    stamp = iso(now())
    for title, body, priority, assignee, labels in SEED:
        db.execute(
            "INSERT INTO tickets (title, body, priority, assignee, labels, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, body, priority, assignee, json.dumps(labels), stamp, stamp),
        )


def _ticket(db: sqlite3.Connection, ticket_id: int) -> dict[str, Any]:
    ticket = row_dict(db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone())
    if ticket is None:
        raise ToolError(f"ticket {ticket_id} does not exist; list_tickets shows the open ones")
    ticket["labels"] = json.loads(ticket["labels"])
    comments = db.execute(
        "SELECT text, created_at FROM ticket_comments WHERE ticket_id = ? ORDER BY rowid",
        (ticket_id,),
    )
    ticket["comments"] = [dict(row) for row in comments]
    return ticket


@server.tool(title="Create ticket", annotations=WRITES)
def create_ticket(
    title: Annotated[str, Field(min_length=1, max_length=200, description="One-line summary")],
    body: Annotated[str, Field(description="What happened, steps, links")] = "",
    priority: Priority = "normal",
    assignee: Annotated[str | None, Field(description="Who should handle it")] = None,
    labels: Annotated[list[str], Field(description="Tags such as a service name")] = [],  # noqa: B006
) -> dict[str, Any]:
    """File a new ticket; it starts open."""
    with connect(SCHEMA) as db:
        _seed(db)
        stamp = iso(now())
        cursor = db.execute(
            "INSERT INTO tickets (title, body, priority, assignee, labels, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, body, priority, assignee, json.dumps(labels), stamp, stamp),
        )
        return _ticket(db, int(cursor.lastrowid or 0))


@server.tool(title="Get ticket", annotations=READ_ONLY)
def get_ticket(ticket_id: TicketId) -> dict[str, Any]:
    """One ticket with its comments."""
    with connect(SCHEMA) as db:
        _seed(db)
        return _ticket(db, ticket_id)


@server.tool(title="List tickets", annotations=READ_ONLY)
def list_tickets(
    status: Literal["open", "closed", "any"] = "open",
    priority: Priority | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """Tickets, newest first, filtered by status, priority and assignee."""
    clauses, params = [], []
    for column, value in (("status", status), ("priority", priority), ("assignee", assignee)):
        if value is not None and value != "any":
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with connect(SCHEMA) as db:
        _seed(db)
        rows = db.execute(
            f"SELECT id, title, priority, status, assignee, updated_at FROM tickets {where}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
    tickets = [dict(row) for row in rows]
    return {"tickets": tickets, "count": len(tickets)}


@server.tool(title="Update ticket", annotations=WRITES)
def update_ticket(
    ticket_id: TicketId,
    title: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
    priority: Priority | None = None,
    assignee: str | None = None,
    comment: Annotated[str | None, Field(description="Adds a comment to the ticket")] = None,
) -> dict[str, Any]:
    """Change a ticket's title, priority or assignee, and/or add a comment."""
    changes = {"title": title, "priority": priority, "assignee": assignee}
    changes = {column: value for column, value in changes.items() if value is not None}
    if not changes and comment is None:
        raise ToolError("nothing to update: give a title, priority, assignee or comment")
    with connect(SCHEMA) as db:
        _seed(db)
        _ticket(db, ticket_id)
        stamp = iso(now())
        assignments = "".join(f"{column} = ?, " for column in changes)
        db.execute(
            f"UPDATE tickets SET {assignments}updated_at = ? WHERE id = ?",
            (*changes.values(), stamp, ticket_id),
        )
        if comment is not None:
            db.execute(
                "INSERT INTO ticket_comments (ticket_id, text, created_at) VALUES (?, ?, ?)",
                (ticket_id, comment, stamp),
            )
        return _ticket(db, ticket_id)


@server.tool(title="Close ticket", annotations=DESTRUCTIVE)
def close_ticket(
    ticket_id: TicketId,
    resolution: Annotated[str, Field(min_length=1, description="How it was resolved")],
) -> dict[str, Any]:
    """Close a ticket for good with a resolution."""
    with connect(SCHEMA) as db:
        _seed(db)
        if _ticket(db, ticket_id)["status"] == "closed":
            raise ToolError(f"ticket {ticket_id} is already closed")
        db.execute(
            "UPDATE tickets SET status = 'closed', resolution = ?, updated_at = ? WHERE id = ?",
            (resolution, iso(now()), ticket_id),
        )
        return _ticket(db, ticket_id)


if __name__ == "__main__":
    server.run("stdio")
