"""mcp_tool through the workspace gateway (in-process), against real MCP servers over stdio."""

from __future__ import annotations

import shutil

import pytest

from engine.run import Runtime, Services
from tests.flow.builders import edge, end, flow, node, trigger
from tests.gateway_fixtures import temporary_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
async def gateway(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    time_server = shutil.which("mcp-server-time") or str(
        __import__("pathlib").Path(__import__("sys").executable).parent / "mcp-server-time"
    )
    servers = {"ops": {"time": {"command": time_server, "args": ["--local-timezone", "UTC"]}}}
    tools = temporary_gateway(tmp_path, servers)
    yield tools
    await tools.aclose()


async def test_demo_workspace_lists_server__tool_names_with_annotations(gateway):
    tools = {t.name: t for t in await gateway.list_tools("demo")}
    assert {"orders__get_order", "orders__refund_order", "tickets__create_ticket"} <= set(tools)
    assert tools["orders__get_order"].read_only
    assert tools["orders__refund_order"].destructive


async def test_mcp_tool_calls_a_demo_server_and_returns_structured_output(gateway):
    nodes = [
        trigger(),
        node(
            "lookup",
            "mcp_tool",
            {"tool": "orders__get_order", "arguments": {"order_id": "{{ input.id }}"}},
        ),
        end("done", "{{ nodes.lookup.structured.order_id }}"),
    ]
    runnable = flow(nodes, [edge("start", "lookup"), edge("lookup", "done")], workspace="demo")
    handle = Runtime(Services(tools=gateway)).start(runnable, {"id": "A-1001"})
    result = await handle.result()
    assert result.output == "A-1001"
    kinds = [e["type"] for e in handle.events.history if e["type"].startswith("tool_")]
    assert kinds == ["tool_call", "tool_result"]


async def test_mcp_tool_calls_mcp_server_time(gateway):
    call = node(
        "now",
        "mcp_tool",
        {"tool": "time__get_current_time", "arguments": {"timezone": "Europe/Paris"}},
    )
    runnable = flow([trigger(), call], [edge("start", "now")], workspace="ops")
    result = await Runtime(Services(tools=gateway)).start(runnable, {}).result()
    assert result.status == "succeeded"
    assert "Europe/Paris" in result.output["text"]


async def test_a_tool_error_takes_the_error_handle(gateway):
    nodes = [
        trigger(),
        node(
            "lookup", "mcp_tool", {"tool": "orders__get_order", "arguments": {"order_id": "NOPE"}}
        ),
        end("oops", "{{ error.message }}"),
    ]
    runnable = flow(
        nodes, [edge("start", "lookup"), edge("lookup", "oops", "error")], workspace="demo"
    )
    result = await Runtime(Services(tools=gateway)).start(runnable, {}).result()
    assert result.output.startswith("orders__get_order answered with an error")


async def test_an_unknown_server_fails_clearly(gateway):
    call = node("x", "mcp_tool", {"tool": "ghost__thing"})
    result = (
        await Runtime(Services(tools=gateway))
        .start(flow([trigger(), call], [edge("start", "x")], workspace="demo"), {})
        .result()
    )
    assert result.error["message"] == (
        "workspace 'demo' has no server 'ghost' (its servers: errors, orders, tickets)"
    )
