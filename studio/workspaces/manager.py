"""The workspace manager: a window over the runtime's gateway, one workspace at a time, with its
servers, secrets, tokens, editor entries, usage dashboard and call log."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.runtime import RuntimeConnection
from studio.workspaces.calllog import CallLogTab
from studio.workspaces.connect import EditorsTab
from studio.workspaces.secrets import SecretsTab
from studio.workspaces.servers import ServersTab
from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.tokens import TokensTab
from studio.workspaces.usage import UsageTab
from studio.workspaces.views import WorkspaceTab


class WorkspaceManager(QWidget):
    def __init__(self, connection: RuntimeConnection, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Workspaces — Aerostudio")
        self.resize(1100, 720)
        self.tasks = Tasks(connection, self)
        self.status = StatusLine(self.tasks)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Workspace"))
        self.workspace = QComboBox()
        self.workspace.setMinimumContentsLength(18)
        self.workspace.currentIndexChanged.connect(self._workspace_chosen)
        top.addWidget(self.workspace)
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(self.refresh)
        top.addWidget(self.reload_button)
        top.addStretch(1)
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New workspace name")
        self.new_name.setMinimumWidth(220)
        self.new_name.returnPressed.connect(self.create_workspace)
        top.addWidget(self.new_name)
        self.create_button = QPushButton("Create workspace")
        self.create_button.clicked.connect(self.create_workspace)
        top.addWidget(self.create_button)
        layout.addLayout(top)
        self.servers = ServersTab(self.tasks, self.status)
        self.secrets = SecretsTab(self.tasks, self.status)
        self.tokens = TokensTab(self.tasks, self.status)
        self.editors = EditorsTab(self.tasks, self.status)
        self.usage = UsageTab(self.tasks, self.status)
        self.call_log = CallLogTab(self.tasks, self.status)
        self.tabs = QTabWidget()
        for tab, title in (
            (self.servers, "Servers"),
            (self.secrets, "Secrets"),
            (self.tokens, "Tokens"),
            (self.editors, "Editors"),
            (self.usage, "Usage"),
            (self.call_log, "Call log"),
        ):
            self.tabs.addTab(tab, title)
        self.tabs.currentChanged.connect(self._tab_shown)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)

    @property
    def pages(self) -> list[WorkspaceTab]:
        return [self.servers, self.secrets, self.tokens, self.editors, self.usage, self.call_log]

    @property
    def slug(self) -> str | None:
        data = self.workspace.currentData()
        return str(data) if data is not None else None

    def refresh(self) -> None:
        """Load the workspaces (keeping the chosen one), then the chosen one's tabs."""
        self.tasks.run(lambda c: c.workspaces(), lambda found: self._show_workspaces(found, None))

    def _show_workspaces(self, workspaces: list[dict[str, Any]], choose: str | None) -> None:
        wanted = choose or self.slug
        self.workspace.blockSignals(True)
        self.workspace.clear()
        for workspace in workspaces:
            shown = workspace["name"] + (" (built-in)" if workspace["builtin"] else "")
            if workspace["name"] != workspace["slug"]:
                shown += f"  ·  {workspace['slug']}"
            self.workspace.addItem(shown, workspace["slug"])
        index = self.workspace.findData(wanted)
        if index < 0:  # a workspace of the user's before the built-in ones
            index = 0 if workspaces else -1
        self.workspace.setCurrentIndex(index)
        self.workspace.blockSignals(False)
        if not workspaces:
            self.status.say("No workspaces yet: name one and create it")
        self._workspace_chosen()

    def create_workspace(self) -> None:
        name = self.new_name.text().strip()
        if not name:
            self.status.warn("name the new workspace first")
            return

        async def create_and_list(client: Any) -> tuple[list[dict[str, Any]], str]:
            made = await client.create_workspace(name)
            return await client.workspaces(), str(made["slug"])

        def created(answer: tuple[list[dict[str, Any]], str]) -> None:
            self.new_name.clear()
            self.status.say(f"Created workspace {answer[1]}")
            self._show_workspaces(*answer)

        self.tasks.run(create_and_list, created)

    def _workspace_chosen(self) -> None:
        """The chosen workspace goes to every tab; only the one in view loads now."""
        for page in self.pages:
            page.workspace = self.slug
        self._tab_shown()

    def _tab_shown(self) -> None:
        page = self.tabs.currentWidget()
        if isinstance(page, WorkspaceTab):
            page.set_workspace(self.slug)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.tasks.cancel()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self.tasks.shutdown()
