"""The demo MCP servers answer over stdio: every tool, its annotations, and its results."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.examples.demo_servers import demo_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "demo" / "demo.sqlite"


async def annotations(client: Client) -> dict[str, tuple[bool | None, bool | None]]:
    tools = (await client.list_tools()).tools
    return {
        t.name: (t.annotations.read_only_hint, t.annotations.destructive_hint)
        for t in tools
        if t.annotations is not None
    } | {t.name: (None, None) for t in tools if t.annotations is None}


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def error_text(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text


async def test_tickets_server_reads_are_read_only_and_closing_is_destructive(db: Path) -> None:
    async with demo_client("tickets", db) as client:
        assert await annotations(client) == {
            "create_ticket": (False, False),
            "get_ticket": (True, False),
            "list_tickets": (True, False),
            "update_ticket": (False, False),
            "close_ticket": (False, True),
        }


async def test_tickets_server_files_updates_and_closes_a_ticket(db: Path) -> None:
    async with demo_client("tickets", db) as client:
        seeded = await call(client, "list_tickets")
        assert seeded["count"] == 3
        assert [t["id"] for t in seeded["tickets"]] == [1003, 1002, 1001]

        ticket = await call(
            client,
            "create_ticket",
            title="Critical errors in checkout",
            body="3 payment timeouts",
            priority="urgent",
            labels=["checkout"],
        )
        assert (ticket["id"], ticket["status"], ticket["labels"]) == (1004, "open", ["checkout"])

        updated = await call(
            client, "update_ticket", ticket_id=1004, assignee="maya", comment="On it"
        )
        assert updated["assignee"] == "maya"
        assert [c["text"] for c in updated["comments"]] == ["On it"]
        assert (await call(client, "get_ticket", ticket_id=1004))["comments"] == updated["comments"]

        urgent = await call(client, "list_tickets", priority="urgent")
        assert [t["id"] for t in urgent["tickets"]] == [1004]

        closed = await call(client, "close_ticket", ticket_id=1004, resolution="Provider fixed")
        assert (closed["status"], closed["resolution"]) == ("closed", "Provider fixed")
        assert "already closed" in await error_text(
            client, "close_ticket", ticket_id=1004, resolution="again"
        )
        assert (await call(client, "list_tickets", status="closed"))["count"] == 1
        assert (await call(client, "list_tickets"))["count"] == 3
        assert "does not exist" in await error_text(client, "get_ticket", ticket_id=42)
        assert "nothing to update" in await error_text(client, "update_ticket", ticket_id=1001)


async def test_tickets_persist_in_the_file_named_by_aerostudio_demo_db(db: Path) -> None:
    async with demo_client("tickets", db) as client:
        await call(client, "create_ticket", title="Survives a restart")
    assert db.is_file()
    async with demo_client("tickets", db) as client:
        assert (await call(client, "get_ticket", ticket_id=1004))["title"] == "Survives a restart"


async def test_errors_server_is_read_only_and_has_recent_critical_errors(db: Path) -> None:
    async with demo_client("errors", db) as client:
        assert await annotations(client) == {
            "query_errors": (True, False),
            "get_error": (True, False),
            "error_stats": (True, False),
        }
        recent = await call(client, "query_errors", service="checkout", since_minutes=30)
        assert recent["critical"] == 3
        assert recent["count"] == len(recent["errors"]) == 4
        assert {e["service"] for e in recent["errors"]} == {"checkout"}
        times = [e["at"] for e in recent["errors"]]
        assert times == sorted(times, reverse=True)

        critical = await call(client, "query_errors", min_severity="critical", since_minutes=1440)
        assert {e["severity"] for e in critical["errors"]} == {"critical"}
        assert critical["count"] == critical["critical"] == 4

        limited = await call(client, "query_errors", since_minutes=1440, limit=2)
        assert (len(limited["errors"]), limited["count"]) == (2, 23)

        detail = await call(client, "get_error", error_id=recent["errors"][0]["id"])
        assert "TimeoutError" in detail["detail"]
        assert detail["host"] == "web-eu-1"
        assert "does not exist" in await error_text(client, "get_error", error_id=9999)


async def test_error_stats_rank_services_by_errors(db: Path) -> None:
    async with demo_client("errors", db) as client:
        stats = await call(client, "error_stats")
        assert stats["total"] == sum(s["count"] for s in stats["services"]) == 23
        assert stats["by_severity"] == {"warning": 6, "error": 13, "critical": 4}
        first = stats["services"][0]
        assert (first["name"], first["count"], first["critical"]) == ("checkout", 10, 3)
        assert first["top_message"] == "Coupon service returned 503"
        counts = [s["count"] for s in stats["services"]]
        assert counts == sorted(counts, reverse=True)
        hour = await call(client, "error_stats", since_minutes=60)
        assert [s["name"] for s in hour["services"]] == ["checkout", "auth", "search"]


async def test_orders_server_refunds_once_and_refuses_more(db: Path) -> None:
    async with demo_client("orders", db) as client:
        assert await annotations(client) == {
            "get_order": (True, False),
            "list_orders": (True, False),
            "refund_order": (False, True),
        }
        order = await call(client, "get_order", order_id="A-1002")
        assert (order["status"], order["total"], order["refunded"]) == ("delivered", 49.0, 0)
        assert [
            o["order_id"]
            for o in (await call(client, "list_orders", customer_email="ANA@example.com"))["orders"]
        ] == ["A-1001", "A-1004"]

        part = await call(
            client, "refund_order", order_id="A-1002", reason="Mug broke", amount=12.5
        )
        assert (part["amount"], part["remaining"]) == (12.5, 36.5)
        rest = await call(client, "refund_order", order_id="A-1002", reason="Unhappy")
        assert (rest["amount"], rest["remaining"]) == (36.5, 0)
        assert (await call(client, "get_order", order_id="A-1002"))["refunded"] == 49.0

        assert "already fully refunded" in await error_text(
            client, "refund_order", order_id="A-1002", reason="again"
        )
        assert "never charged" in await error_text(
            client, "refund_order", order_id="A-1005", reason="x"
        )
        assert "only 129.90 EUR left" in await error_text(
            client, "refund_order", order_id="A-1001", reason="x", amount=500
        )
        assert "does not exist" in await error_text(client, "get_order", order_id="A-9999")
        assert (await client.call_tool("get_order", {"order_id": "nope"})).is_error


async def test_error_log_adds_a_fresh_sample_day_when_its_newest_entry_is_old(db: Path) -> None:
    async with demo_client("errors", db) as client:
        assert (await call(client, "error_stats"))["total"] == 23
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE errors SET at = strftime('%Y-%m-%dT%H:%M:%SZ', at, '-2 hours')")
    connection.close()
    async with demo_client("errors", db) as client:
        recent = await call(client, "query_errors", service="checkout", since_minutes=30)
        assert recent["critical"] == 3
        assert (await call(client, "error_stats", since_minutes=3 * 1440))["total"] == 46


async def test_without_aerostudio_demo_db_the_data_lives_in_the_data_directory(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    async with demo_client(
        "orders", tmp_path / "unused.sqlite", {"AEROSTUDIO_HOME": str(home)}
    ) as client:
        assert (await call(client, "get_order", order_id="A-1001"))["status"] == "shipped"
    assert (home / "demo" / "demo.sqlite").is_file()
    assert not (tmp_path / "unused.sqlite").exists()
