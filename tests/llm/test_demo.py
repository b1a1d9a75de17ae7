"""The scripted demo model: rules from flow settings or a file, answers offline."""

import json

import pytest

from engine.llm import (
    Llm,
    LlmConfigError,
    LlmRequest,
    Message,
    ToolOutput,
    ToolSpec,
    complete_json,
)
from engine.llm.demo import DemoProvider, load_rules, parse_rules

pytestmark = pytest.mark.anyio

STATS = ToolSpec(name="errors__error_stats")


def demo(*rules: dict) -> Llm:
    return Llm(DemoProvider(parse_rules(list(rules), "settings.llm.demo_rules")), "demo-1")


def ask(text: str, **fields) -> LlmRequest:
    return LlmRequest(messages=(Message.user(text),), **fields)


async def test_first_matching_rule_answers_with_text_and_names_itself_a_demo():
    llm = demo(
        {"match": "summarize", "text": "Errors were normal."},
        {"match": "Summarize in one sentence", "text": "never reached"},
    )
    response = await llm.complete(ask("Summarize in one sentence: checkout had 3 errors"))
    assert response.text == "Errors were normal."
    assert response.model == "demo:demo-1"
    assert response.stop_reason == "end_turn"
    assert response.usage.output_tokens == 3
    assert response.usage.input_tokens == 8


async def test_regex_rules_match_and_case_follows_the_flag():
    llm = demo(
        {"match": "/order [A-Z]-\\d+/", "text": "found"}, {"match": "/REFUND/i", "text": "r"}
    )
    assert (await llm.complete(ask("where is order A-1001?"))).text == "found"
    assert (await llm.complete(ask("where is order a-1001?"))).text.startswith("This is the demo")
    assert (await llm.complete(ask("I want a refund"))).text == "r"


async def test_no_matching_rule_gives_a_canned_answer_saying_it_is_the_demo_model():
    response = await demo({"match": "nothing like this", "text": "x"}).complete(ask("Hello"))
    assert response.text.startswith("This is the demo model (demo:demo-1)")
    assert "no demo rule matched 'Hello'" in response.text
    assert "settings.llm.demo_rules" in response.text


async def test_json_rule_satisfies_structured_output_without_repair():
    llm = demo({"match": "/order/", "json": {"order_id": "A-1001"}})
    schema = {"type": "object", "required": ["order_id"]}
    response = await complete_json(llm, ask("My order A-1001 is late"), schema)
    assert response.json_value == {"order_id": "A-1001"}
    assert json.loads(response.text) == {"order_id": "A-1001"}


async def test_demo_rules_can_exercise_the_repair_attempt():
    llm = demo(
        {"match": "Extract", "json": {"order": 1}},
        {"match": "does not fit the schema", "json": {"order_id": "A-1"}},
    )
    schema = {"type": "object", "required": ["order_id"]}
    first_only = await llm.complete(ask("Extract the order"))
    response = await complete_json(llm, ask("Extract the order"), schema)
    assert response.json_value == {"order_id": "A-1"}
    assert response.usage.output_tokens == first_only.usage.output_tokens + 2


async def test_streamed_demo_answer_arrives_word_by_word():
    deltas: list[str] = []
    response = await demo({"text": "one two three"}).complete(ask("x", stream=True), deltas.append)
    assert deltas == ["one ", "two ", "three"]
    assert "".join(deltas) == response.text


async def test_tool_call_rule_returns_numbered_tool_calls():
    llm = demo(
        {
            "match": "Answer",
            "text": "Checking.",
            "tool_calls": [{"name": STATS.name, "arguments": {"days": 7}}],
        }
    )
    response = await llm.complete(ask("Answer this question", tools=(STATS,)))
    assert response.stop_reason == "tool_use"
    assert response.text == "Checking."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("demo_call_1", STATS.name, {"days": 7})
    ]


async def test_scripted_agent_calls_tools_in_sequence_then_finishes():
    llm = demo(
        {"match": "Answer this question", "tool_calls": [{"name": STATS.name, "arguments": {}}]},
        {
            "after_tool": STATS.name,
            "match": "checkout",
            "tool_calls": [{"name": "tickets__list_tickets", "arguments": {"q": "checkout"}}],
        },
        {"match": "/error_stats/", "after_tool": STATS.name, "text": "not reached"},
        {"after_tool": "tickets__list_tickets", "text": "Checkout has the most errors."},
    )
    conversation: list[Message] = [Message.user("Answer this question: which service?")]
    turns = []
    for _ in range(5):
        response = await llm.complete(LlmRequest(messages=tuple(conversation)))
        turns.append(response)
        if not response.tool_calls:
            break
        conversation.append(response.to_message())
        results = [
            ToolOutput(call_id=c.id, name=c.name, text='{"top": "checkout"}')
            for c in response.tool_calls
        ]
        conversation.append(Message.tool(results))
    assert [[c.name for c in t.tool_calls] for t in turns] == [
        [STATS.name],
        ["tickets__list_tickets"],
        [],
    ]
    assert [c.id for t in turns for c in t.tool_calls] == ["demo_call_1", "demo_call_2"]
    assert turns[-1].text == "Checkout has the most errors."


async def test_after_tool_rule_matches_the_tool_name_of_the_result():
    llm = demo(
        {"match": "Answer", "tool_calls": [{"name": STATS.name, "arguments": {}}]},
        {"match": "/error_stats/", "after_tool": STATS.name, "text": "Done."},
    )
    first = await llm.complete(ask("Answer this"))
    output = ToolOutput(call_id=first.tool_calls[0].id, name=STATS.name, text="{}")
    conversation = (Message.user("Answer this"), first.to_message(), Message.tool([output]))
    second = await llm.complete(LlmRequest(messages=conversation))
    assert second.text == "Done."
    assert not second.tool_calls


async def test_a_rule_without_after_tool_never_answers_tool_results():
    llm = demo({"match": "Answer", "tool_calls": [{"name": STATS.name, "arguments": {}}]})
    first = await llm.complete(ask("Answer"))
    output = ToolOutput(call_id="demo_call_1", name=STATS.name, text="{}")
    conversation = (Message.user("Answer"), first.to_message(), Message.tool([output]))
    second = await llm.complete(LlmRequest(messages=conversation))
    assert not second.tool_calls
    assert second.text.startswith("This is the demo model")


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"match": "x"}, r"settings.llm.demo_rules\[0\] needs an answer"),
        ({"match": "/(/", "text": "x"}, r"demo_rules\[0\].match: /\(/ is not a valid regular"),
        ({"text": "x", "reply": "y"}, r"unknown key\(s\) \['reply'\]"),
        ({"tool_calls": [{"arguments": {}}]}, r"demo_rules\[0\].tool_calls\[0\] must be"),
        ("text", r"demo_rules\[0\] must be an object"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(rule, problem):
    with pytest.raises(LlmConfigError, match=problem):
        parse_rules([rule], "settings.llm.demo_rules")


async def test_rules_load_from_a_json_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [{"match": "ping", "text": "pong"}]}))
    llm = Llm(DemoProvider(load_rules(path)), "demo-1")
    assert (await llm.complete(ask("ping"))).text == "pong"
    path.write_text("{not json")
    with pytest.raises(LlmConfigError, match=r"demo rules file .*rules.json cannot be read"):
        load_rules(path)
