"""The validator's graph of a flow, for the editor: scopes, connection checks and layout.

It reuses `engine.flow.validate.graph` (the same rules the Problems panel reports), so the canvas
never disagrees with validation about what a scope is or which edge is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from engine.flow import Edge, Flow, Issue, Node
from engine.flow.validate import graph as rules
from engine.flow.validate.node_checks import NodeFacts
from engine.nodes import NODE_SPECS, NodeSpec, get_spec


def _graph_facts(node: Node) -> NodeFacts:
    """Only the facts the graph rules read (handles, scopes, input), without parsing expressions.

    The validator's full facts parse every template; the editor asks for a graph on every edit
    and during every wire drag, where only the shape of the graph matters.
    """
    spec = get_spec(node.type)
    if spec is None:
        return NodeFacts((), (), frozenset(), (), (), True)
    return NodeFacts(
        issues=(),
        references=(),
        outputs=frozenset(spec.output_handles(node.config)),
        scope_handles=tuple(spec.scope_handles(node.config)),
        variables=(),
        has_input=spec.has_input,
    )


@dataclass(frozen=True)
class Analysis:
    """One flow's graph of valid edges, its scopes (`owner:handle` -> members) and crossings."""

    flow: Flow
    graph: rules.Graph
    scopes: dict[str, frozenset[str]]
    crossings: frozenset[Issue]


class Analyzer:
    """Analyses flows, reusing per-node facts, and remembers the last flow's analysis."""

    def __init__(self) -> None:
        self._facts: dict[int, tuple[Node, NodeFacts]] = {}
        self._last: Analysis | None = None

    def _facts_of(self, flow: Flow) -> dict[str, NodeFacts]:
        known, self._facts = self._facts, {}
        for node in flow.node_map.values():
            entry = known.get(id(node))
            if entry is None or entry[0] is not node:
                entry = (node, _graph_facts(node))
            self._facts[id(node)] = entry
        return {node_id: self._facts[id(node)][1] for node_id, node in flow.node_map.items()}

    def analyze(self, flow: Flow) -> Analysis:
        if self._last is not None and self._last.flow is flow:
            return self._last
        graph = rules.build(flow, self._facts_of(flow))
        scopes, crossings = rules.scopes(graph) if graph.order is not None else ({}, [])
        self._last = Analysis(flow, graph, scopes, frozenset(crossings))
        return self._last

    def refusal(self, flow: Flow, source: str, handle: str, target: str) -> str | None:
        """Why an edge `source.handle -> target` may not be added, or None if it may."""
        if source == target:
            return f"'{source}' cannot connect to itself"
        before = self.analyze(flow)
        edge = Edge(id="candidate", source=source, handle=handle, target=target)
        after = self.analyze(flow.model_copy(update={"edges": (*flow.edges, edge)}))
        self._last = before
        refused = [i.message for i in after.graph.issues if i.edge_id == "candidate"]
        digraph = before.graph.digraph
        if not refused and nx.has_path(digraph, target, source):
            path = nx.shortest_path(digraph, target, source)
            refused.append("that would form a cycle: " + " → ".join([source, *path]))
        refused += sorted(i.message for i in after.crossings - before.crossings)
        return refused[0] if refused else None


def target_types() -> list[NodeSpec]:
    """Node types a new node dropped at the end of a wire may have.

    A brand-new node has no other edges, so it cannot close a cycle or cross a scope (it joins the
    scope of the wire's source); only types without an input (trigger, error handler) are refused.
    """
    return [spec for spec in NODE_SPECS.values() if spec.has_input]
