"""The Editors tab: one button per editor copies the entry that connects it to the workspace's
gateway endpoint, with a <TOKEN> placeholder or with a token made for it there and then."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from engine.api.client import ApiClient
from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.tokens import role_box
from studio.workspaces.views import WorkspaceTab

EDITORS = {
    "cursor": "Cursor",
    "vscode": "VS Code",
    "claude": "Claude Desktop",
    "windsurf": "Windsurf",
}


class EditorsTab(WorkspaceTab):
    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__(tasks, status)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Editors reach this workspace's tools through the gateway. Copy the entry for an "
            "editor and paste it into its MCP configuration."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.placeholder = QRadioButton("With a <TOKEN> placeholder (fill in a token yourself)")
        self.with_token = QRadioButton("With a new token for")
        self.placeholder.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.placeholder)
        group.addButton(self.with_token)
        layout.addWidget(self.placeholder)
        token_row = QHBoxLayout()
        token_row.addWidget(self.with_token)
        self.member = QLineEdit()
        self.member.setPlaceholderText("member name")
        self.role = role_box()
        token_row.addWidget(self.member)
        token_row.addWidget(self.role)
        token_row.addStretch(1)
        layout.addLayout(token_row)
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for index, (editor, title) in enumerate(EDITORS.items()):
            button = QPushButton(f"Copy for {title}")
            button.setToolTip(f"Copy the entry that connects {title} to this workspace")
            button.clicked.connect(lambda _=False, e=editor: self.copy(e))
            grid.addWidget(button, index // 2, index % 2)
            self.buttons[editor] = button
        layout.addLayout(grid)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setPlaceholderText("The copied entry appears here (a new token never does)")
        layout.addWidget(self.preview, 1)

    def set_workspace(self, slug: str | None) -> None:
        self.preview.clear()
        super().set_workspace(slug)

    def copy(self, editor: str) -> None:
        """The editor's entry onto the clipboard; with a new token, the token is only there."""
        if self.workspace is None:
            self.status.warn("choose or create a workspace first")
            return
        slug, title = self.workspace, EDITORS[editor]
        member, role = self.member.text().strip(), self.role.currentText()
        fresh = self.with_token.isChecked()
        if fresh and not member:
            self.status.warn("name the member the new token is for")
            return

        async def entry(client: ApiClient) -> dict[str, Any]:
            token = None
            if fresh:
                token = (await client.create_token(slug, member, role))["token"]
            return await client.client_config(slug, editor, token)

        def copied(answer: dict[str, Any]) -> None:
            text = json.dumps(answer["config"], indent=2)
            QGuiApplication.clipboard().setText(text)
            if fresh:
                self.preview.setPlainText(
                    f"// {title}: copied with a new {role} token for {member}, which is on the "
                    f"clipboard only.\n// Endpoint: {answer['url']}"
                )
            else:
                self.preview.setPlainText(text)
            self.status.say(f"Copied the {title} entry: paste it into {answer['where']}")

        self.tasks.run(entry, copied)
