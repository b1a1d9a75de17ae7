"""The flow document: models, load and save, expressions, validation, JSON Schema."""

from engine.flow.io import FlowLoadError, dumps, from_document, load, loads, save, to_document
from engine.flow.model import FORMAT, Edge, Flow, LlmSettings, Node, Note, Retry, Settings
from engine.flow.validate import Issue, Validator, has_errors, validate

__all__ = [
    "FORMAT",
    "Edge",
    "Flow",
    "FlowLoadError",
    "Issue",
    "LlmSettings",
    "Node",
    "Note",
    "Retry",
    "Settings",
    "Validator",
    "dumps",
    "from_document",
    "has_errors",
    "load",
    "loads",
    "save",
    "to_document",
    "validate",
]
