"""The rules of docs/flows.md §5 that look at the whole graph.

Validating an acyclic flow walks plain successor lists; networkx (which takes a noticeable part of
a second to import, a cost the studio's start should not pay) is loaded for a cycle's report and
for the editor's questions about paths, through `Graph.digraph`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from engine.flow.model import Edge, Flow, Node
from engine.flow.validate.issues import Issue, error, warning
from engine.flow.validate.node_checks import NodeFacts

if TYPE_CHECKING:
    import networkx as nx


class Link(NamedTuple):
    """A valid edge, as the scope rules see it (a tuple: quicker to make than a dataclass)."""

    source: str
    target: str
    handle: str
    edge_id: str


@dataclass
class Graph:
    """The flow's valid edges, plus facts the rules share."""

    flow: Flow
    facts: Mapping[str, NodeFacts]
    successors: dict[str, list[str]] = field(default_factory=dict)
    """Each node's successors along valid edges (plain lists: validation walks them itself)."""
    links_in: dict[str, list[Link]] = field(default_factory=dict)
    links_out: dict[str, list[Link]] = field(default_factory=dict)
    order: list[str] | None = None
    """The nodes in topological order; None while edges form a cycle."""
    issues: list[Issue] = field(default_factory=list)

    @cached_property
    def digraph(self) -> nx.DiGraph:
        """The same graph for networkx (cycles, the editor's paths): made when first asked for,
        as validating an acyclic flow needs none of it."""
        import networkx as nx

        digraph = nx.DiGraph()
        digraph.add_nodes_from(self.successors)
        digraph.add_edges_from(
            (source, target) for source, targets in self.successors.items() for target in targets
        )
        return digraph


def duplicate_ids(flow: Flow) -> Iterator[Issue]:
    for kind, items in (("node", flow.nodes), ("edge", flow.edges), ("note", flow.notes)):
        counts = Counter(item.id for item in items)
        for item_id, count in counts.items():
            if count > 1:
                where = (
                    {"node_id": item_id}
                    if kind == "node"
                    else ({"edge_id": item_id} if kind == "edge" else {})
                )
                yield error(
                    f"{kind}.duplicate_id", f"{count} {kind}s have the id '{item_id}'", **where
                )


def _edge_issue(graph: Graph, nodes: Mapping[str, Node], edge: Edge) -> Issue | None:
    facts = graph.facts
    source = facts.get(edge.source)
    if source is None or edge.target not in facts:
        end, node_id = ("starts", edge.source) if source is None else ("ends", edge.target)
        return error(
            "edge.unknown_node",
            f"the edge {end} at '{node_id}', which does not exist",
            edge_id=edge.id,
        )
    node_type = nodes[edge.target].type
    if node_type in ("trigger", "error_handler"):
        kind = "a trigger" if node_type == "trigger" else "an error handler"
        return error(
            f"edge.into_{node_type}",
            f"'{edge.target}' is {kind}; no edge may enter it",
            node_id=edge.target,
            edge_id=edge.id,
        )
    if source.outputs and edge.handle not in source.outputs:
        handles = ", ".join(sorted(source.outputs))
        return error(
            "edge.unknown_handle",
            f"'{edge.source}' has no handle '{edge.handle}' (it has: {handles})",
            node_id=edge.source,
            edge_id=edge.id,
        )
    if edge.source == edge.target:
        return error(
            "graph.cycle",
            f"the edge loops from '{edge.source}' to itself",
            node_id=edge.source,
            edge_id=edge.id,
        )
    return None


def build(flow: Flow, facts: Mapping[str, NodeFacts]) -> Graph:
    graph = Graph(flow, facts, successors={node_id: [] for node_id in facts})
    nodes = flow.node_map  # a pydantic property: looked up once, not per edge
    seen: set[tuple[str, str, str]] = set()
    for edge in flow.edges:
        issue = _edge_issue(graph, nodes, edge)
        if issue is not None:
            graph.issues.append(issue)
            continue
        key = (edge.source, edge.handle, edge.target)
        if key in seen:
            graph.issues.append(
                warning(
                    "edge.duplicate",
                    f"another edge already joins '{edge.source}'.{edge.handle} to '{edge.target}'",
                    edge_id=edge.id,
                )
            )
            continue
        seen.add(key)
        link = Link(edge.source, edge.target, edge.handle, edge.id)
        graph.links_in.setdefault(edge.target, []).append(link)
        graph.links_out.setdefault(edge.source, []).append(link)
        graph.successors[edge.source].append(edge.target)
    graph.order = _topological_order(graph.successors)
    return graph


def _topological_order(successors: Mapping[str, list[str]]) -> list[str] | None:
    """The nodes with every edge going forward (Kahn's algorithm), or None if edges form a cycle."""
    indegree = dict.fromkeys(successors, 0)
    for targets in successors.values():
        for target in targets:
            indegree[target] += 1
    ready = [node_id for node_id, count in indegree.items() if count == 0]
    order: list[str] = []
    while ready:
        node_id = ready.pop()
        order.append(node_id)
        for target in successors[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return order if len(order) == len(indegree) else None


def cycles(graph: Graph) -> list[Issue]:
    found: list[Issue] = []
    if graph.order is not None:
        return found
    import networkx as nx

    for component in nx.strongly_connected_components(graph.digraph):
        if len(component) > 1:
            cycle = nx.find_cycle(graph.digraph.subgraph(component))
            path = [u for u, *_ in cycle] + [cycle[0][0]]
            found.append(
                error(
                    "graph.cycle", "edges form a cycle: " + " → ".join(path), node_id=min(component)
                )
            )
    return found


def start_nodes(graph: Graph) -> list[str]:
    return [n.id for n in graph.flow.node_map.values() if n.type in ("trigger", "error_handler")]


def reachability(graph: Graph) -> Iterator[Issue]:
    flow = graph.flow
    if not any(n.type == "trigger" for n in flow.nodes):
        yield error("flow.no_trigger", "the flow has no trigger, so nothing can start it")
    started = reached(graph.successors, start_nodes(graph))
    for node_id, facts in graph.facts.items():
        if node_id not in started and facts.has_input:
            yield warning(
                "node.unreachable",
                f"no trigger reaches '{node_id}'; it never runs",
                node_id=node_id,
            )


def reached(successors: Mapping[str, Iterable[str]], starts: Iterable[str]) -> frozenset[str]:
    """`starts` and every node they reach, given each node's successors (a networkx graph's
    `succ` will do; validation's plain lists are walked several times quicker)."""
    found = set(starts)
    pending = list(found)
    while pending:
        for target in successors[pending.pop()]:
            if target not in found:
                found.add(target)
                pending.append(target)
    return frozenset(found)


def scope_members(
    successors: Mapping[str, Iterable[str]], entries: Iterable[str]
) -> frozenset[str]:
    """The members of a scope (docs/flows.md §3): the nodes its handle enters and all they reach.

    The one definition of a scope, shared by validation, the editor and the interpreter.
    """
    return reached(successors, entries)


def scopes(graph: Graph) -> tuple[dict[str, frozenset[str]], list[Issue]]:
    """Members of every scope, keyed `owner:handle`, and edges that cross a scope boundary."""
    members: dict[str, frozenset[str]] = {}
    issues: list[Issue] = []
    for owner, facts in graph.facts.items():
        for handle in facts.scope_handles:
            entries = [
                link.target for link in graph.links_out.get(owner, ()) if link.handle == handle
            ]
            inside = members[f"{owner}:{handle}"] = scope_members(graph.successors, entries)
            for member in sorted(inside):
                for link in graph.links_in.get(member, ()):
                    u, h = link.source, link.handle
                    if u in inside or (u == owner and h == handle):
                        continue
                    issues.append(
                        error(
                            "scope.crossing",
                            f"'{member}' is inside the '{handle}' scope of '{owner}' but is also "
                            f"entered from '{u}'.{h}; a scope is entered only through its handle",
                            node_id=member,
                            edge_id=link.edge_id,
                        )
                    )
    return members, issues


def _ancestor_masks(graph: Graph) -> tuple[dict[str, int], dict[str, int]]:
    """Each node's ancestors as a bit mask, in topological order (the graph is acyclic)."""
    order = graph.order or []
    bit = {node_id: 1 << i for i, node_id in enumerate(order)}
    masks: dict[str, int] = {}
    for node_id in order:
        mask = 0
        for link in graph.links_in.get(node_id, ()):
            mask |= masks[link.source] | bit[link.source]
        masks[node_id] = mask
    return bit, masks


def _variable_setters(
    graph: Graph, bit: Mapping[str, int], members: Mapping[str, frozenset[str]]
) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Who sets each variable: a mask of setters, and loop variables by the nodes that see them."""
    setters: dict[str, int] = {}
    scoped: dict[str, set[str]] = {}
    nodes = graph.flow.node_map
    for node_id, facts in graph.facts.items():
        if nodes[node_id].type == "loop":
            # Loop variables exist only inside the loop body.
            for member in members.get(f"{node_id}:body", ()):
                scoped.setdefault(member, set()).update(facts.variables)
            continue
        for name in facts.variables:
            setters[name] = setters.get(name, 0) | bit[node_id]
    return setters, scoped


def references(graph: Graph, members: Mapping[str, frozenset[str]]) -> Iterator[Issue]:
    """`nodes.X` must run before the node; `vars.X` must be set by something that does."""
    bit, ancestors = _ancestor_masks(graph)
    setters, scoped = _variable_setters(graph, bit, members)
    for node_id, facts in graph.facts.items():
        mask = ancestors[node_id]
        for path, refs in facts.references:
            for name in sorted(refs.nodes):
                if name not in bit:
                    yield error(
                        "expr.unknown_node",
                        f"nodes.{name}: there is no node '{name}'",
                        node_id=node_id,
                        field=path,
                    )
                elif not bit[name] & mask:
                    yield error(
                        "expr.not_upstream",
                        f"nodes.{name}: '{name}' does not run before '{node_id}'",
                        node_id=node_id,
                        field=path,
                    )
            for name in sorted(refs.vars):
                if not setters.get(name, 0) & mask and name not in scoped.get(node_id, ()):
                    yield warning(
                        "expr.var_unset",
                        f"vars.{name}: nothing before '{node_id}' sets '{name}'",
                        node_id=node_id,
                        field=path,
                    )


def error_handler_scopes(flow: Flow) -> Iterator[Issue]:
    for node in flow.nodes:
        scope: Any = node.config.get("scope") if node.type == "error_handler" else None
        if isinstance(scope, list):
            for index, name in enumerate(scope):
                if isinstance(name, str) and name not in flow.node_map:
                    yield error(
                        "config.unknown_node",
                        f"scope names '{name}', which does not exist",
                        node_id=node.id,
                        field=f"scope[{index}]",
                    )
