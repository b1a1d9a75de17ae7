"""llm_call and confidence_router on the interpreter, with the scripted demo model."""

from __future__ import annotations

import pytest

from engine.run import Runtime
from tests.flow.builders import chain, edge, end, flow, node, trigger

pytestmark = pytest.mark.anyio

ROUTES = [
    {"name": "refund", "description": "Money back", "keywords": ["refund", "money back"]},
    {"name": "status", "description": "Where an order is", "keywords": ["where", "tracking"]},
]


def _demo(*rules: dict) -> dict:
    return {"llm": {"provider": "demo", "model": "demo-1", "demo_rules": list(rules)}}


async def test_llm_call_returns_structured_output():
    ask = node(
        "ask",
        "llm_call",
        {
            "prompt": "Extract the order from: {{ input.text }}",
            "output_schema": {"type": "object", "required": ["order_id"]},
        },
    )
    runnable = flow(
        [trigger(), ask],
        [edge("start", "ask")],
        settings=_demo({"match": "Extract the order", "json": {"order_id": "A-1001"}}),
    )
    result = await Runtime().start(runnable, {"text": "where is A-1001?"}).result()
    assert result.output["json"] == {"order_id": "A-1001"}
    assert result.output["model"] == "demo:demo-1"
    assert result.output["usage"]["output_tokens"] > 0


async def test_llm_call_streams_text_into_node_delta_events():
    ask = node("ask", "llm_call", {"prompt": "Say hello", "stream": True})
    runnable = flow(
        [trigger(), ask],
        [edge("start", "ask")],
        settings=_demo({"match": "hello", "text": "hello there friend"}),
    )
    handle = Runtime().start(runnable, {})
    result = await handle.result()
    deltas = [e["text"] for e in handle.events.history if e["type"] == "node_delta"]
    assert "".join(deltas).strip() == result.output["text"] == "hello there friend"


async def test_keyword_router_routes_and_sets_the_model_variable():
    routes = [{**ROUTES[0], "model": "big-model"}, ROUTES[1]]
    nodes = [
        trigger(),
        node(
            "route",
            "confidence_router",
            {"input": "{{ input.text }}", "method": "keywords", "routes": routes, "threshold": 0.3},
        ),
        end("refund", "{{ vars.route_model }}"),
        end("status", "status"),
        end("unsure", "?"),
    ]
    edges = [
        edge("start", "route"),
        edge("route", "refund", "refund"),
        edge("route", "status", "status"),
        edge("route", "unsure", "low_confidence"),
    ]
    runnable = flow(nodes, edges)
    answers = [
        (await Runtime().start(runnable, {"text": text}).result()).output
        for text in ("I want my money back, refund please", "where is my parcel", "hello there")
    ]
    assert answers == ["big-model", "status", "?"]


async def test_llm_router_uses_the_models_confidence():
    nodes = [
        trigger(),
        node(
            "route",
            "confidence_router",
            {"input": "{{ input.text }}", "routes": ROUTES, "threshold": 0.7},
        ),
        end("refund", "refund"),
        end("status", "status"),
        end("unsure", "unsure"),
    ]
    edges = [
        edge("start", "route"),
        edge("route", "refund", "refund"),
        edge("route", "status", "status"),
        edge("route", "unsure", "low_confidence"),
    ]
    runnable = flow(
        nodes,
        edges,
        settings=_demo(
            {"match": "cancel", "json": {"route": "refund", "confidence": 0.4}},
            {"match": "refund", "json": {"route": "refund", "confidence": 0.95}},
        ),
    )
    sure = await Runtime().start(runnable, {"text": "refund my order"}).result()
    unsure = await Runtime().start(runnable, {"text": "cancel it"}).result()
    assert (sure.output, unsure.output) == ("refund", "unsure")


async def test_an_unknown_provider_fails_the_node_with_the_llm_error_kind():
    ask = node("ask", "llm_call", {"prompt": "hi", "provider": "nope"})
    result = await Runtime().start(chain(trigger(), ask), {}).result()
    assert result.status == "failed"
    assert result.error["type"] == "llm_config"
    assert "nope" in result.error["message"]
