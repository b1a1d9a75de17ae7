"""Retry timing and the response as a checkpoint."""

from engine.llm import LlmResponse, RetryPolicy, ToolCall, Usage


def test_backoff_grows_and_a_servers_retry_after_is_honoured_within_the_cap():
    policy = RetryPolicy(attempts=4, delay_s=1.0, factor=2.0, max_delay_s=5.0)
    assert [policy.delay(attempt, None) for attempt in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(1, 0.25) == 0.25
    assert policy.delay(1, 600) == 5.0


def test_a_response_round_trips_through_json_for_checkpoints():
    response = LlmResponse(
        text="",
        tool_calls=(ToolCall(id="c1", name="a__b", arguments={"x": [1, 2]}),),
        model="anthropic:claude",
        usage=Usage(input_tokens=3, output_tokens=4),
        stop_reason="tool_use",
        json={"k": "v"},
    )
    assert LlmResponse.model_validate_json(response.model_dump_json()) == response
    assert response.output()["json"] == {"k": "v"}
