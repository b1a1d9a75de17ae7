"""The validator's graph of a flow, for the editor: scopes, connection checks and layout.

It is the graph validation itself built (`engine.flow.validate.Structure`), so the canvas never
disagrees with the Problems panel about what a scope is or which edge is allowed, and a flow's
graph is built once per edit, not once for validation and again for the canvas.
"""

from __future__ import annotations

from engine.flow import Edge, Flow, Validator
from engine.flow.validate import Structure
from engine.nodes import NODE_SPECS, NodeSpec

Analysis = Structure
"""One flow's graph of valid edges, its scopes (`owner:handle` -> members) and crossings."""


class Analyzer:
    """Answers the editor's questions about flows, with the graphs of the document's validator."""

    def __init__(self, validator: Validator) -> None:
        self._validator = validator

    def analyze(self, flow: Flow) -> Analysis:
        return self._validator.structure(flow)

    def refusal(self, flow: Flow, source: str, handle: str, target: str) -> str | None:
        """Why an edge `source.handle -> target` may not be added, or None if it may."""
        if source == target:
            return f"'{source}' cannot connect to itself"
        before = self.analyze(flow)
        edge = Edge(id="candidate", source=source, handle=handle, target=target)
        after = self.analyze(flow.model_copy(update={"edges": (*flow.edges, edge)}))
        refused = [i.message for i in after.graph.issues if i.edge_id == "candidate"]
        digraph = before.graph.digraph
        import networkx as nx  # loaded on first use: the studio starts without it

        if not refused and nx.has_path(digraph, target, source):
            path = nx.shortest_path(digraph, target, source)
            refused.append("that would form a cycle: " + " → ".join([source, *path]))
        refused += sorted(i.message for i in set(after.crossings) - set(before.crossings))
        return refused[0] if refused else None


def target_types() -> list[NodeSpec]:
    """Node types a new node dropped at the end of a wire may have.

    A brand-new node has no other edges, so it cannot close a cycle or cross a scope (it joins the
    scope of the wire's source); only types without an input (trigger, error handler) are refused.
    """
    return [spec for spec in NODE_SPECS.values() if spec.has_input]
