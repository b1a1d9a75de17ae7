"""Validation issues: plain records with stable codes, for the CLI, the studio and the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

# Every code the validator emits, with what it means. Codes are stable: tools match on them.
CODES: dict[str, str] = {
    "flow.load": "the file cannot be read as a flow (reported by load, not by validate)",
    "node.unknown_type": "a node's type is not one of the 19 node types",
    "node.duplicate_id": "two nodes share an id",
    "node.unreachable": "no trigger or error handler reaches the node",
    "config.invalid": "a config field is missing, unknown or of the wrong kind",
    "config.unknown_node": "a config field names a node that does not exist",
    "limit.above_cap": "a limit is above its cap",
    "edge.duplicate_id": "two edges share an id",
    "edge.unknown_node": "an edge starts or ends at a node that does not exist",
    "edge.unknown_handle": "an edge leaves from a handle its node does not have",
    "edge.duplicate": "two edges join the same handle to the same node",
    "edge.into_trigger": "an edge enters a trigger",
    "edge.into_error_handler": "an edge enters an error handler",
    "note.duplicate_id": "two notes share an id",
    "flow.no_trigger": "the flow has no trigger",
    "flow.bad_workspace": "the flow's workspace is not a workspace slug",
    "graph.cycle": "edges form a cycle",
    "scope.crossing": "an edge enters a loop or parallel scope other than through its handle",
    "expr.syntax": "an expression or template does not parse",
    "expr.unknown_node": "an expression uses nodes.X and there is no node X",
    "expr.not_upstream": "an expression uses nodes.X and X does not run before this node",
    "expr.var_unset": "an expression uses vars.X and nothing upstream sets X",
    "expr.unknown_name": "an expression uses a name other than input, vars, nodes, run and error",
    "expr.changes_data": "an expression calls a method that would change data (append, update)",
    "expr.method_on_data": "an expression calls items(), keys() or values() on data, where a "
    "key of that name would win over the method",
    "code.syntax": "a code block's Python does not parse or defines no main()",
    "tool.unknown": "a tool is not in the workspace",
    "tool.bad_arguments": "arguments do not fit the tool's input schema",
    "trigger.unsigned_webhook": "a webhook trigger has no signing secret: anyone can start it",
    "trigger.public_endpoint": "an endpoint trigger is public: anyone can call it without a key",
}


@dataclass(frozen=True)
class Issue:
    severity: Severity
    code: str
    message: str
    node_id: str | None = None
    field: str | None = None
    edge_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def where(self) -> str:
        """`node.field`, `edge e1`, or `flow`: where the issue is, for one-line reports."""
        if self.node_id:
            return f"{self.node_id}.{self.field}" if self.field else self.node_id
        if self.edge_id:
            return f"edge {self.edge_id}"
        return "flow"


def error(code: str, message: str, **where: str | None) -> Issue:
    return Issue("error", code, message, **where)


def warning(code: str, message: str, **where: str | None) -> Issue:
    return Issue("warning", code, message, **where)


def sort_key(issue: Issue) -> tuple[int, str, str, str, str]:
    return (
        0 if issue.severity == "error" else 1,
        issue.node_id or "",
        issue.field or "",
        issue.edge_id or "",
        issue.code,
    )
