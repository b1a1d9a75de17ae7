"""Demo MCP server: customer orders on SQLite, for support triage examples.

Run it over stdio: `python resources/servers/orders.py`. The database file comes from
`AEROSTUDIO_DEMO_DB` (see `_demo_db.py`); sample orders A-1001 to A-1006 are there on first start.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Annotated, Any

from _demo_db import DESTRUCTIVE, READ_ONLY, connect, iso, now, row_dict
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

OrderId = Annotated[str, Field(pattern=r"^A-\d{4}$", description="The order number, e.g. A-1001")]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    customer_email TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    status TEXT NOT NULL,
    items TEXT NOT NULL,
    total REAL NOT NULL,
    currency TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    tracking TEXT
);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES orders(order_id),
    amount REAL NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""

# (order id, email, name, status, items [(sku, name, qty, price)], days ago, tracking)
SEED = [
    (
        "A-1001",
        "ana@example.com",
        "Ana Souza",
        "shipped",
        [("JK-204", "Winter jacket", 1, 129.90)],
        3,
        "1Z999AA10123456784",
    ),
    (
        "A-1002",
        "ben@example.com",
        "Ben Okafor",
        "delivered",
        [("MG-010", "Coffee mug", 2, 12.50), ("BN-300", "Coffee beans 1 kg", 1, 24.00)],
        9,
        "1Z999AA10123456785",
    ),
    (
        "A-1003",
        "chloe@example.com",
        "Chloé Martin",
        "processing",
        [("HD-77", "Headphones", 1, 89.00)],
        1,
        None,
    ),
    (
        "A-1004",
        "ana@example.com",
        "Ana Souza",
        "delivered",
        [("SC-12", "Wool scarf", 1, 35.00)],
        30,
        "1Z999AA10123456786",
    ),
    (
        "A-1005",
        "dev@example.com",
        "Dev Patel",
        "cancelled",
        [("GC-50", "Gift card", 1, 50.00)],
        12,
        None,
    ),
    (
        "A-1006",
        "eva@example.com",
        "Eva Lind",
        "delivered",
        [("LP-15", "Laptop stand", 1, 45.00), ("CB-02", "USB-C cable", 3, 9.90)],
        6,
        "1Z999AA10123456787",
    ),
]

server = MCPServer(
    "orders",
    title="Demo orders",
    instructions="Demo customer orders (A-1001 to A-1006) with lookup and refunds.",
    log_level="WARNING",
)


def _seed(db: sqlite3.Connection) -> None:
    if db.execute("SELECT 1 FROM orders LIMIT 1").fetchone():
        return
    moment = now()
    for order_id, email, name, status, items, days, tracking in SEED:
        lines = [{"sku": s, "name": n, "quantity": q, "price": p} for s, n, q, p in items]
        total = round(sum(q * p for _, _, q, p in items), 2)
        db.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, 'EUR', ?, ?)",
            (
                order_id,
                email,
                name,
                status,
                json.dumps(lines),
                total,
                iso(moment - timedelta(days=days)),
                tracking,
            ),
        )


def _order(db: sqlite3.Connection, order_id: str) -> dict[str, Any]:
    order = row_dict(db.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone())
    if order is None:
        raise ToolError(f"order {order_id} does not exist; order numbers look like A-1001")
    order["items"] = json.loads(order["items"])
    refunds = db.execute(
        "SELECT refund_id, amount, reason, created_at FROM refunds WHERE order_id = ?"
        " ORDER BY refund_id",
        (order_id,),
    )
    order["refunds"] = [dict(row) for row in refunds]
    order["refunded"] = round(sum(r["amount"] for r in order["refunds"]), 2)
    return order


@server.tool(title="Get order", annotations=READ_ONLY)
def get_order(order_id: OrderId) -> dict[str, Any]:
    """One order: customer, status, items, total, tracking number and refunds so far."""
    with connect(SCHEMA) as db:
        _seed(db)
        return _order(db, order_id)


@server.tool(title="List a customer's orders", annotations=READ_ONLY)
def list_orders(
    customer_email: Annotated[str, Field(min_length=3, description="The customer's email")],
) -> dict[str, Any]:
    """A customer's orders, newest first."""
    with connect(SCHEMA) as db:
        _seed(db)
        rows = db.execute(
            "SELECT order_id, status, total, currency, placed_at FROM orders"
            " WHERE lower(customer_email) = lower(?) ORDER BY placed_at DESC",
            (customer_email,),
        ).fetchall()
    return {"orders": [dict(row) for row in rows], "count": len(rows)}


@server.tool(title="Refund order", annotations=DESTRUCTIVE)
def refund_order(
    order_id: OrderId,
    reason: Annotated[str, Field(min_length=1, description="Why the money goes back")],
    amount: Annotated[
        float | None, Field(gt=0, description="Part of the total; empty refunds what is left")
    ] = None,
) -> dict[str, Any]:
    """Send money back to the customer; refunds cannot be undone."""
    with connect(SCHEMA) as db:
        _seed(db)
        order = _order(db, order_id)
        if order["status"] == "cancelled":
            raise ToolError(f"order {order_id} was cancelled and never charged")
        left = round(order["total"] - order["refunded"], 2)
        if left <= 0:
            raise ToolError(f"order {order_id} is already fully refunded")
        refund = left if amount is None else round(amount, 2)
        if refund > left:
            raise ToolError(
                f"order {order_id} has only {left:.2f} {order['currency']} left to refund"
            )
        cursor = db.execute(
            "INSERT INTO refunds (order_id, amount, reason, created_at) VALUES (?, ?, ?, ?)",
            (order_id, refund, reason, iso(now())),
        )
        return {
            "refund_id": cursor.lastrowid,
            "order_id": order_id,
            "amount": refund,
            "currency": order["currency"],
            "remaining": round(left - refund, 2),
        }


if __name__ == "__main__":
    server.run("stdio")
