"""agent_loop: a scripted model calls real MCP servers (mcp-server-time and our tickets server),
pauses for approval before a destructive tool, resumes and finishes; limits end in `exhausted`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.paths import resources_dir
from engine.run import Runtime, Services
from tests.flow.builders import edge, end, flow, node, trigger
from tests.gateway_fixtures import temporary_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SCRIPT = [
    {
        "match": "Close ticket",
        "tool_calls": [{"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}],
    },
    {
        "match": "/./",
        "after_tool": "time__get_current_time",
        "tool_calls": [
            {
                "name": "tickets__close_ticket",
                "arguments": {"ticket_id": 1001, "resolution": "fixed"},
            }
        ],
    },
    {"match": "/./", "after_tool": "tickets__close_ticket", "text": "Ticket 1001 is closed."},
]


@pytest.fixture
async def tools(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    servers = {
        "ops": {
            "time": {
                "command": str(Path(sys.executable).parent / "mcp-server-time"),
                "args": ["--local-timezone", "UTC"],
            },
            "tickets": {
                "command": sys.executable,
                "args": [str(resources_dir() / "servers" / "tickets.py")],
                "env": {"AEROSTUDIO_DEMO_DB": str(tmp_path / "demo.sqlite")},
            },
        }
    }
    gateway = temporary_gateway(tmp_path, servers)
    yield gateway
    await gateway.aclose()


def _agent_flow(**config) -> object:
    agent = node("agent", "agent_loop", {"goal": "Close ticket 1001", **config})
    nodes = [
        trigger(),
        agent,
        end("done", "{{ nodes.agent.text }}"),
        end("tired", "{{ nodes.agent.text }}"),
    ]
    edges = [edge("start", "agent"), edge("agent", "done"), edge("agent", "tired", "exhausted")]
    return flow(
        nodes,
        edges,
        workspace="ops",
        settings={"llm": {"provider": "demo", "model": "demo-1", "demo_rules": SCRIPT}},
    )


async def test_agent_calls_tools_and_pauses_before_a_destructive_one(tools):
    handle = Runtime(Services(tools=tools)).start(_agent_flow(), {})
    paused = await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    assert paused["prompt"].startswith("Allow tickets__close_ticket")
    called = [e["tool"] for e in handle.events.history if e["type"] == "tool_call"]
    assert called == ["time__get_current_time"]
    handle.resume("approve")
    result = await handle.result()
    assert result.output == "Ticket 1001 is closed."
    agent = next(
        e for e in handle.events.history if e["type"] == "node_finished" and e["node_id"] == "agent"
    )["output"]
    assert [c["tool"] for c in agent["tool_calls"]] == [
        "time__get_current_time",
        "tickets__close_ticket",
    ]
    assert agent["iterations"] == 3
    assert not any(c["is_error"] for c in agent["tool_calls"])


async def test_a_declined_tool_is_reported_to_the_model(tools):
    handle = Runtime(Services(tools=tools)).start(_agent_flow(), {})
    await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    handle.resume("reject")
    result = await handle.result()
    calls = [e["tool"] for e in handle.events.history if e["type"] == "tool_call"]
    assert calls == ["time__get_current_time"]
    assert result.status == "succeeded"


async def test_tool_call_cap_takes_exhausted(tools):
    result = (
        await Runtime(Services(tools=tools))
        .start(_agent_flow(max_tool_calls=1, approval_required_for=[]), {})
        .result()
    )
    assert result.output == "stopped: max_tool_calls (1) reached"


async def test_iteration_cap_takes_exhausted(tools):
    result = await Runtime(Services(tools=tools)).start(_agent_flow(max_iterations=1), {}).result()
    assert result.output == "stopped: max_iterations (1) reached"
