"""The data inspector: what the selected node did in the shown run (output, error, handle,
timings, attempt, tool calls, usage) as a searchable JSON tree; loop iterations from a combo."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.run_state import RunState
from studio.trees import children, top_level

VALUE_ROLE = Qt.ItemDataRole.UserRole


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class DataInspector(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.state: RunState | None = None
        self.node_id: str | None = None
        self.data: Any = None
        layout = QVBoxLayout(self)
        self.heading = QLabel("Select a node to see its data in the run")
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        row = QHBoxLayout()
        self.iteration = QComboBox()
        self.iteration.setToolTip("The node's executions (loop iterations, retries of a branch)")
        self.iteration.currentIndexChanged.connect(self._show_execution)
        row.addWidget(self.iteration)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter keys and values…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        row.addWidget(self.filter, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the selected value (or everything) as JSON")
        self.copy_button.clicked.connect(self.copy)
        row.addWidget(self.copy_button)
        layout.addLayout(row)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Key", "Value"])
        self.tree.setColumnWidth(0, 160)
        self.tree.setUniformRowHeights(True)
        layout.addWidget(self.tree, 1)
        self._refresh_controls()

    def show_node(self, state: RunState | None, node_id: str | None) -> None:
        """Show `node_id` in `state` (call again as events arrive: the choice is kept)."""
        same = state is self.state and node_id == self.node_id
        chosen = self.iteration.currentData() if same else None
        self.state, self.node_id = state, node_id
        keys = [e.key for e in state.executions_of(node_id)] if state and node_id else []
        self.iteration.blockSignals(True)
        self.iteration.clear()
        for key in keys:
            self.iteration.addItem(key, key)
        if keys:
            index = self.iteration.findData(chosen) if chosen in keys else len(keys) - 1
            self.iteration.setCurrentIndex(index)
        self.iteration.blockSignals(False)
        self._show_execution()

    def _show_execution(self) -> None:
        state, node_id = self.state, self.node_id
        key = self.iteration.currentData()
        execution = state.executions.get(key) if state and key else None
        if state is None or node_id is None:
            self.heading.setText(
                "Select a node to see its data in the run" if state else "No run to show yet"
            )
            self._set_data(None)
        elif execution is not None:
            self.heading.setText(f"<b>{node_id}</b> in run {state.run_id[:8]}: {execution.status}")
            self._set_data(execution.details())
        elif node_id in state.pauses:
            pause = state.pauses[node_id]
            self.heading.setText(f"<b>{node_id}</b>: paused ({pause.kind}), not run yet")
            self._set_data({"paused": pause.kind, "prompt": pause.prompt})
        else:
            self.heading.setText(f"<b>{node_id}</b> has not run in run {state.run_id[:8]}")
            self._set_data(None)
        self._refresh_controls()

    def _refresh_controls(self) -> None:
        self.iteration.setVisible(self.iteration.count() > 1)
        self.copy_button.setEnabled(self.data is not None)

    # -------------------------------------------------------------------------------- tree

    def _set_data(self, data: Any) -> None:
        if data == self.data and self.tree.topLevelItemCount():
            return
        expanded = self._expanded_paths()
        self.data = data
        self.tree.clear()
        if isinstance(data, dict):
            for key, value in data.items():
                self.tree.addTopLevelItem(self._item(str(key), value))
        elif data is not None:
            self.tree.addTopLevelItem(self._item("value", data))
        self._restore_expanded(expanded or {"output", "error"})
        self._apply_filter(self.filter.text())

    def _item(self, key: str, value: Any) -> QTreeWidgetItem:
        item = QTreeWidgetItem([key, ""])
        item.setData(0, VALUE_ROLE, value)
        if isinstance(value, dict):
            item.setText(1, f"{{{len(value)}}}")
            for child_key, child in value.items():
                item.addChild(self._item(str(child_key), child))
        elif isinstance(value, list):
            item.setText(1, f"[{len(value)}]")
            for index, child in enumerate(value):
                item.addChild(self._item(f"[{index}]", child))
        else:
            text = value if isinstance(value, str) else _scalar(value)
            line = " ".join(text.split())  # one row: a multi-line text would show its first line
            item.setText(1, line if len(line) < 500 else line[:500] + "…")
            item.setToolTip(1, text[:4000])
        return item

    def _paths(self, item: QTreeWidgetItem, prefix: str = "") -> list[tuple[str, QTreeWidgetItem]]:
        path = f"{prefix}/{item.text(0)}"
        found = [(path, item)]
        for child in children(item):
            found += self._paths(child, path)
        return found

    def _all(self) -> list[tuple[str, QTreeWidgetItem]]:
        found: list[tuple[str, QTreeWidgetItem]] = []
        for item in top_level(self.tree):
            found += self._paths(item)
        return found

    def _expanded_paths(self) -> set[str]:
        return {path for path, item in self._all() if item.isExpanded()}

    def _restore_expanded(self, paths: set[str]) -> None:
        for path, item in self._all():
            item.setExpanded(path in paths or path.lstrip("/") in paths)

    def _apply_filter(self, text: str) -> None:
        """Show items whose key or value contains `text`, with their ancestors, expanded."""
        needle = text.strip().lower()

        def visit(item: QTreeWidgetItem) -> bool:
            child_match = False
            for child in children(item):
                child_match = visit(child) or child_match
            own = not needle or needle in item.text(0).lower() or needle in item.text(1).lower()
            item.setHidden(not (own or child_match))
            if needle and child_match:
                item.setExpanded(True)
            return own or child_match

        for item in top_level(self.tree):
            visit(item)

    def copy(self) -> None:
        item = self.tree.currentItem()
        value = item.data(0, VALUE_ROLE) if item is not None else self.data
        text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        QGuiApplication.clipboard().setText(text)
