"""The Secrets tab: write-only. A value is typed into a password field, sent once and cleared;
the list shows names and dates, and nothing can read a value back."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.views import WorkspaceTab, row, selected_key, table, when


class SecretsTab(WorkspaceTab):
    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__(tasks, status)
        layout = QVBoxLayout(self)
        self.list = table("Secret", "Created", "Updated")
        self.list.currentItemChanged.connect(self._chosen)
        layout.addWidget(self.list, 1)
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("API_KEY (letters, digits and _)")
        form.addRow("Name", self.name)
        self.value = QLineEdit()
        self.value.setEchoMode(QLineEdit.EchoMode.Password)
        self.value.setPlaceholderText("write-only: stored encrypted, never shown again")
        self.value.returnPressed.connect(self.store)
        form.addRow("Value", self.value)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.set_button = QPushButton("Set secret")
        self.set_button.clicked.connect(self.store)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete)
        buttons.addWidget(self.set_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        self.list.clear()
        if self.workspace is not None:
            slug = self.workspace
            self.load(lambda c: c.secrets(slug), self._show)

    def _show(self, secrets: list[dict[str, Any]]) -> None:
        self.list.clear()
        for secret in secrets:
            texts = [secret["name"], when(secret["created_at"]), when(secret["updated_at"])]
            self.list.addTopLevelItem(row(texts, secret["name"]))

    def _chosen(self) -> None:
        """Choosing a secret prepares replacing its value (which is never shown)."""
        name = selected_key(self.list)
        if name is not None:
            self.name.setText(name)
            self.value.setFocus()

    def store(self) -> None:
        if self.workspace is None:
            self.status.warn("choose or create a workspace first")
            return
        name, value = self.name.text().strip(), self.value.text()
        if not name or not value:
            self.status.warn("a secret needs a name and a value")
            return
        self.value.clear()  # at once: from now on the value is only in the call to the runtime
        slug = self.workspace

        def stored(_: None) -> None:
            self.status.say(f"Secret {name} set")
            self.refresh()

        self.tasks.run(lambda c: c.set_secret(slug, name, value), stored)

    def delete(self) -> None:
        name = selected_key(self.list)
        if self.workspace is None or name is None:
            return
        slug = self.workspace

        def deleted(_: None) -> None:
            self.status.say(f"Secret {name} deleted")
            self.refresh()

        self.tasks.run(lambda c: c.delete_secret(slug, name), deleted)
