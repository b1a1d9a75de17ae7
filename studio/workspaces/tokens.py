"""The Tokens tab: members' tokens with their role and state; a new token is shown once, to copy,
and then never again (the runtime keeps only its hash); revoking cuts a member off."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.views import WorkspaceTab, row, selected_key, table, when

ROLES = ("developer", "viewer", "admin")
ROLE_HINTS = {
    "admin": "everything",
    "developer": "servers, flows, own tokens, call any tool",
    "viewer": "list, and call tools annotated read-only",
}
EXPIRY = {"Never expires": None, "1 day": 86400.0, "30 days": 30 * 86400.0, "90 days": 90 * 86400.0}


def role_box() -> QComboBox:
    """The roles, each with what it may do as its tooltip."""
    box = QComboBox()
    for index, role in enumerate(ROLES):
        box.addItem(role)
        box.setItemData(index, ROLE_HINTS[role], Qt.ItemDataRole.ToolTipRole)
    return box


def rate_text(token: dict[str, Any]) -> str:
    """The tool calls a minute the token may make through the gateway: its own, else its
    workspace's (`aerostudio workspace rate-limit`), else the default."""
    rate = token.get("effective_rate_per_minute")
    if rate is None:  # a server from before rate settings: its fixed default
        return ""
    return f"{rate}/min" + (" (own)" if token.get("rate_per_minute") is not None else "")


class NewToken(QFrame):
    """The one time a token is visible: Copy puts it on the clipboard and forgets it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        self.note = QLabel("")
        layout.addWidget(self.note)
        self.field = QLineEdit()
        self.field.setReadOnly(True)
        layout.addWidget(self.field, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy)
        layout.addWidget(self.copy_button)
        self.done_button = QPushButton("Done")
        self.done_button.clicked.connect(self.forget)
        layout.addWidget(self.done_button)
        self.hide()

    def reveal(self, member: str, token: str) -> None:
        self.note.setText(f"Token for {member} — copy it now, it is not shown again:")
        self.field.setText(token)
        self.show()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.field.text())
        self.forget()

    def forget(self) -> None:
        self.field.clear()
        self.note.clear()
        self.hide()


class TokensTab(WorkspaceTab):
    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__(tasks, status)
        layout = QVBoxLayout(self)
        self.list = table(
            "Member", "Role", "State", "Created", "Expires", "Last used", "Rate", "Id"
        )
        layout.addWidget(self.list, 1)
        self.new_token = NewToken()
        layout.addWidget(self.new_token)
        form = QHBoxLayout()
        self.member = QLineEdit()
        self.member.setPlaceholderText("member name")
        self.role = role_box()
        self.expiry = QComboBox()
        self.expiry.addItems(list(EXPIRY))
        self.create_button = QPushButton("Create token")
        self.create_button.clicked.connect(self.create_token)
        self.revoke_button = QPushButton("Revoke")
        self.revoke_button.clicked.connect(self.revoke)
        for widget in (self.member, self.role, self.expiry, self.create_button):
            form.addWidget(widget)
        form.addStretch(1)
        form.addWidget(self.revoke_button)
        layout.addLayout(form)

    def set_workspace(self, slug: str | None) -> None:
        self.new_token.forget()
        super().set_workspace(slug)

    def refresh(self) -> None:
        self.list.clear()
        if self.workspace is not None:
            slug = self.workspace
            self.load(lambda c: c.tokens(slug), self._show)

    def _show(self, tokens: list[dict[str, Any]]) -> None:
        self.list.clear()
        for token in tokens:
            texts = [
                token["member"],
                token["role"],
                token["state"],
                when(token["created_at"]),
                when(token["expires_at"], "never"),
                when(token["last_used_at"], "never"),
                rate_text(token),
                token["id"],
            ]
            self.list.addTopLevelItem(row(texts, token["id"]))

    def create_token(self) -> None:
        member = self.member.text().strip()
        if self.workspace is None or not member:
            self.status.warn("a token needs a workspace and a member's name")
            return
        slug, role = self.workspace, self.role.currentText()
        expires = EXPIRY[self.expiry.currentText()]

        def created(made: dict[str, Any]) -> None:
            self.member.clear()
            if slug == self.workspace:
                self.new_token.reveal(member, made["token"])
            self.status.say(f"Created a {role} token for {member}")
            self.refresh()

        self.tasks.run(lambda c: c.create_token(slug, member, role, expires), created)

    def revoke(self) -> None:
        token_id = selected_key(self.list)
        if self.workspace is None or token_id is None:
            return
        slug = self.workspace

        def revoked(_: None) -> None:
            self.status.say(f"Token {token_id} revoked")
            self.refresh()

        self.tasks.run(lambda c: c.revoke_token(slug, token_id), revoked)
