"""Run history: the current flow's past runs with status and duration; opening one replays its
states onto the canvas."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.canvas.run_overlay import STATUS_COLORS
from studio.run_state import RunState, format_duration

RUN_ROLE = Qt.ItemDataRole.UserRole


class RunHistory(QWidget):
    refresh_requested = Signal()
    run_opened = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.note = QLabel("")
        self.note.setWordWrap(True)
        row.addWidget(self.note, 1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(["Started", "Status", "Duration", "Run"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.itemActivated.connect(self._opened)
        self.list.itemDoubleClicked.connect(self._opened)
        layout.addWidget(self.list, 1)

    def show_runs(self, runs: Sequence[Mapping[str, Any]], current: RunState | None = None) -> None:
        """The runs, newest first; `current` (the run shown) selected."""
        self.list.clear()
        for run in runs:
            status = str(run["status"])
            if current is not None and run["run_id"] == current.run_id and current.finished:
                status = current.status  # the stream can be ahead of the store's row
            started = datetime.datetime.fromtimestamp(float(run["created_at"]))
            duration = (float(run["updated_at"]) - float(run["created_at"])) * 1000
            item = QTreeWidgetItem(
                [
                    started.strftime("%Y-%m-%d %H:%M:%S"),
                    status,
                    format_duration(duration),
                    str(run["run_id"])[:8],
                ]
            )
            item.setData(0, RUN_ROLE, run["run_id"])
            item.setForeground(1, STATUS_COLORS.get(status, STATUS_COLORS["queued"]))
            item.setToolTip(3, str(run["run_id"]))
            self.list.addTopLevelItem(item)
            if current is not None and run["run_id"] == current.run_id:
                self.list.setCurrentItem(item)
        self.note.setText(f"{len(runs)} runs of this flow" if runs else "No runs of this flow yet")

    def show_message(self, text: str) -> None:
        self.note.setText(text)

    def _opened(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        self.run_opened.emit(str(item.data(0, RUN_ROLE)))
