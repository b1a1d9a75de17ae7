"""Why a node or a run failed, as exceptions with messages a user can act on."""

from __future__ import annotations

from typing import Any


class NodeError(Exception):
    """A node failed; `kind` names the failure (the `error.type` seen by error paths)."""

    kind = "node_error"

    def to_dict(self, node_id: str, attempt: int) -> dict[str, Any]:
        return {"node_id": node_id, "type": self.kind, "message": str(self), "attempt": attempt}


class LimitError(NodeError):
    """A limit was hit: the message names it, e.g. `loop.max_iterations (100)`."""

    kind = "limit"


class NodeTimeout(NodeError):
    kind = "timeout"


class InputError(NodeError):
    """The trigger's input does not fit its input_schema."""

    kind = "invalid_input"


class RunCancelled(Exception):
    """The run was cancelled by a user."""


class RunEnded(Exception):
    """An `end` action finished the run early."""

    def __init__(self, output: Any, status: str) -> None:
        super().__init__(status)
        self.output = output
        self.status = status
