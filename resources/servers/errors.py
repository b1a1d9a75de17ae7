"""Demo MCP server: an error-log database on SQLite, read-only, for incident examples.

Run it over stdio: `python resources/servers/errors.py`. The database file comes from
`AEROSTUDIO_DEMO_DB` (see `_demo_db.py`). The log simulates a live system: when its newest
entry is more than an hour old (or the log is empty) a sample day of errors is added, ending now,
so the examples always find recent errors, critical ones included.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Annotated, Any, Literal

from _demo_db import READ_ONLY, connect, iso, now, row_dict
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error", "critical")
Minutes = Annotated[int, Field(ge=1, le=43200, description="How far back to look, in minutes")]

SCHEMA = """
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    service TEXT NOT NULL,
    severity TEXT NOT NULL,
    rank INTEGER NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL,
    host TEXT NOT NULL,
    trace_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS errors_at ON errors (at)
"""

# (minutes before now, service, severity, message, detail): one sample day.
SAMPLE_DAY: list[tuple[int, str, Severity, str, str]] = [
    (
        2,
        "checkout",
        "critical",
        "Payment provider timeout after 30000 ms",
        "TimeoutError: POST https://pay.example.net/v2/charges\n  at charge (checkout/pay.py:88)",
    ),
    (
        9,
        "checkout",
        "critical",
        "Order total mismatch between cart and invoice",
        "AssertionError: cart 129.90 != invoice 119.90\n  at finalize (checkout/order.py:141)",
    ),
    (14, "checkout", "error", "Coupon service returned 503", "HTTPError 503 from coupons:8080"),
    (
        21,
        "checkout",
        "critical",
        "Payment provider timeout after 30000 ms",
        "TimeoutError: POST https://pay.example.net/v2/charges\n  at charge (checkout/pay.py:88)",
    ),
    (35, "search", "warning", "Slow query: 2.4 s for 'winter jacket'", "index=products shards=6"),
    (48, "auth", "error", "Password reset email bounced", "SMTP 550 mailbox unavailable"),
    (63, "checkout", "error", "Coupon service returned 503", "HTTPError 503 from coupons:8080"),
    (80, "notifications", "warning", "Push queue depth above 5000", "queue=push-eu depth=5310"),
    (
        95,
        "payments",
        "error",
        "Webhook signature mismatch from provider",
        "SignatureError: header t=1732 v1=... does not match",
    ),
    (130, "search", "error", "Index refresh failed", "ConnectionResetError on shard 4"),
    (
        170,
        "checkout",
        "error",
        "Inventory reservation expired before payment",
        "ReservationExpired: sku=JK-204 held 900 s",
    ),
    (210, "auth", "warning", "Rate limit reached for /login", "ip=203.0.113.7 attempts=41"),
    (
        260,
        "payments",
        "critical",
        "Refund job crashed",
        "KeyError: 'currency'\n  at refund (payments/jobs.py:57)",
    ),
    (300, "checkout", "error", "Coupon service returned 503", "HTTPError 503 from coupons:8080"),
    (
        380,
        "notifications",
        "error",
        "SMS gateway rejected message",
        "GatewayError 400: invalid sender id",
    ),
    (450, "search", "warning", "Slow query: 3.1 s for 'gift card'", "index=products shards=6"),
    (520, "checkout", "warning", "Retrying charge after network error", "attempt=2 of 3"),
    (
        600,
        "auth",
        "error",
        "Token refresh failed for mobile client",
        "InvalidGrant: refresh token expired",
    ),
    (700, "payments", "warning", "Currency rates are 2 hours old", "source=ecb age_s=7260"),
    (
        820,
        "checkout",
        "error",
        "Address validation service unreachable",
        "ConnectTimeout addr-check:443",
    ),
    (900, "notifications", "info", "Daily newsletter batch sent", "recipients=48210"),
    (1010, "search", "error", "Index refresh failed", "ConnectionResetError on shard 2"),
    (1100, "checkout", "error", "Coupon service returned 503", "HTTPError 503 from coupons:8080"),
    (1250, "auth", "info", "Signing keys rotated", "kid=2026-11"),
    (1380, "payments", "error", "Payout batch partially failed", "failed=3 of 120"),
]
HOSTS = {
    "checkout": "web-eu-1",
    "search": "search-2",
    "auth": "auth-1",
    "notifications": "notify-1",
    "payments": "pay-1",
}
REFRESH_AFTER = timedelta(hours=1)

server = MCPServer(
    "errors",
    title="Demo error log",
    instructions="A demo error log of five services: checkout, payments, search, auth, "
    "notifications. Severities: info, warning, error, critical.",
    log_level="WARNING",
)


def _refresh(db: sqlite3.Connection) -> None:
    """Add a sample day ending now when the newest entry is older than an hour."""
    newest = db.execute("SELECT max(at) FROM errors").fetchone()[0]
    moment = now()
    if newest is not None and newest >= iso(moment - REFRESH_AFTER):
        return
    for index, (minutes, service, severity, message, detail) in enumerate(SAMPLE_DAY):
        db.execute(
            "INSERT INTO errors (at, service, severity, rank, message, detail, host, trace_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                iso(moment - timedelta(minutes=minutes)),
                service,
                severity,
                SEVERITIES.index(severity),
                message,
                detail,
                HOSTS[service],
                f"{moment:%Y%m%d%H%M}-{index:03d}",
            ),
        )


def _since(minutes: int) -> str:
    return iso(now() - timedelta(minutes=minutes))


@server.tool(title="Query errors", annotations=READ_ONLY)
def query_errors(
    service: Annotated[str | None, Field(description="Only this service, e.g. checkout")] = None,
    min_severity: Annotated[Severity, Field(description="Lowest severity to include")] = "warning",
    since_minutes: Minutes = 60,
    limit: Annotated[int, Field(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Recent errors, newest first, with how many match and how many are critical."""
    where = "at >= ? AND rank >= ?" + (" AND service = ?" if service else "")
    params: list[Any] = [_since(since_minutes), SEVERITIES.index(min_severity)]
    params += [service] if service else []
    with connect(SCHEMA) as db:
        _refresh(db)
        count, critical = db.execute(
            f"SELECT count(*), coalesce(sum(severity = 'critical'), 0) FROM errors WHERE {where}",
            params,
        ).fetchone()
        rows = db.execute(
            f"SELECT id, at, service, severity, message FROM errors WHERE {where}"
            " ORDER BY at DESC, id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
    return {
        "since": params[0],
        "count": count,
        "critical": critical,
        "errors": [dict(row) for row in rows],
    }


@server.tool(title="Get error", annotations=READ_ONLY)
def get_error(
    error_id: Annotated[int, Field(ge=1, description="The error's id")],
) -> dict[str, Any]:
    """One error with its detail (stack trace), host and trace id."""
    with connect(SCHEMA) as db:
        _refresh(db)
        entry = row_dict(db.execute("SELECT * FROM errors WHERE id = ?", (error_id,)).fetchone())
    if entry is None:
        raise ToolError(f"error {error_id} does not exist; query_errors lists recent ones")
    del entry["rank"]
    return entry


@server.tool(title="Error statistics", annotations=READ_ONLY)
def error_stats(since_minutes: Minutes = 1440) -> dict[str, Any]:
    """Errors per service and severity in a time window; services with the most errors first."""
    since = _since(since_minutes)
    with connect(SCHEMA) as db:
        _refresh(db)
        rows = db.execute(
            "SELECT service, severity, message, count(*) AS n FROM errors WHERE at >= ?"
            " AND severity != 'info' GROUP BY service, severity, message",
            (since,),
        ).fetchall()
    services: dict[str, dict[str, Any]] = {}
    by_severity = dict.fromkeys(SEVERITIES[1:], 0)
    for service, severity, message, n in rows:
        entry = services.setdefault(
            service, {"name": service, "count": 0, "critical": 0, "messages": {}}
        )
        entry["count"] += n
        entry["critical"] += n if severity == "critical" else 0
        entry["messages"][message] = entry["messages"].get(message, 0) + n
        by_severity[severity] += n
    ranked = sorted(services.values(), key=lambda s: (-s["count"], s["name"]))
    for entry in ranked:
        messages = entry.pop("messages")
        entry["top_message"] = max(sorted(messages), key=messages.__getitem__)
    return {
        "since": since,
        "total": sum(by_severity.values()),
        "critical": by_severity["critical"],
        "by_severity": by_severity,
        "services": ranked,
    }


if __name__ == "__main__":
    server.run("stdio")
