"""The issue's acceptance test: a secret entered in the workspace manager reaches a real stdio MCP
server when a flow calls it, and no widget, event, call log line or log shows it afterwards."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid

import pytest

from studio.document import FlowDocument
from tests.flow.builders import edge, end, flow, node, trigger
from tests.studio.harness import click, drive, finished, until
from tests.studio.test_workspace_manager import (
    ECHO,
    add_server,
    all_texts,
    command_line,
    create_workspace,
    managing,
    row_texts,
    settled,
    studio,
)

pytestmark = pytest.mark.timeout(180)
__all__ = ["studio"]  # the fixture


def checking_flow(workspace: str):
    """Ask the echo server for the SHA-256 of its API_KEY: proof it arrived, without showing it."""
    check = node(
        "check", "mcp_tool", {"tool": "echo__env_sha256", "arguments": {"name": "API_KEY"}}
    )
    nodes = [trigger(), check, end("done", "{{ nodes.check.text }}")]
    return flow(nodes, [edge("start", "check"), edge("check", "done")], workspace=workspace)


def test_a_secret_set_in_the_manager_reaches_the_server_and_shows_nowhere(
    qtbot, studio, tmp_path, caplog, capfd
):
    secret = f"sk-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)

    async def scenario():
        async with managing(studio, tmp_path) as (manager, api, _):
            slug = await create_workspace(qtbot, manager)
            tab = manager.secrets
            manager.tabs.setCurrentWidget(tab)
            tab.name.setText("API_KEY")
            tab.value.setText(secret)
            click(qtbot, tab.set_button)
            assert tab.value.text() == ""  # gone from the field at once
            await until(lambda: row_texts(tab.list, 0) == ["API_KEY"], "the secret's name")
            env = "API_KEY=${secret:API_KEY}\nPLAIN=visible"
            await add_server(qtbot, manager, "echo", command_line(str(ECHO)), env)
            servers = await api.servers(slug)
            assert servers[0]["config"]["env"] == {
                "API_KEY": {"secret": "API_KEY"},
                "PLAIN": "visible",
            }

            studio.set_document(FlowDocument(checking_flow(slug)))
            studio.runs.run()
            await until(lambda: finished(studio), "the flow's run")
            state = studio.runs.state
            assert state.status == "succeeded", state.error
            assert state.output == hashlib.sha256(secret.encode()).hexdigest()

            events = [event async for event in api.events(state.run_id)]
            assert {"tool_call", "tool_result"} <= {e["type"] for e in events}
            assert secret not in json.dumps(events)
            calls = await api.calls(slug)
            assert [(c["tool"], c["outcome"]) for c in calls] == [("echo__env_sha256", "ok")]
            assert secret not in json.dumps(calls)
            for page in manager.pages:  # every tab shows what it has
                manager.tabs.setCurrentWidget(page)
                await settled(manager)
            assert secret not in all_texts()

    drive(scenario())
    out, err = capfd.readouterr()
    assert secret not in caplog.text and secret not in out + err
    assert caplog.records  # logs were captured: the check above looked at something
