"""The flow's structure as the interpreter needs it: links by node, scopes, reachability."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from engine.flow import Flow
from engine.flow.validate.graph import scope_members
from engine.nodes import get_spec


@dataclass(frozen=True)
class Link:
    edge_id: str
    source: str
    handle: str
    target: str


class FlowGraph:
    """Computed once per run; the flow has been validated, so edges are sound."""

    def __init__(self, flow: Flow) -> None:
        self.links_out: dict[str, list[Link]] = {}
        self.links_in: dict[str, list[Link]] = {}
        self.digraph = nx.DiGraph()
        self.digraph.add_nodes_from(flow.node_map)
        for edge in sorted(flow.edges, key=lambda e: e.id):
            link = Link(edge.id, edge.source, edge.handle, edge.target)
            self.links_out.setdefault(edge.source, []).append(link)
            self.links_in.setdefault(edge.target, []).append(link)
            self.digraph.add_edge(edge.source, edge.target)
        self.scope_handles = {
            node.id: spec.scope_handles(node.config)
            for node in flow.node_map.values()
            if (spec := get_spec(node.type)) is not None and spec.owns_scopes
        }

    def in_degree(self, node_id: str, region: frozenset[str]) -> int:
        return sum(link.source in region for link in self.links_in.get(node_id, ()))

    def reachable_from(self, node_id: str) -> frozenset[str]:
        return frozenset(nx.descendants(self.digraph, node_id) | {node_id})

    def scope_entries(self, owner: str, handle: str) -> list[str]:
        return sorted(
            link.target for link in self.links_out.get(owner, ()) if link.handle == handle
        )

    def scope_members(self, owner: str, handle: str) -> frozenset[str]:
        return self._members[(owner, handle)]

    @cached_property
    def _members(self) -> dict[tuple[str, str], frozenset[str]]:
        return {
            (owner, handle): scope_members(self.digraph.succ, self.scope_entries(owner, handle))
            for owner, handles in self.scope_handles.items()
            for handle in handles
        }

    def without_nested_scopes(self, candidates: frozenset[str]) -> frozenset[str]:
        """The nodes a region runs itself: scopes owned by its nodes are run by their owners."""
        nested: set[str] = set()
        for (owner, _), inside in self._members.items():
            if owner in candidates:
                nested |= inside
        return candidates - nested

    def has_error_path(self, node_id: str, region: frozenset[str]) -> bool:
        return any(
            link.handle == "error" and link.target in region
            for link in self.links_out.get(node_id, ())
        )
