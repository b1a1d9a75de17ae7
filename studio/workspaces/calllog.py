"""The Call log tab: every tool call through the workspace's gateway, newest first, filtered by
tool, server, member and outcome (the choices come from the workspace's usage)."""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from engine.api.client import ApiClient
from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.usage import milliseconds
from studio.workspaces.views import WorkspaceTab, row, table, when

ANY = "any"
OUTCOMES = (ANY, "ok", "tool_error", "error", "denied")
LIMIT = 500


class CallLogTab(WorkspaceTab):
    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__(tasks, status)
        layout = QVBoxLayout(self)
        filters = QHBoxLayout()
        self.filters: dict[str, QComboBox] = {}
        for name in ("tool", "server", "member", "outcome"):
            box = QComboBox()
            box.addItems(list(OUTCOMES) if name == "outcome" else [ANY])
            box.setMinimumContentsLength(10)
            box.activated.connect(self.refresh)
            filters.addWidget(QLabel(name.capitalize()))
            filters.addWidget(box)
            self.filters[name] = box
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        filters.addStretch(1)
        filters.addWidget(self.refresh_button)
        layout.addLayout(filters)
        self.list = table("Time", "Server", "Tool", "Member", "Latency", "Outcome", "Error")
        layout.addWidget(self.list, 1)
        self.note = QLabel("")
        layout.addWidget(self.note)

    def set_workspace(self, slug: str | None) -> None:
        for name, box in self.filters.items():
            if name != "outcome":
                box.clear()
                box.addItem(ANY)
            box.setCurrentIndex(0)
        super().set_workspace(slug)

    def chosen(self) -> dict[str, str | None]:
        """The filters as the API takes them (None: any)."""
        return {
            k: (None if b.currentText() == ANY else b.currentText())
            for k, b in self.filters.items()
        }

    def choose(self, name: str, value: str) -> None:
        """Filter on a value (added to the choices if it is not there yet), and reload."""
        box = self.filters[name]
        if box.findText(value) < 0:
            box.addItem(value)
        box.setCurrentText(value)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        if self.workspace is None:
            self.note.clear()
            return
        slug, filters = self.workspace, self.chosen()

        async def fetch(client: ApiClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            usage, calls = await asyncio.gather(
                client.usage(slug), client.calls(slug, limit=LIMIT, **filters)
            )
            return usage, calls

        self.load(fetch, lambda answer: self._show(*answer))

    def _show(self, usage: dict[str, Any], calls: list[dict[str, Any]]) -> None:
        for name in ("tool", "server", "member"):
            box = self.filters[name]
            for line in usage[name]:
                if box.findText(line[name]) < 0:
                    box.addItem(line[name])
        self.list.clear()
        for call in calls:
            texts = [
                when(call["started_at"]),
                call["server"],
                call["tool"],
                call["member"],
                milliseconds(float(call["latency_ms"])),
                call["outcome"],
                call["error"] or "",
            ]
            item = row(texts)
            item.setToolTip(6, call["error"] or "")
            self.list.addTopLevelItem(item)
        for column in range(5):
            self.list.resizeColumnToContents(column)
        shown = f"{len(calls)} calls" + (f" (the newest {LIMIT})" if len(calls) >= LIMIT else "")
        active = [f"{k} {v}" for k, v in self.chosen().items() if v is not None]
        self.note.setText(shown + (f", where {', '.join(active)}" if active else ""))
