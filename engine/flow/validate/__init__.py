"""Validation of a flow (NODES.md §5): issue records with stable codes.

`Validator` keeps per-node results between calls, so the studio can re-validate on every edit.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.flow.model import Flow
from engine.flow.validate import graph as rules
from engine.flow.validate.issues import CODES, Issue, error, sort_key
from engine.flow.validate.node_checks import FactsCache
from engine.flow.validate.tools import ToolCatalog, tool_issues
from engine.nodes.spec import walk_fields


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


class Validator:
    """Validates flows; reuses the checks of node objects it has seen before."""

    def __init__(self) -> None:
        self._cache = FactsCache()

    def validate(self, flow: Flow, *, tools: ToolCatalog | None = None) -> list[Issue]:
        issues: list[Issue] = [*rules.duplicate_ids(flow), *_settings_issues(flow)]
        facts = {}
        for node in flow.node_map.values():
            node_facts = self._cache.get(node)
            facts[node.id] = node_facts
            issues.extend(node_facts.issues)
        self._cache.keep_only(flow.nodes)
        graph = rules.build(flow, facts)
        issues.extend(graph.issues)
        issues.extend(rules.error_handler_scopes(flow))
        cycle_issues = rules.cycles(graph)
        issues.extend(cycle_issues)
        issues.extend(rules.reachability(graph))
        if not cycle_issues:
            members, scope_issues = rules.scopes(graph)
            issues.extend(scope_issues)
            issues.extend(rules.references(graph, members))
        if tools is not None:
            issues.extend(tool_issues(flow, tools))
        return sorted(issues, key=sort_key)


def validate(flow: Flow, *, tools: ToolCatalog | None = None) -> list[Issue]:
    """All issues of a flow, errors first. `tools` (name -> input schema) enables tool checks."""
    return Validator().validate(flow, tools=tools)


def has_errors(issues: list[Issue]) -> bool:
    return any(issue.severity == "error" for issue in issues)


__all__ = ["CODES", "Issue", "ToolCatalog", "Validator", "has_errors", "validate"]
