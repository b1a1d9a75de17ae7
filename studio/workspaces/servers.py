"""The Servers tab: add a stdio or remote MCP server, test its connection, see its tools with
their annotations, and switch servers and single tools on or off."""

from __future__ import annotations

import re
import shlex
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.api.client import ApiClient, ApiError
from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.views import KEY_ROLE, WorkspaceTab, row, selected_key, table

SECRET_REFERENCE = re.compile(r"^\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}$")
BUILTIN = "built-in"
"""The kind shown for a built-in workspace's servers (come with Aerostudio, not editable)."""
VALUES_HINT = "One per line: NAME=value, or NAME=${secret:SECRET_NAME} for a secret of the vault"


def parse_values(text: str, what: str) -> dict[str, Any]:
    """`NAME=value` lines as a server's env or headers; `${secret:NAME}` becomes a reference.
    A ValueError names the line that is wrong."""
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"{what}, line {number}: expected NAME=value")
        reference = SECRET_REFERENCE.match(value.strip())
        values[name.strip()] = {"secret": reference[1]} if reference else value
    return values


def annotation_text(tool: dict[str, Any]) -> str:
    """The tool's annotations a person should know of: read-only, destructive."""
    marks = [
        m for m, on in (("read-only", "read_only"), ("destructive", "destructive")) if tool[on]
    ]
    return ", ".join(marks) or "—"


class AddServerForm(QGroupBox):
    """Name, then a command line (stdio) or a URL (streamable HTTP or SSE)."""

    def __init__(self) -> None:
        super().__init__("Add a server")
        form = QFormLayout(self)
        self.name = QLineEdit()
        self.name.setPlaceholderText("letters, digits, - and _")
        form.addRow("Name", self.name)
        self.kind = QComboBox()
        self.kind.addItems(["stdio (a command)", "remote (a URL)"])
        form.addRow("Kind", self.kind)
        self.pages = QStackedWidget()
        stdio, remote = QWidget(), QWidget()
        stdio_form, remote_form = QFormLayout(stdio), QFormLayout(remote)
        for page_form in (stdio_form, remote_form):
            page_form.setContentsMargins(0, 0, 0, 0)
        self.command = QLineEdit()
        self.command.setPlaceholderText("uvx mcp-server-time --local-timezone UTC")
        stdio_form.addRow("Command", self.command)
        self.env = QPlainTextEdit()
        self.env.setPlaceholderText(VALUES_HINT)
        self.env.setMaximumHeight(70)
        stdio_form.addRow("Environment", self.env)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://example.com/mcp")
        remote_form.addRow("URL", self.url)
        self.transport = QComboBox()
        self.transport.addItems(["http", "sse"])
        remote_form.addRow("Transport", self.transport)
        self.headers = QPlainTextEdit()
        self.headers.setPlaceholderText(VALUES_HINT)
        self.headers.setMaximumHeight(70)
        remote_form.addRow("Headers", self.headers)
        self.pages.addWidget(stdio)
        self.pages.addWidget(remote)
        self.kind.currentIndexChanged.connect(self.pages.setCurrentIndex)
        form.addRow(self.pages)
        self.add_button = QPushButton("Add server")
        form.addRow(self.add_button)

    def config(self) -> dict[str, Any]:
        """The server's config as the API takes it; a ValueError says what to fix."""
        if self.kind.currentIndex() == 0:
            try:
                words = shlex.split(self.command.text())
            except ValueError as exc:
                raise ValueError(f"command: {exc}") from None
            if not words:
                raise ValueError("command: enter the program to start, with its arguments")
            env = parse_values(self.env.toPlainText(), "environment")
            return {"command": words[0], "args": words[1:], "env": env}
        headers = parse_values(self.headers.toPlainText(), "headers")
        return {
            "url": self.url.text().strip(),
            "transport": self.transport.currentText(),
            "headers": headers,
        }

    def clear(self) -> None:
        for field in (self.name, self.command, self.url):
            field.clear()
        self.env.clear()
        self.headers.clear()


class ServersTab(WorkspaceTab):
    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__(tasks, status)
        self._filling = False
        self.builtin: set[str] = set()
        layout = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        layout.addWidget(split)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.list = table("Server", "Kind", "Enabled")
        self.list.currentItemChanged.connect(lambda *_: self.list_tools())
        self.list.itemChanged.connect(self._server_toggled)
        left_layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Start the server (or reach it) and list its tools")
        self.test_button.clicked.connect(self.list_tools)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        left_layout.addLayout(buttons)
        self.form = AddServerForm()
        self.form.add_button.clicked.connect(self.add)
        left_layout.addWidget(self.form)
        split.addWidget(left)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.tools_note = QLabel("Choose a server to see its tools")
        self.tools_note.setWordWrap(True)
        right_layout.addWidget(self.tools_note)
        self.tools = table("Tool", "Annotations", "Enabled")
        self.tools.itemChanged.connect(self._tool_toggled)
        right_layout.addWidget(self.tools, 1)
        tasks.cancelled.connect(self._cancelled)
        split.addWidget(right)
        split.setSizes([420, 520])

    # --------------------------------------------------------------------------- servers

    def refresh(self) -> None:
        self.list.clear()
        self.tools.clear()
        if self.workspace is not None:
            slug = self.workspace
            self.load(lambda c: servers_or_builtin(c, slug), self._show_servers)

    def _show_servers(self, servers: list[dict[str, Any]]) -> None:
        current = selected_key(self.list)
        self._filling = True
        self.list.clear()
        self.builtin = {s["name"] for s in servers if s["kind"] == BUILTIN}
        for server in servers:
            item = row([server["name"], server["kind"], ""], server["name"])
            if server["kind"] == BUILTIN:
                item.setToolTip(0, "Comes with Aerostudio (the examples use its tools): fixed")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsUserCheckable)
            else:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(2, _check(server["enabled"]))
            self.list.addTopLevelItem(item)
            if server["name"] == current:
                self.list.setCurrentItem(item)
        self._filling = False
        if not servers:
            self.tools_note.setText("No servers yet: add one below")
        elif self.list.currentItem() is None:  # not "No servers yet" right after adding one
            self.tools_note.setText("Select a server to test its connection and list its tools")

    def add(self) -> None:
        if self.workspace is None:
            self.status.warn("choose or create a workspace first")
            return
        slug, name = self.workspace, self.form.name.text().strip()
        try:
            config = self.form.config()
        except ValueError as exc:
            self.status.warn(str(exc))
            return

        def added(_: None) -> None:
            self.form.clear()
            self.status.say(f"Added server {name}")
            self.refresh()

        self.tasks.run(lambda c: c.add_server(slug, name, config), added)

    def remove(self) -> None:
        name = selected_key(self.list)
        if self.workspace is None or name is None:
            return
        slug = self.workspace
        if self.tasks.is_running("tools"):
            self.tasks.cancel("tools")

        def removed(_: None) -> None:
            self.status.say(f"Removed server {name}")
            self.refresh()

        self.tasks.run(lambda c: c.remove_server(slug, name), removed)

    def _server_toggled(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 2 or self.workspace is None:
            return
        slug, name = self.workspace, item.data(0, KEY_ROLE)
        enabled = item.checkState(2) == Qt.CheckState.Checked

        def changed(_: None) -> None:
            self.status.say(f"Server {name} {'enabled' if enabled else 'disabled'}")
            if self.list.currentItem() is item:
                self.list_tools()

        self.tasks.run(lambda c: c.set_server_enabled(slug, name, enabled), changed)

    # ----------------------------------------------------------------------------- tools

    def list_tools(self) -> None:
        """Test the current server's connection: list its tools (cancellable)."""
        name = selected_key(self.list)
        self.tools.clear()
        if self.workspace is None or name is None:
            return
        item = self.list.currentItem()
        if item is None or item.checkState(2) != Qt.CheckState.Checked:
            self.tools_note.setText(f"{name} is disabled: enable it to see its tools")
            return
        slug = self.workspace
        self.tools_note.setText(f"Connecting to {name}…")

        async def listing(client: ApiClient) -> dict[str, Any]:
            try:
                return await client.server_tools(slug, name)
            except ApiError as exc:
                if name == selected_key(self.list):
                    self.tools_note.setText(f"⚠ {name}: {exc.message}")
                raise

        self.tasks.run(
            listing,
            lambda answer: self._show_tools(slug, answer),
            long=f"Connecting to {name} and listing its tools…",
            name="tools",
        )

    def _cancelled(self, _text: str) -> None:
        if self.tools_note.text().startswith("Connecting"):
            self.tools_note.setText("Not connected (cancelled): Test connection to try again")

    def _show_tools(self, slug: str, answer: dict[str, Any]) -> None:
        if slug != self.workspace or answer["server"] != selected_key(self.list):
            return
        self._filling = True
        self.tools.clear()
        for tool in answer["tools"]:
            item = row([tool["name"], annotation_text(tool), ""], tool["name"])
            item.setToolTip(0, tool["description"])
            fixed = answer["server"] in self.builtin
            checkable = Qt.ItemFlag.ItemIsUserCheckable
            item.setFlags(item.flags() & ~checkable if fixed else item.flags() | checkable)
            item.setCheckState(2, _check(tool["enabled"]))
            self.tools.addTopLevelItem(item)
        self._filling = False
        self.tools.resizeColumnToContents(0)
        count = len(answer["tools"])
        text = f"{answer['server']}: connected, {count} tools in {answer['latency_ms']:.0f} ms"
        self.tools_note.setText(text)
        self.status.say(text)

    def _tool_toggled(self, item: QTreeWidgetItem, column: int) -> None:
        server = selected_key(self.list)
        if self._filling or column != 2 or self.workspace is None or server is None:
            return
        slug, tool = self.workspace, item.data(0, KEY_ROLE)
        enabled = item.checkState(2) == Qt.CheckState.Checked
        self.tasks.run(
            lambda c: c.set_server_enabled(slug, server, enabled, tool=tool),
            lambda _: self.status.say(f"Tool {tool} {'enabled' if enabled else 'disabled'}"),
        )


async def servers_or_builtin(client: ApiClient, slug: str) -> list[dict[str, Any]]:
    """A workspace's servers; for a built-in workspace (demo), which stores none, the servers
    its tools come from, marked built-in (they were not listed at all)."""
    servers = await client.servers(slug)
    if servers:
        return servers
    names = sorted({t["name"].split("__", 1)[0] for t in await client.tools(slug)})
    return [{"name": name, "kind": BUILTIN, "enabled": True} for name in names if name]


def _check(on: bool) -> Qt.CheckState:
    return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
