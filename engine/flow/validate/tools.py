"""Checks against the workspace's tool catalog, when the caller knows it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.flow.expressions import is_template
from engine.flow.model import Flow, Node
from engine.flow.validate.issues import Issue, error

ToolCatalog = Mapping[str, Mapping[str, Any]]
"""Tool name (`server__tool`) -> its input JSON Schema."""


def _literal(value: Any) -> bool:
    """Values without templates can be checked before the run."""
    if isinstance(value, str):
        return not is_template(value)
    if isinstance(value, Mapping):
        return all(_literal(v) for v in value.values())
    if isinstance(value, list):
        return all(_literal(v) for v in value)
    return True


def _argument_issues(node: Node, schema: Mapping[str, Any]) -> Iterator[Issue]:
    from jsonschema import Draft202012Validator  # only when a tool catalog is known
    from jsonschema.exceptions import SchemaError

    arguments = node.config.get("arguments", {})
    if not isinstance(arguments, Mapping):
        return
    for name in schema.get("required", []):
        if name not in arguments:
            yield error(
                "tool.bad_arguments",
                f"the tool needs the argument '{name}'",
                node_id=node.id,
                field=f"arguments.{name}",
            )
    properties = schema.get("properties", {})
    for name, value in arguments.items():
        if (
            isinstance(properties, Mapping)
            and properties
            and name not in properties
            and schema.get("additionalProperties") is False
        ):
            yield error(
                "tool.bad_arguments",
                f"the tool has no argument '{name}'",
                node_id=node.id,
                field=f"arguments.{name}",
            )
            continue
        prop = properties.get(name) if isinstance(properties, Mapping) else None
        if not isinstance(prop, Mapping) or not _literal(value):
            continue
        try:
            problem = next(Draft202012Validator(prop).iter_errors(value), None)
        except SchemaError:
            continue
        if problem is not None:
            yield error(
                "tool.bad_arguments",
                f"argument '{name}': {problem.message}",
                node_id=node.id,
                field=f"arguments.{name}",
            )


def tool_issues(flow: Flow, tools: ToolCatalog) -> Iterator[Issue]:
    for node in flow.nodes:
        if node.type == "mcp_tool":
            name = node.config.get("tool")
            if not isinstance(name, str):
                continue
            if name not in tools:
                yield error(
                    "tool.unknown",
                    f"the workspace has no tool '{name}'",
                    node_id=node.id,
                    field="tool",
                )
            else:
                yield from _argument_issues(node, tools[name])
        elif node.type == "agent_loop":
            allowed = node.config.get("tools", ["*"])
            for index, name in enumerate(allowed if isinstance(allowed, list) else []):
                if isinstance(name, str) and name != "*" and name not in tools:
                    yield error(
                        "tool.unknown",
                        f"the workspace has no tool '{name}'",
                        node_id=node.id,
                        field=f"tools[{index}]",
                    )
