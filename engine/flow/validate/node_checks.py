"""Checks of one node on its own, cached per node object so re-validation after an edit is cheap."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any, NamedTuple

from pydantic import ValidationError

from engine.flow.expressions import References, field_strings, problems, references
from engine.flow.io import json_path
from engine.flow.model import Node
from engine.flow.validate.issues import Issue, error
from engine.nodes import NodeSpec, get_spec
from engine.nodes.spec import CheckedValue


class NodeFacts(NamedTuple):
    """What the graph checks need to know about a node, computed once per node object (a tuple:
    opening a big flow makes one per node, and a frozen dataclass takes longer to make)."""

    issues: tuple[Issue, ...]
    references: tuple[tuple[str, References], ...]
    outputs: frozenset[str]
    scope_handles: tuple[str, ...]
    variables: tuple[str, ...]
    has_input: bool


def _field(location: tuple[int | str, ...]) -> str | None:
    path = json_path(location)
    return None if path == "$" else path[2:]


def _friendly(err: dict[str, Any]) -> str:
    field = _field(err["loc"]) or "config"
    kind = err["type"]
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'"
    message = str(err["msg"]).removeprefix("Value error, ")
    return message if field == "config" else f"'{field}': {message}"


def _config_issues(node: Node, spec: NodeSpec) -> Iterator[Issue]:
    try:
        spec.config_model.model_validate(node.config)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            yield error(
                "config.invalid", _friendly(dict(err)), node_id=node.id, field=_field(err["loc"])
            )


def _cap_issues(node: Node, values: list[CheckedValue]) -> Iterator[Issue]:
    limits: list[tuple[str, Any, float]] = [
        (path, value, checked.cap) for path, checked, value in values if checked.cap is not None
    ]
    if node.timeout_s is not None:
        limits.append(("timeout_s", node.timeout_s, 30 * 86400))
    if node.retry is not None:
        limits.append(("retry.max_attempts", node.retry.max_attempts, 10))
    for path, value, cap in limits:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > cap:
            yield error(
                "limit.above_cap",
                f"{path} is {value:g}, above its cap of {cap:g}",
                node_id=node.id,
                field=path,
            )


def _code_issues(node: Node) -> Iterator[Issue]:
    code = node.config.get("code")
    if not isinstance(code, str):
        return
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        yield error("code.syntax", f"line {exc.lineno}: {exc.msg}", node_id=node.id, field="code")
        return
    if not any(
        isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == "main"
        for s in tree.body
    ):
        yield error(
            "code.syntax",
            "the code defines no main(input, vars, nodes)",
            node_id=node.id,
            field="code",
        )


def node_facts(node: Node) -> NodeFacts:
    spec = get_spec(node.type)
    if spec is None:
        issue = error(
            "node.unknown_type", f"unknown node type '{node.type}'", node_id=node.id, field="type"
        )
        return NodeFacts((issue,), (), frozenset(), (), (), True)
    values = spec.checked_values(node.config)
    issues = [*_config_issues(node, spec), *_cap_issues(node, values)]
    if node.type == "code_block":
        issues.extend(_code_issues(node))
    refs: list[tuple[str, References]] = []
    for path, kind, text in field_strings(values):
        found = references(text, kind)
        if found.nodes or found.vars:
            refs.append((path, found))
        for problem in problems(text, kind):
            issues.append(
                Issue(problem.severity, problem.code, problem.message, node_id=node.id, field=path)
            )
    variables = spec.variables_set(node.config)
    if node.output_variable:
        variables = [*variables, node.output_variable]
    return NodeFacts(
        issues=tuple(issues),
        references=tuple(refs),
        outputs=frozenset(spec.output_handles(node.config)),
        scope_handles=tuple(spec.scope_handles(node.config)),
        variables=tuple(variables),
        has_input=spec.has_input,
    )


class FactsCache:
    """Node facts by node object: unchanged nodes keep their facts across validations."""

    def __init__(self) -> None:
        self._facts: dict[int, tuple[Node, NodeFacts]] = {}

    def get(self, node: Node) -> NodeFacts:
        entry = self._facts.get(id(node))
        if entry is not None and entry[0] is node:
            return entry[1]
        facts = node_facts(node)
        self._facts[id(node)] = (node, facts)
        return facts

    def keep_only(self, nodes: tuple[Node, ...]) -> None:
        """Forget nodes that left the document, so the cache does not grow without bound."""
        if len(self._facts) > 2 * len(nodes) + 64:
            live = {id(n) for n in nodes}
            self._facts = {k: v for k, v in self._facts.items() if k in live}
