"""Validation of a flow (docs/flows.md §5): issue records with stable codes.

`Validator` keeps per-node results between calls, so the studio can re-validate on every edit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from engine.flow.model import Flow
from engine.flow.validate import graph as rules
from engine.flow.validate.exposure import exposure_issues
from engine.flow.validate.issues import CODES, Issue, error, sort_key
from engine.flow.validate.node_checks import FactsCache, NodeFacts
from engine.flow.validate.tools import ToolCatalog, tool_issues
from engine.nodes.spec import walk_fields
from engine.slug import workspace_slug_problem


def _workspace_issues(flow: Flow) -> Iterator[Issue]:
    """The workspace picks the vault and the folders a run uses: only a plain slug will do."""
    problem = None if flow.workspace is None else workspace_slug_problem(flow.workspace)
    if problem is not None:
        yield error("flow.bad_workspace", problem, field="workspace")


def _settings_issues(flow: Flow) -> Iterator[Issue]:
    settings = flow.settings
    for path, info in walk_fields(type(settings)):
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        cap = extra.get("x-cap")
        value = getattr(settings, path, None)
        if isinstance(cap, int | float) and isinstance(value, int | float) and value > cap:
            yield error(
                "limit.above_cap",
                f"settings.{path} is {value:g}, above its cap of {cap:g}",
                field=f"settings.{path}",
            )


@dataclass(frozen=True)
class Structure:
    """A flow's graph of valid edges and its scopes: built once, for validation and the editor."""

    flow: Flow
    graph: rules.Graph
    scopes: dict[str, frozenset[str]]
    """Members of each scope, keyed `owner:handle` (none while edges form a cycle)."""
    crossings: tuple[Issue, ...]
    """Edges that enter a scope other than through its handle."""


def _same_graph(last: Structure, flow: Flow, facts: Mapping[str, NodeFacts]) -> bool:
    """Whether `flow` has the last flow's edges, nodes and handles: what the graph and the scopes
    are built from (edges into triggers and error handlers depend on the node types)."""
    before = last.graph.facts
    if flow.edges is not last.flow.edges or list(facts) != list(before):
        return False
    old_nodes, nodes = last.flow.node_map, flow.node_map
    for node_id, new in facts.items():
        old = before[node_id]
        if old is not new and (
            old.outputs != new.outputs
            or old.scope_handles != new.scope_handles
            or old_nodes[node_id].type != nodes[node_id].type
        ):
            return False
    return True


class Validator:
    """Validates flows; reuses the checks of node objects it has seen before, and the graph of
    the last flow when an edit leaves its edges and handles as they were."""

    def __init__(self) -> None:
        self._cache = FactsCache()
        self._last: Structure | None = None

    def structure(self, flow: Flow) -> Structure:
        """The graph and scopes of `flow`: those of the last validated flow are kept, so the
        editor asking about the open flow reuses what validating it built."""
        if self._last is not None and self._last.flow is flow:
            return self._last
        facts = {node_id: self._cache.get(node) for node_id, node in flow.node_map.items()}
        self._cache.keep_only(flow.nodes)
        last = self._last
        if last is not None and _same_graph(last, flow, facts):
            # Most edits (moves, labels, config text) leave the graph as it was: keep its work.
            return replace(last, flow=flow, graph=replace(last.graph, flow=flow, facts=facts))
        graph = rules.build(flow, facts)
        scopes, crossings = rules.scopes(graph) if graph.order is not None else ({}, [])
        return Structure(flow, graph, scopes, tuple(crossings))

    def validate(self, flow: Flow, *, tools: ToolCatalog | None = None) -> list[Issue]:
        structure = self._last = self.structure(flow)
        graph = structure.graph
        issues: list[Issue] = [
            *rules.duplicate_ids(flow),
            *_workspace_issues(flow),
            *_settings_issues(flow),
            *exposure_issues(flow),
        ]
        for facts in graph.facts.values():
            issues.extend(facts.issues)
        issues.extend(graph.issues)
        issues.extend(rules.error_handler_scopes(flow))
        issues.extend(rules.cycles(graph))
        issues.extend(rules.reachability(graph))
        if graph.order is not None:
            issues.extend(structure.crossings)
            issues.extend(rules.references(graph, structure.scopes))
        if tools is not None:
            issues.extend(tool_issues(flow, tools))
        return sorted(issues, key=sort_key)


def validate(flow: Flow, *, tools: ToolCatalog | None = None) -> list[Issue]:
    """All issues of a flow, errors first. `tools` (name -> input schema) enables tool checks."""
    return Validator().validate(flow, tools=tools)


def has_errors(issues: list[Issue]) -> bool:
    return any(issue.severity == "error" for issue in issues)


__all__ = ["CODES", "Issue", "Structure", "ToolCatalog", "Validator", "has_errors", "validate"]
