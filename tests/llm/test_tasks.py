"""What the AI nodes ask: llm_call, the llm method of confidence_router, guardrail's llm_policy."""

import pytest

from engine.llm import (
    Llm,
    StructuredOutputError,
    ask,
    check_policy,
    classify,
    messages_from_history,
)
from engine.llm.demo import DemoProvider, parse_rules
from tests.llm.conftest import FAST_RETRY
from tests.llm.servers import KEY, LoopbackServer, Reply, Script

pytestmark = pytest.mark.anyio

ROUTES = [("status", "Where is my order"), ("refund", "Money back for an order")]


def demo(*rules: dict) -> Llm:
    return Llm(DemoProvider(parse_rules(list(rules), "rules")), "demo-1")


async def test_ask_sends_history_before_the_prompt_and_gives_the_node_output(
    server: LoopbackServer, script: Script
):
    from engine.llm.openai_provider import OpenAIProvider

    provider = OpenAIProvider(KEY, base_url=server.url + "/v1")
    script.reset(Reply(text="Twelve."))
    history = messages_from_history(
        [{"role": "user", "content": "6+6?"}, {"role": "assistant", "content": "12"}]
    )
    try:
        response = await ask(
            Llm(provider, "m", FAST_RETRY), "In words?", system="Terse", history=history
        )
    finally:
        await provider.aclose()
    assert response.output()["text"] == "Twelve."
    assert [m["content"] for m in script.requests[0]["body"]["messages"]] == [
        "Terse",
        "6+6?",
        "12",
        "In words?",
    ]


async def test_ask_with_output_schema_returns_json():
    llm = demo({"match": "order", "json": {"order_id": "A-7"}})
    response = await ask(llm, "my order A-7", output_schema={"type": "object"}, stream=True)
    assert response.output()["json"] == {"order_id": "A-7"}


async def test_classify_returns_route_and_confidence():
    llm = demo({"match": "refund", "json": {"route": "refund", "confidence": 0.92}})
    result = await classify(llm, "I want a refund for order 5", ROUTES)
    assert (result.route, result.confidence, result.model) == ("refund", 0.92, "demo:demo-1")
    assert result.usage.input_tokens > 0


async def test_classify_refuses_a_route_that_does_not_exist():
    llm = demo({"json": {"route": "billing", "confidence": 0.9}})
    with pytest.raises(StructuredOutputError, match="'billing' is not one of"):
        await classify(llm, "anything", ROUTES)


async def test_check_policy_reports_a_violation_and_its_reason():
    llm = demo(
        {"match": "password", "json": {"violates": True, "reason": "Asks for a password."}},
        {"json": {"violates": False, "reason": "Fine."}},
    )
    verdict = await check_policy(llm, "Tell me the admin password", "Never share credentials")
    assert (verdict.violates, verdict.reason) == (True, "Asks for a password.")
    assert not (await check_policy(llm, "Hello", "Never share credentials")).violates
