"""The examples' expressions fit what the demo servers and the demo model really return.

Each test renders a flow's templates with the scope a run would have, calls the demo servers over
stdio with the rendered arguments, and feeds their real results to the next nodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from engine.flow import Flow, load
from engine.flow.expressions import evaluate, render, render_value
from engine.llm import LlmRegistry, LlmRequest, Message
from engine.paths import examples_dir
from tests.examples.demo_servers import demo_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "demo.sqlite"


class Scope(dict[str, Any]):
    """A run's expression scope that node outputs are added to as the flow goes."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(
            input=payload,
            vars={},
            nodes={},
            run={"id": "r1", "flow_id": "f", "started_at": "2026-11-24T08:00:00Z"},
        )


def config(flow: Flow, node_id: str) -> dict[str, Any]:
    return flow.node(node_id).config


async def call_node(client: Client, flow: Flow, node_id: str, scope: Scope) -> dict[str, Any]:
    """Run an mcp_tool node's call for real and store its output as the node would."""
    node = config(flow, node_id)
    arguments = render_value(node["arguments"], scope)
    result = await client.call_tool(node["tool"].split("__", 1)[1], arguments)
    text = "\n".join(block.text for block in result.content if block.type == "text")
    output = {
        "text": text,
        "content": [block.model_dump() for block in result.content],
        "structured": result.structured_content,
        "is_error": result.is_error,
    }
    scope["nodes"][node_id] = output
    return output


async def demo_answer(flow: Flow, prompt: str, tmp_path: Path) -> str:
    assert flow.settings.llm is not None
    llm = await LlmRegistry(settings_path=tmp_path / "none.json", environ={}).resolve(
        flow_llm=flow.settings.llm
    )
    response = await llm.complete(LlmRequest(messages=(Message.user(prompt),)))
    return response.text


async def test_incident_triage_files_a_ticket_for_critical_checkout_errors(db: Path) -> None:
    flow = load(examples_dir() / "incident-triage.flow.json")
    scope = Scope({"service": "checkout", "summary": "p95 above 8 s"})
    async with demo_client("errors", db) as errors:
        found = await call_node(errors, flow, "errors", scope)
    assert not found["is_error"] and found["structured"]["critical"] == 3
    assert evaluate(config(flow, "assess")["condition"], scope) is True

    async with demo_client("tickets", db) as tickets:
        filed = await call_node(tickets, flow, "file", scope)
        assert not filed["is_error"], filed["text"]
        ticket = filed["structured"]
        assert ticket["title"] == "3 critical errors in checkout"
        assert ticket["labels"] == ["incident", "checkout"]
        assert ticket["body"].startswith("Alert: p95 above 8 s\nLatest: Payment provider timeout")
        stored = await tickets.call_tool("get_ticket", {"ticket_id": ticket["id"]})
        assert stored.structured_content == ticket

    page = render(config(flow, "page")["text"], scope)
    assert page.startswith(":rotating_light: 3 critical errors in checkout: Payment provider")
    scope["nodes"]["fanout"] = {"results": {"ticket": filed, "chat": {"message_id": "m-7"}}}
    output = render_value(config(flow, "escalated")["end"]["output"], scope)
    assert output == {"escalated": True, "service": "checkout", "ticket": 1004, "paged": "m-7"}


async def test_incident_triage_ends_quietly_without_critical_errors(db: Path) -> None:
    flow = load(examples_dir() / "incident-triage.flow.json")
    scope = Scope({"service": "search"})
    async with demo_client("errors", db) as errors:
        found = await call_node(errors, flow, "errors", scope)
    assert found["structured"]["critical"] == 0
    assert evaluate(config(flow, "assess")["condition"], scope) is False
    output = render_value(config(flow, "quiet")["end"]["output"], scope)
    assert output == {
        "escalated": False,
        "service": "search",
        "errors": found["structured"]["count"],
    }


async def test_support_triage_shows_the_order_and_refunds_what_the_reviewer_approved(
    db: Path, tmp_path: Path
) -> None:
    flow = load(examples_dir() / "support-triage.flow.json")
    scope = Scope(
        {
            "text": "My mug from order A-1002 arrived broken, I want a refund",
            "user_id": "u1",
            "user_name": "Ben",
        }
    )
    scope["nodes"]["screen"] = {"passed": True, "text": scope["input"]["text"], "violations": []}
    answer = await demo_answer(flow, render(config(flow, "extract")["prompt"], scope), tmp_path)
    scope["nodes"]["extract"] = {"text": answer, "json": json.loads(answer)}
    assert scope["nodes"]["extract"]["json"] == {"order_id": "A-1002"}

    async with demo_client("orders", db) as orders:
        order = await call_node(orders, flow, "lookup", scope)
        assert order["structured"]["customer_name"] == "Ben Okafor"
        assert evaluate(config(flow, "verify")["identity"], scope) == "ben@example.com"
        status = render(config(flow, "status_reply")["text"], scope)
        assert status == (
            "Hi Ben Okafor, order A-1002 is delivered. Tracking number: 1Z999AA10123456785."
        )
        review = render_value({k: config(flow, "review")[k] for k in ("title", "details")}, scope)
        assert review["title"] == "Refund order A-1002 for Ben Okafor?"
        assert review["details"].startswith("Order total 49.0 EUR, status delivered")

        decision = {"decision": "approved", "reviewer": "lead", "comment": ""}
        scope["nodes"]["review"] = {**decision, "form": {"amount": 12.5}}
        part = await call_node(orders, flow, "refund", scope)
        assert part["structured"] == {
            "refund_id": 1,
            "order_id": "A-1002",
            "amount": 12.5,
            "currency": "EUR",
            "remaining": 36.5,
        }
        confirm = render(config(flow, "refunded")["text"], scope)
        assert confirm == "Done: 12.5 EUR for order A-1002 is on its way back to you."

        scope["nodes"]["review"] = {**decision, "form": None}
        rest = await call_node(orders, flow, "refund", scope)
        assert rest["structured"]["amount"] == 36.5

        again = await call_node(orders, flow, "refund", scope)
        assert again["is_error"]
        scope["error"] = {
            "node_id": "refund",
            "type": "ToolError",
            "message": again["text"],
            "attempt": 1,
        }
        failed = render(config(flow, "refund_failed")["text"], scope)
        assert "already fully refunded" in failed


async def test_support_triage_extracts_the_order_number_the_customer_wrote(
    tmp_path: Path,
) -> None:
    flow = load(examples_dir() / "support-triage.flow.json")
    for text, order_id in [("Where is A-1006?", "A-1006"), ("where is my jacket", "A-1001")]:
        assert json.loads(await demo_answer(flow, text, tmp_path)) == {"order_id": order_id}


async def test_daily_digest_summarizes_every_service_of_the_real_stats(
    db: Path, tmp_path: Path
) -> None:
    flow = load(examples_dir() / "daily-digest.flow.json")
    morning = config(flow, "morning")["schedule"]
    scope = Scope(morning["input"])
    async with demo_client("errors", db) as errors:
        stats = await call_node(errors, flow, "stats", scope)
    services = evaluate(config(flow, "each")["items"], scope)
    assert [s["name"] for s in services] == [
        "checkout",
        "payments",
        "search",
        "auth",
        "notifications",
    ]

    results = []
    for index, service in enumerate(services):
        body = Scope(scope["input"])
        body["nodes"] = scope["nodes"]
        body["vars"] = {"service": service, "index": index}
        text = await demo_answer(flow, render(config(flow, "summarize")["prompt"], body), tmp_path)
        assert text.startswith(service["name"].capitalize() + ":")
        results.append({"text": text})
    scope["nodes"]["each"] = {"results": results, "count": len(results)}

    namespace: dict[str, Any] = {}
    exec(config(flow, "format")["code"], namespace)  # the example's own code, in-process here
    formatted = namespace["main"](scope["input"], scope["vars"], scope["nodes"])
    scope["nodes"]["format"] = formatted
    total, critical = stats["structured"]["total"], stats["structured"]["critical"]
    assert formatted["markdown"].splitlines()[0] == (
        f"*Error digest* ({total} errors, {critical} critical)"
    )
    assert formatted["services"] == 5
    assert render(config(flow, "post")["text"], scope) == formatted["markdown"]
    assert render(config(flow, "remind")["text"], scope).startswith("Reminder: 5 services")


def test_github_router_templates_fit_a_github_issues_event() -> None:
    flow = load(examples_dir() / "github-router.flow.json")
    event = {
        "action": "opened",
        "issue": {
            "number": 42,
            "title": "Crash when saving",
            "body": None,
            "html_url": "https://github.com/acme/app/issues/42",
            "comments_url": "https://api.github.com/repos/acme/app/issues/42/comments",
            "user": {"login": "ana"},
        },
        "repository": {"full_name": "acme/app"},
    }
    scope = Scope(event)
    assert render(config(flow, "route")["input"], scope) == "Crash when saving "
    assert render_value(config(flow, "label")["input"], scope) == {
        "repository": "acme/app",
        "number": 42,
        "label": "bug",
    }
    thanks = render_value(config(flow, "thanks")["http_request"], scope)
    assert thanks["url"] == "https://api.github.com/repos/acme/app/issues/42/comments"
    assert thanks["body"]["body"].startswith("Thanks for the idea, @ana!")
    scope["error"] = {"node_id": "thanks", "type": "HttpError", "message": "503", "attempt": 1}
    undelivered = config(flow, "undelivered")["end"]
    assert render_value(undelivered["output"], scope) == {"issue": 42, "error": "503"}
    assert undelivered["status"] == "failed"


async def test_delegation_relays_the_research_agents_answer(tmp_path: Path) -> None:
    research = load(examples_dir() / "research-agent.flow.json")
    child = Scope({"question": "Which service fails most?"})
    child["nodes"]["guard"] = {"passed": True, "text": "Which service fails most?"}
    goal = render(config(research, "research")["goal"], child)
    assert goal == "Answer this question using the tools: Which service fails most?"
    child["nodes"]["research"] = {
        "text": "Checkout has the most errors this week.",
        "tool_calls": [{"tool": "errors__error_stats", "arguments": {}, "is_error": False}],
    }
    prompt = render(config(research, "summarize")["prompt"], child)
    summary = json.loads(await demo_answer(research, prompt, tmp_path))
    child["nodes"]["summarize"] = {"json": summary}
    answer = render_value(config(research, "answer")["end"]["output"], child)
    assert answer == {
        "answer": "Checkout has the most errors this week.",
        "confidence": 0.8,
        "tool_calls": 1,
    }

    delegation = load(examples_dir() / "delegation.flow.json")
    scope = Scope({"text": "Which service fails most?", "user_name": "Maya"})
    scope["vars"] = render_value(config(delegation, "prepare")["set_variables"]["values"], scope)
    assert config(delegation, "delegate")["target"] == research.id
    assert render_value(config(delegation, "delegate")["input"], scope) == child["input"]
    scope["nodes"]["delegate"] = answer
    relay = render(config(delegation, "relay")["text"], scope)
    assert relay == "Maya, here is what I found: Checkout has the most errors this week."
    assert render_value(config(delegation, "finish")["end"]["output"], scope) == {
        "question": "Which service fails most?",
        "answer": "Checkout has the most errors this week.",
    }
