"""The open flow: the immutable `Flow` plus its file, validation and change notifications.

Edits replace the Flow (frozen models); the canvas and panels observe `changed`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.flow import Flow, Issue, Validator, dumps, load, save
from engine.flow.templates import new_flow
from studio.analysis import Analysis, Analyzer
from studio.collector import paused_collection


class FlowDocument(QObject):
    changed = Signal()
    validated = Signal(list)

    def __init__(self, flow: Flow | None = None, path: Path | None = None) -> None:
        super().__init__()
        self._flow = flow or new_flow("Untitled flow")
        self.path = path
        self._saved: Flow | None = self._flow if path else None
        self._starter: Flow | None = self._flow if flow is None else None
        """The new-flow starter, untouched: nothing to save until it is edited."""
        self._texts: dict[int, tuple[Flow, str]] = {}
        self._validator = Validator()
        self.analyzer = Analyzer(self._validator)
        self.issues: list[Issue] = self._validator.validate(self._flow)

    @classmethod
    def open(cls, path: Path) -> FlowDocument:
        with paused_collection():
            return cls(load(path), path)

    @property
    def flow(self) -> Flow:
        return self._flow

    @property
    def analysis(self) -> Analysis:
        """The current flow's graph and scopes (those its validation built)."""
        return self.analyzer.analyze(self._flow)

    @property
    def modified(self) -> bool:
        """Whether the saved bytes would differ from the file (undoing back to it counts); an
        untitled document is modified unless it is the new-flow starter as it came."""
        baseline = self._saved or (self._starter if self.path is None else None)
        if baseline is None:
            return True
        return self._flow is not baseline and self._text(self._flow) != self._text(baseline)

    def _text(self, flow: Flow) -> str:
        """`dumps(flow)`, kept for the saved and the current flow: large flows take a while."""
        cached = self._texts.get(id(flow))
        if cached is None or cached[0] is not flow:
            kept = (self._saved, self._starter)
            self._texts = {k: v for k, v in self._texts.items() if any(v[0] is f for f in kept)}
            cached = self._texts[id(flow)] = (flow, dumps(flow))
        return cached[1]

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
        self._saved = self._flow
        self.changed.emit()
