"""The anthropic provider through the official SDK against a loopback Messages API."""

import traceback

import pytest

from engine.llm import (
    Llm,
    LlmApiError,
    LlmRequest,
    LlmUnavailableError,
    Message,
    ToolOutput,
    ToolSpec,
    complete_json,
)
from engine.llm.anthropic_provider import AnthropicProvider
from tests.llm.conftest import FAST_RETRY
from tests.llm.servers import KEY, LoopbackServer, Reply, Script

pytestmark = pytest.mark.anyio

CLOCK = ToolSpec(
    name="time__get_current_time",
    description="Current time in a timezone",
    input_schema={"type": "object", "properties": {"timezone": {"type": "string"}}},
)


@pytest.fixture
async def llm(server: LoopbackServer):
    provider = AnthropicProvider(KEY, base_url=server.url + "/v1")
    yield Llm(provider, "claude-test", FAST_RETRY)
    await provider.aclose()


def ask(text: str, **fields) -> LlmRequest:
    return LlmRequest(messages=(Message.user(text),), **fields)


async def test_text_answer_reports_model_usage_and_stop_reason_without_temperature(
    llm, script: Script
):
    script.reset(Reply(text="Paris.", usage=(12, 3)))
    response = await llm.complete(ask("Capital of France?", system="Be brief", temperature=0.2))
    assert response.output() == {
        "text": "Paris.",
        "json": None,
        "model": "claude-test",
        "usage": {"input_tokens": 12, "output_tokens": 3},
        "stop_reason": "end_turn",
    }
    sent = script.requests[0]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["body"]["system"] == "Be brief"
    assert "temperature" not in sent["body"]
    assert sent["body"]["messages"] == [{"role": "user", "content": "Capital of France?"}]


async def test_streamed_text_arrives_as_deltas_in_order(llm, script: Script):
    script.reset(Reply(text="One, two, three, four.", usage=(5, 9)))
    deltas: list[str] = []
    response = await llm.complete(ask("Count", stream=True), deltas.append)
    assert len(deltas) > 3
    assert "".join(deltas) == "One, two, three, four." == response.text
    assert response.usage.model_dump() == {"input_tokens": 5, "output_tokens": 9}
    assert script.requests[0]["body"]["stream"] is True


async def test_streamed_tool_use_is_assembled_from_input_json_deltas(llm, script: Script):
    arguments = {"timezone": "Europe/Paris", "detail": {"seconds": True}}
    script.reset(Reply(text="Let me check.", tool_calls=[("toolu_1", CLOCK.name, arguments)]))
    response = await llm.complete(ask("Time in Paris?", tools=(CLOCK,), stream=True))
    assert response.stop_reason == "tool_use"
    assert response.text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_1", CLOCK.name, arguments)
    ]
    assert script.requests[0]["body"]["tools"] == [CLOCK.model_dump()]


async def test_tool_results_go_back_as_tool_result_blocks(llm, script: Script):
    script.reset(
        Reply(tool_calls=[("toolu_1", CLOCK.name, {"timezone": "UTC"})]), Reply(text="Noon.")
    )
    first = await llm.complete(ask("Time?", tools=(CLOCK,)))
    outputs = [ToolOutput(call_id="toolu_1", name=CLOCK.name, text="12:00", is_error=False)]
    conversation = (Message.user("Time?"), first.to_message(), Message.tool(outputs))
    second = await llm.complete(LlmRequest(messages=conversation, tools=(CLOCK,)))
    assert second.text == "Noon."
    sent = script.requests[1]["body"]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": CLOCK.name, "input": {"timezone": "UTC"}}
        ],
    }
    assert sent[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "12:00", "is_error": False}
        ],
    }


async def test_rate_limit_then_success_is_retried(llm, script: Script):
    script.reset(
        Reply(status=429, error="Slow down", headers={"retry-after": "0"}), Reply(text="ok")
    )
    response = await llm.complete(ask("hi"))
    assert response.text == "ok"
    assert len(script.requests) == 2


async def test_overloaded_error_event_before_any_text_is_retried(llm, script: Script):
    script.reset(Reply(stream_error="overloaded"), Reply(text="fine"))
    deltas: list[str] = []
    response = await llm.complete(ask("hi", stream=True), deltas.append)
    assert response.text == "fine" == "".join(deltas)
    assert len(script.requests) == 2


async def test_server_errors_exhaust_retries_with_a_clear_error(llm, script: Script):
    script.reset(*[Reply(status=500, error="Internal server error")] * 3)
    with pytest.raises(LlmUnavailableError) as caught:
        await llm.complete(ask("hi"))
    assert str(caught.value) == (
        "anthropic answered 500 api_error: Internal server error (gave up after 3 attempts)"
    )
    assert caught.value.kind == "llm_unavailable"
    assert len(script.requests) == 3


async def test_rejected_key_is_not_retried_and_never_shown(server: LoopbackServer, script: Script):
    wrong = "sk-wrong-key-9876543210"
    provider = AnthropicProvider(wrong, base_url=server.url)
    try:
        with pytest.raises(LlmApiError) as caught:
            await Llm(provider, "claude-test", FAST_RETRY).complete(ask("hi"))
    finally:
        await provider.aclose()
    text = "".join(traceback.format_exception(caught.value))
    assert "anthropic answered 401 authentication_error" in str(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert wrong not in text
    assert wrong not in repr(caught.value)
    assert len(script.requests) == 1


async def test_structured_output_is_repaired_once_and_usage_summed(llm, script: Script):
    schema = {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    }
    script.reset(Reply(text='{"order": 1001}', usage=(20, 5)), Reply(text='{"order_id": "A-1001"}'))
    response = await complete_json(llm, ask("Order A-1001 is late"), schema)
    assert response.json_value == {"order_id": "A-1001"}
    assert response.usage.model_dump() == {"input_tokens": 31, "output_tokens": 12}
    assert '"required": ["order_id"]' in script.requests[0]["body"]["system"]
    repair = script.requests[1]["body"]["messages"]
    assert repair[1] == {"role": "assistant", "content": '{"order": 1001}'}
    assert "'order_id' is a required property" in repair[2]["content"]


async def test_a_stream_that_fails_after_text_is_not_retried(llm, script: Script):
    script.reset(Reply(text="unused", stream_error="Overloaded", stream_error_after_text=True))
    script.replies.append(Reply(text="must not be asked"))
    deltas: list[str] = []
    with pytest.raises(
        LlmApiError, match="anthropic broke off its stream with overloaded_error: Overloaded"
    ):
        await llm.complete(ask("hi", stream=True), deltas.append)
    assert deltas == ["Half an ans"]
    assert len(script.requests) == 1


async def test_an_unreadable_answer_is_a_clear_error(llm, script: Script):
    script.reset(Reply(garbage=True))
    with pytest.raises(LlmApiError, match="anthropic sent an answer that could not be read"):
        await llm.complete(ask("hi"))
