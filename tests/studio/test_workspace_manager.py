"""The workspace manager against a real runtime served in-process (as tests/studio/test_run_panel
does), with our echo server as a real stdio MCP server and real editor clients over MCP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
)

from engine.api.client import ApiClient
from studio.document import FlowDocument
from studio.window import MainWindow
from studio.workspaces import WorkspaceManager
from tests.studio.harness import TOKEN, click, drive, in_process_runtime, open_window, until

pytestmark = pytest.mark.timeout(180)
ECHO = Path(__file__).resolve().parent.parent / "gateway" / "echo_server.py"


@contextlib.asynccontextmanager
async def editor_client(url: str, token: str) -> AsyncIterator[Client]:
    """An editor's MCP client with a member's token; patient, for a busy test machine."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def command_line(*args: str) -> str:
    return shlex.join([sys.executable, *args])


def all_texts() -> str:
    """Every text the studio shows or holds in a widget: fields, labels, buttons, combo items,
    tooltips, titles, and every cell (display, tooltip, edit and user data) of item views."""
    roles = (
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.EditRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.UserRole,
    )
    found: list[str] = []

    def walk(model, parent):
        for r in range(model.rowCount(parent)):
            for c in range(model.columnCount(parent)):
                index = model.index(r, c, parent)
                found.extend(str(model.data(index, role)) for role in roles)
                walk(model, index)

    for widget in QApplication.allWidgets():
        found += [widget.windowTitle(), widget.toolTip(), widget.statusTip()]
        if isinstance(widget, QLineEdit):
            found += [widget.text(), widget.placeholderText()]
        elif isinstance(widget, QLabel | QAbstractButton):
            found.append(widget.text())
        elif isinstance(widget, QPlainTextEdit | QTextEdit):
            found.append(widget.toPlainText())
        elif isinstance(widget, QComboBox):
            found += [widget.itemText(i) for i in range(widget.count())]
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            walk(widget.model(), QModelIndex())
    return "\n".join(found)


@pytest.fixture
def studio(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    return open_window(qtbot, FlowDocument())


@contextlib.asynccontextmanager
async def managing(
    window: MainWindow, folder: Path
) -> AsyncIterator[tuple[WorkspaceManager, ApiClient, str]]:
    """Gateway ▸ Workspaces… on a window talking to an in-process runtime: the manager, an API
    client of the test's own, and the runtime's URL; shut down with every call finished."""
    async with in_process_runtime(folder) as url, ApiClient(url, TOKEN) as api:
        window.runs.connection.use(url, TOKEN)
        window.workspaces.action.trigger()
        manager = window.workspaces.manager
        assert manager is not None and manager.isVisible()
        try:
            await settled(manager)
            yield manager, api, url
        finally:
            window.workspaces.shutdown()
            window.runs.shutdown()
            await until(lambda: not manager.tasks.running, "the manager's calls to end")
            await until(lambda: not window.runs._tasks, "the session's calls to end")


async def settled(manager: WorkspaceManager) -> None:
    await until(lambda: not manager.tasks.running, "the manager's calls")


async def create_workspace(qtbot, manager: WorkspaceManager, name: str = "Ops Team") -> str:
    manager.new_name.setText(name)
    click(qtbot, manager.create_button)
    await until(lambda: manager.workspace.currentText().startswith(name), "the new workspace")
    await settled(manager)
    assert manager.slug is not None
    return manager.slug


async def add_server(qtbot, manager: WorkspaceManager, name: str, command: str, env: str = ""):
    tab = manager.servers
    manager.tabs.setCurrentWidget(tab)
    tab.form.name.setText(name)
    tab.form.command.setText(command)
    tab.form.env.setPlainText(env)
    click(qtbot, tab.form.add_button)

    def listed():  # the list is refilled whenever the workspace changes: look for the row
        return tab.list.findItems(name, Qt.MatchFlag.MatchExactly)

    await until(listed, f"server {name} in the list")
    await settled(manager)
    return (await until(listed, f"server {name} still in the list"))[0]


def row_texts(tree, column: int) -> list[str]:
    return [tree.topLevelItem(i).text(column) for i in range(tree.topLevelItemCount())]


def tool_rows(tab):
    rows = [tab.tools.topLevelItem(i) for i in range(tab.tools.topLevelItemCount())]
    return {item.text(0): item for item in rows}


def test_servers_are_added_tested_listed_with_annotations_and_switched(qtbot, studio, tmp_path):
    async def scenario():
        async with managing(studio, tmp_path) as (manager, api, _):
            slug = await create_workspace(qtbot, manager)
            assert slug == "ops-team"
            item = await add_server(qtbot, manager, "echo", command_line(str(ECHO)))
            tab = manager.servers
            assert [item.text(0), item.text(1)] == ["echo", "stdio"]
            assert tab.tools_note.text().startswith("Select a server to test")  # not "No servers"
            tab.list.setCurrentItem(item)
            await until(lambda: "echo" in tool_rows(tab), "the echo server's tools")
            tools = tool_rows(tab)
            assert tools["echo"].text(1) == "read-only" and tools["wipe"].text(1) == "destructive"
            assert tools["spawn"].text(1) == "—" and tools["echo"].toolTip(0) == "Say it back."
            assert tab.tools_note.text().startswith("echo: connected, ")

            tools["wipe"].setCheckState(2, Qt.CheckState.Unchecked)
            await settled(manager)
            listed = {t["name"] for t in await api.tools(slug)}
            assert "echo__echo" in listed and "echo__wipe" not in listed
            click(qtbot, tab.test_button)
            await settled(manager)
            wipe = tool_rows(tab)["wipe"]
            assert wipe.checkState(2) == Qt.CheckState.Unchecked  # switched off, still listed

            tab.list.topLevelItem(0).setCheckState(2, Qt.CheckState.Unchecked)
            await settled(manager)
            assert [s["enabled"] for s in await api.servers(slug)] == [False]
            assert "disabled" in tab.tools_note.text() and tab.tools.topLevelItemCount() == 0
            tab.list.topLevelItem(0).setCheckState(2, Qt.CheckState.Checked)
            await settled(manager)
            assert {t["name"] for t in await api.tools(slug)} == listed

    drive(scenario())


def test_a_broken_server_reads_as_a_message_and_a_slow_one_can_be_cancelled(
    qtbot, studio, tmp_path
):
    async def scenario():
        async with managing(studio, tmp_path) as (manager, _, _):
            await create_workspace(qtbot, manager)
            tab, status = manager.servers, manager.status
            broken = await add_server(qtbot, manager, "broken", command_line("-c", "exit(3)"))
            tab.list.setCurrentItem(broken)
            await until(lambda: tab.tools_note.text().startswith("⚠"), "the failure")
            message = status.message.text()
            assert message.startswith("⚠ server 'broken' did not start")
            assert "Traceback" not in message and status.bar.isHidden()

            sleepy = command_line("-c", "import time; time.sleep(4)")
            tab.list.setCurrentItem(await add_server(qtbot, manager, "sleepy", sleepy))
            assert manager.tasks.is_running("tools")
            assert status.bar.isVisible() and status.cancel_button.isVisible()
            assert "Connecting to sleepy" in status.message.text()
            click(qtbot, status.cancel_button)
            assert not manager.tasks.is_running("tools") and status.bar.isHidden()
            assert status.message.text().startswith("Cancelled: Connecting to sleepy")
            assert tab.tools_note.text().startswith("Not connected (cancelled)")

            tab.form.name.setText("bad name!")
            tab.form.command.setText("x")
            click(qtbot, tab.form.add_button)
            await until(lambda: "server name 'bad name!'" in status.message.text(), "the refusal")
            tab.form.env.setPlainText("JUST_A_NAME")
            click(qtbot, tab.form.add_button)
            assert status.message.text() == "⚠ environment, line 1: expected NAME=value"

    drive(scenario())


def test_a_token_is_shown_once_copied_once_and_revoked(qtbot, studio, tmp_path):
    async def scenario():
        async with managing(studio, tmp_path) as (manager, api, _):
            slug = await create_workspace(qtbot, manager)
            tab = manager.tokens
            manager.tabs.setCurrentWidget(tab)
            tab.member.setText("ana")
            tab.role.setCurrentText("viewer")
            click(qtbot, tab.create_button)
            await until(lambda: tab.new_token.isVisible(), "the new token")
            token = tab.new_token.field.text()
            assert token.startswith("aero_") and tab.new_token.field.isReadOnly()
            click(qtbot, tab.new_token.copy_button)
            assert QGuiApplication.clipboard().text() == token
            assert not tab.new_token.isVisible() and tab.new_token.field.text() == ""
            await settled(manager)
            assert token not in all_texts()
            row = tab.list.topLevelItem(0)
            assert [row.text(c) for c in range(3)] == ["ana", "viewer", "active"]
            assert row.text(4) == "never"
            assert row.text(6) == "120/min"  # the default rate, until one is set

            tab.list.setCurrentItem(row)
            click(qtbot, tab.revoke_button)
            await until(lambda: row_texts(tab.list, 2) == ["revoked"], "the revocation")
            assert [t["state"] for t in await api.tokens(slug)] == ["revoked"]

    drive(scenario())


def test_copy_config_for_each_editor(qtbot, studio, tmp_path):
    async def scenario():
        async with managing(studio, tmp_path) as (manager, api, base):
            slug = await create_workspace(qtbot, manager)
            tab = manager.editors
            manager.tabs.setCurrentWidget(tab)
            clipboard = QGuiApplication.clipboard()
            url = f"{base}/ws/{slug}/mcp"
            entries = {}
            for editor, button in tab.buttons.items():
                clipboard.clear()
                click(qtbot, button)
                await until(lambda: clipboard.text() != "", f"the {editor} entry")
                entries[editor] = json.loads(clipboard.text())
                assert tab.preview.toPlainText() == clipboard.text()
                assert "paste it into the" in manager.status.message.text()
            name = f"aerostudio-{slug}"
            bearer = {"Authorization": "Bearer <TOKEN>"}
            assert entries["cursor"] == {"mcpServers": {name: {"url": url, "headers": bearer}}}
            assert entries["vscode"] == {
                "servers": {name: {"type": "http", "url": url, "headers": bearer}}
            }
            assert entries["windsurf"] == {
                "mcpServers": {name: {"serverUrl": url, "headers": bearer}}
            }
            claude = entries["claude"]["mcpServers"][name]
            assert claude["args"][-2:] == ["--url", url]
            assert claude["env"] == {"AEROSTUDIO_TOKEN": "<TOKEN>"}

            tab.with_token.setChecked(True)
            tab.member.setText("cursor-user")
            clipboard.clear()
            click(qtbot, tab.buttons["cursor"])
            await until(lambda: clipboard.text() != "", "the entry with a token")
            entry = json.loads(clipboard.text())["mcpServers"][name]
            token = entry["headers"]["Authorization"].removeprefix("Bearer ")
            assert token.startswith("aero_") and token not in all_texts()
            members = [(t["member"], t["role"]) for t in await api.tokens(slug)]
            assert members == [("cursor-user", "developer")]
            async with editor_client(url, token) as client:  # the copied entry lets an editor in
                assert (await client.list_tools()).tools == []

    drive(scenario())


async def make_calls(api: ApiClient, base: str, slug: str) -> None:
    """Calls by three members over MCP: some ok, some tool errors, one refused."""
    tokens = {}
    for member, role in (("ana", "developer"), ("bo", "developer"), ("cy", "viewer")):
        tokens[member] = (await api.create_token(slug, member, role))["token"]
    await api.tools(slug)  # the echo server started (within the API's longer timeout)
    url = f"{base}/ws/{slug}/mcp"
    async with editor_client(url, tokens["ana"]) as client:
        for n in range(6):
            await client.call_tool("echo__echo", {"text": f"hello {n}"})
        await client.call_tool("echo__slow", {"seconds": 0.2})
        await client.call_tool("echo__fail", {"text": "boom"})
    async with editor_client(url, tokens["bo"]) as client:
        for _ in range(3):
            await client.call_tool("echo__fail", {"text": "no luck"})
        await client.call_tool("echo__echo", {"text": "hi"})
    async with editor_client(url, tokens["cy"]) as client:
        with contextlib.suppress(Exception):  # a viewer may not: refused, and logged as denied
            await client.call_tool("echo__wipe", {})


def test_usage_dashboard_and_call_log_after_some_calls(qtbot, studio, tmp_path):
    async def scenario():
        async with managing(studio, tmp_path) as (manager, api, base):
            slug = await create_workspace(qtbot, manager)
            await add_server(qtbot, manager, "echo", command_line(str(ECHO)))
            await make_calls(api, base, slug)
            manager.resize(1200, 760)
            usage = manager.usage
            manager.tabs.setCurrentWidget(usage)
            await until(lambda: usage.calls_chart.has_data(), "the dashboard")
            await settled(manager)
            assert usage.totals.text().startswith("13 calls, 5 errors (38%), 3 members, 4 tools")
            calls = usage.calls_chart
            assert len(calls.labels) == 24 and [s.name for s in calls.series] == ["ok", "errors"]
            assert (sum(calls.series[0].values), sum(calls.series[1].values)) == (8, 5)
            latency = usage.latency_chart
            p95 = dict(zip(latency.labels, latency.series[1].values, strict=True))
            assert p95["echo__slow"] >= 200 and list(p95.values()) == sorted(p95.values())[::-1]
            assert set(latency.labels) == {"echo__echo", "echo__fail", "echo__slow", "echo__wipe"}
            assert usage.errors_chart.labels == ["echo"]
            assert [list(s.values) for s in usage.errors_chart.series] == [[13], [5]]
            assert usage.members_chart.labels == ["ana", "bo", "cy"]
            assert list(usage.members_chart.series[0].values) == [8, 4, 1]
            shots = os.environ.get("AEROSTUDIO_SHOTS")
            if shots:  # under xvfb-run, AEROSTUDIO_SHOTS=DIR keeps a picture of the dashboard
                manager.grab().save(str(Path(shots) / "usage.png"))
            usage.period.setCurrentText("Last hour")
            await until(lambda: len(usage.calls_chart.labels) == 12, "5-minute buckets")

            log = manager.call_log
            manager.tabs.setCurrentWidget(log)
            await until(lambda: log.list.topLevelItemCount() == 13, "the call log")
            await settled(manager)
            newest = log.list.topLevelItem(0)
            assert (newest.text(2), newest.text(5)) == ("echo__wipe", "denied")
            log.choose("tool", "echo__fail")
            await until(lambda: log.list.topLevelItemCount() == 4, "the calls of echo__fail")
            rows = [log.list.topLevelItem(i) for i in range(4)]
            assert {(r.text(2), r.text(5)) for r in rows} == {("echo__fail", "tool_error")}
            log.choose("member", "bo")
            await until(lambda: log.list.topLevelItemCount() == 3, "bo's calls of echo__fail")
            assert set(row_texts(log.list, 3)) == {"bo"}
            assert set(row_texts(log.list, 6)) == {"Error executing tool fail"}
            assert log.note.text() == "3 calls, where tool echo__fail, member bo"
            members = log.filters["member"]
            assert {members.itemText(i) for i in range(members.count())} == {
                "any",
                "ana",
                "bo",
                "cy",
            }

    drive(scenario())


def test_a_late_answer_never_replaces_a_newer_one(qtbot, studio, tmp_path):
    """Loads overlap (a workspace switch, an edit's refresh): whatever was asked for last is what
    a tab shows, even when an older answer arrives after it."""

    async def scenario() -> None:
        async with managing(studio, tmp_path) as (manager, _api, _url):
            tab = manager.secrets
            gate = asyncio.Event()
            shown: list[str] = []

            async def slow(_client: ApiClient) -> str:
                await gate.wait()
                return "older"

            async def fast(_client: ApiClient) -> str:
                return "newer"

            tab.load(slow, shown.append)
            tab.load(fast, shown.append)
            await until(lambda: shown, "the newer answer")
            gate.clear()
            tab.load(slow, shown.append)
            tab.set_workspace(None)  # the pending answer is about the workspace shown before
            gate.set()
            await settled(manager)
            assert shown == ["newer"]

    drive(scenario())


def test_the_built_in_demo_workspace_lists_the_servers_its_tools_come_from(qtbot, studio, tmp_path):
    async def scenario():
        async with managing(studio, tmp_path) as (manager, _, _):
            tab = manager.servers
            manager.tabs.setCurrentWidget(tab)
            manager.workspace.setCurrentIndex(manager.workspace.findData("demo"))
            assert manager.workspace.currentText() == "demo (built-in)"
            await until(lambda: tab.list.topLevelItemCount() == 3, "the demo servers")
            assert row_texts(tab.list, 0) == ["errors", "orders", "tickets"]
            assert set(row_texts(tab.list, 1)) == {"built-in"}
            orders = tab.list.topLevelItem(1)
            assert not orders.flags() & Qt.ItemFlag.ItemIsUserCheckable  # fixed
            tab.list.setCurrentItem(orders)
            await until(lambda: "get_order" in tool_rows(tab), "the orders server's tools")
            assert tab.tools_note.text().startswith("orders: connected, ")
            assert not tool_rows(tab)["get_order"].flags() & Qt.ItemFlag.ItemIsUserCheckable
            await settled(manager)

    drive(scenario())
