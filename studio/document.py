"""The open flow: the immutable `Flow` plus its file, validation and change notifications.

Edits replace the Flow (frozen models); the canvas and panels observe `changed`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.flow import Flow, Issue, Validator, dumps, load, save
from engine.flow.templates import new_flow


class FlowDocument(QObject):
    changed = Signal()
    validated = Signal(list)

    def __init__(self, flow: Flow | None = None, path: Path | None = None) -> None:
        super().__init__()
        self._flow = flow or new_flow("Untitled flow")
        self.path = path
        self._saved_text = dumps(self._flow) if path else ""
        self._validator = Validator()
        self.issues: list[Issue] = self._validator.validate(self._flow)

    @classmethod
    def open(cls, path: Path) -> FlowDocument:
        return cls(load(path), path)

    @property
    def flow(self) -> Flow:
        return self._flow

    @property
    def modified(self) -> bool:
        return dumps(self._flow) != self._saved_text

    @property
    def title(self) -> str:
        name = self.path.name if self.path else self._flow.name
        return f"{name}{' •' if self.modified else ''}"

    def replace(self, flow: Flow) -> None:
        """Make `flow` the document's content (used by undo commands)."""
        self._flow = flow
        self.issues = self._validator.validate(flow)
        self.changed.emit()
        self.validated.emit(self.issues)

    def save(self, path: Path | None = None) -> None:
        target = path or self.path
        if target is None:
            raise ValueError("the flow has no file yet: choose where to save it")
        save(self._flow, target)
        self.path = target
        self._saved_text = dumps(self._flow)
        self.changed.emit()
