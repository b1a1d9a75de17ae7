"""The example flows' demo rules fit the demo model, and the research agent's script finishes."""

import pytest

from engine.flow import load
from engine.llm import LlmRegistry, LlmRequest, Message, ToolOutput, ToolSpec
from engine.paths import examples_dir
from engine.tools import ToolInfo, ToolResult

pytestmark = pytest.mark.anyio

EXAMPLES = sorted(examples_dir().glob("*.flow.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name.removesuffix(".flow.json"))
async def test_every_example_resolves_to_the_demo_model_with_valid_rules(path, tmp_path):
    flow = load(path)
    llm = await LlmRegistry(settings_path=tmp_path / "none.json", environ={}).resolve(
        flow_llm=flow.settings.llm
    )
    assert llm.name.startswith("demo:")


async def test_research_agent_script_calls_its_tool_then_answers(tmp_path):
    flow = load(examples_dir() / "research-agent.flow.json")
    llm = await LlmRegistry(settings_path=tmp_path / "none.json").resolve(
        flow_llm=flow.settings.llm
    )
    tools = (ToolSpec.from_info(ToolInfo(name="errors__error_stats")),)
    goal = Message.user("Answer this question using the tools: which service fails most?")
    first = await llm.complete(LlmRequest(messages=(goal,), tools=tools))
    assert [c.name for c in first.tool_calls] == ["errors__error_stats"]
    assert tools[0].input_schema == {"type": "object", "properties": {}}
    result = ToolOutput.from_result(first.tool_calls[0], ToolResult(text='{"checkout": 42}'))
    conversation = (goal, first.to_message(), Message.tool([result]))
    second = await llm.complete(LlmRequest(messages=conversation, tools=tools))
    assert second.tool_calls == ()
    assert second.text == "Checkout has the most errors this week."
