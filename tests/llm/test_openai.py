"""The openai provider over httpx2 against a loopback chat-completions server."""

import socket
import traceback

import pytest

from engine.llm import (
    Llm,
    LlmApiError,
    LlmRequest,
    LlmUnavailableError,
    Message,
    StructuredOutputError,
    ToolOutput,
    ToolSpec,
    complete_json,
)
from engine.llm.openai_provider import OpenAIProvider
from tests.llm.conftest import FAST_RETRY
from tests.llm.servers import KEY, LoopbackServer, Reply, Script

pytestmark = pytest.mark.anyio

SEARCH = ToolSpec(
    name="tickets__search",
    description="Search tickets",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}},
)


@pytest.fixture
async def llm(server: LoopbackServer):
    provider = OpenAIProvider(KEY, base_url=server.url + "/v1/")
    yield Llm(provider, "llama3.2", FAST_RETRY)
    await provider.aclose()


def ask(text: str, **fields) -> LlmRequest:
    return LlmRequest(messages=(Message.user(text),), **fields)


async def test_text_answer_sends_system_temperature_and_reports_usage(llm, script: Script):
    script.reset(Reply(text="Hello!", usage=(9, 2)))
    response = await llm.complete(ask("Hi", system="Be kind", temperature=0.3, max_tokens=50))
    assert response.output() == {
        "text": "Hello!",
        "json": None,
        "model": "llama3.2",
        "usage": {"input_tokens": 9, "output_tokens": 2},
        "stop_reason": "end_turn",
    }
    sent = script.requests[0]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["body"] == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "Be kind"},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 50,
        "temperature": 0.3,
    }


async def test_streamed_chunks_arrive_as_deltas_in_order_with_usage(llm, script: Script):
    script.reset(Reply(text="Streaming is in order.", usage=(4, 6)))
    deltas: list[str] = []
    response = await llm.complete(ask("Go", stream=True), deltas.append)
    assert len(deltas) > 3
    assert "".join(deltas) == "Streaming is in order." == response.text
    assert response.usage.model_dump() == {"input_tokens": 4, "output_tokens": 6}
    assert script.requests[0]["body"]["stream_options"] == {"include_usage": True}


async def test_streamed_tool_call_deltas_are_joined_by_index(llm, script: Script):
    script.reset(
        Reply(
            tool_calls=[
                ("call_a", SEARCH.name, {"query": "refund", "limit": 5}),
                ("call_b", SEARCH.name, {"query": "late delivery"}),
            ]
        )
    )
    response = await llm.complete(ask("Find tickets", tools=(SEARCH,), stream=True))
    assert response.stop_reason == "tool_use"
    assert [(c.id, c.arguments) for c in response.tool_calls] == [
        ("call_a", {"query": "refund", "limit": 5}),
        ("call_b", {"query": "late delivery"}),
    ]
    assert script.requests[0]["body"]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": SEARCH.name,
                "description": "Search tickets",
                "parameters": SEARCH.input_schema,
            },
        }
    ]


async def test_tool_results_go_back_as_tool_messages(llm, script: Script):
    script.reset(Reply(tool_calls=[("call_a", SEARCH.name, {"query": "x"})]), Reply(text="None."))
    first = await llm.complete(ask("Find", tools=(SEARCH,)))
    outputs = [ToolOutput(call_id="call_a", name=SEARCH.name, text="[]")]
    conversation = (Message.user("Find"), first.to_message(), Message.tool(outputs))
    second = await llm.complete(LlmRequest(messages=conversation, tools=(SEARCH,)))
    assert second.text == "None."
    sent = script.requests[1]["body"]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": SEARCH.name, "arguments": '{"query": "x"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_a", "content": "[]"}


async def test_rate_limit_then_success_is_retried(llm, script: Script):
    script.reset(Reply(status=429, error="Rate limit reached", headers={"retry-after": "0"}))
    script.replies.append(Reply(text="ok"))
    response = await llm.complete(ask("hi", stream=True))
    assert response.text == "ok"
    assert len(script.requests) == 2


async def test_server_errors_exhaust_retries_with_a_clear_error(llm, script: Script):
    script.reset(*[Reply(status=503, error="The server is overloaded")] * 3)
    with pytest.raises(LlmUnavailableError) as caught:
        await llm.complete(ask("hi"))
    assert str(caught.value) == (
        "openai answered 503: The server is overloaded (gave up after 3 attempts)"
    )
    assert len(script.requests) == 3


async def test_unreachable_server_is_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIProvider(None, base_url=f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(LlmUnavailableError, match=r"openai could not be reached at http://"):
            await Llm(provider, "m", FAST_RETRY).complete(ask("hi"))
    finally:
        await provider.aclose()


async def test_rejected_key_is_not_retried_and_never_shown(server: LoopbackServer, script: Script):
    wrong = "sk-wrong-openai-key-5555"
    provider = OpenAIProvider(wrong, base_url=server.url + "/v1")
    try:
        with pytest.raises(LlmApiError) as caught:
            await Llm(provider, "m", FAST_RETRY).complete(ask("hi"))
    finally:
        await provider.aclose()
    assert str(caught.value).startswith(
        "openai answered 401: Incorrect API key provided: Bearer ***"
    )
    assert "OPENAI_API_KEY" in str(caught.value)
    assert wrong not in "".join(traceback.format_exception(caught.value))
    assert len(script.requests) == 1


async def test_local_server_without_key_gets_no_authorization_header(script: Script):
    local = LoopbackServer(require_openai_key=False)
    local.start()
    try:
        provider = OpenAIProvider(None, base_url=local.url + "/v1")
        local.script.reset(Reply(text="local"))
        response = await Llm(provider, "qwen", FAST_RETRY).complete(ask("hi"))
        await provider.aclose()
    finally:
        local.stop()
    assert response.text == "local"
    assert "authorization" not in local.script.requests[0]["headers"]


async def test_structured_output_is_repaired_once_and_usage_summed(llm, script: Script):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    script.reset(
        Reply(text="Sure! n is seven.", usage=(10, 4)), Reply(text='```json\n{"n": 7}\n```')
    )
    deltas: list[str] = []
    response = await complete_json(llm, ask("Pick n", stream=True), schema, deltas.append)
    assert response.json_value == {"n": 7}
    assert response.output()["usage"] == {"input_tokens": 21, "output_tokens": 11}
    assert "".join(deltas) == 'Sure! n is seven.```json\n{"n": 7}\n```'
    repair = script.requests[1]["body"]["messages"]
    assert repair[-1]["content"].startswith(
        "That answer does not fit the schema: the answer is not JSON"
    )


async def test_structured_output_fails_after_one_repair_with_usage(llm, script: Script):
    schema = {"type": "object", "required": ["n"]}
    script.reset(Reply(text="[1]", usage=(3, 1)), Reply(text='{"m": 1}', usage=(5, 1)))
    with pytest.raises(StructuredOutputError) as caught:
        await complete_json(llm, ask("Pick n"), schema)
    assert "does not fit output_schema after one repair attempt" in str(caught.value)
    assert "'n' is a required property" in str(caught.value)
    assert caught.value.usage.model_dump() == {"input_tokens": 8, "output_tokens": 2}
    assert len(script.requests) == 2


async def test_an_error_chunk_mid_stream_is_reported_without_retrying(llm, script: Script):
    script.reset(Reply(text="Partial", stream_error="model crashed"), Reply(text="not asked"))
    deltas: list[str] = []
    with pytest.raises(LlmApiError, match=r"^openai broke off its stream: model crashed$"):
        await llm.complete(ask("hi", stream=True), deltas.append)
    assert "".join(deltas) == "Partial"
    assert len(script.requests) == 1


async def test_a_server_that_ignores_stream_still_answers(llm, script: Script):
    script.reset(Reply(text="whole answer", ignore_stream=True))
    response = await llm.complete(ask("hi", stream=True))
    assert response.text == "whole answer"


async def test_an_unreadable_answer_is_a_clear_error(llm, script: Script):
    script.reset(Reply(garbage=True))
    with pytest.raises(LlmApiError, match="sent an answer that is not a chat completion"):
        await llm.complete(ask("hi"))
