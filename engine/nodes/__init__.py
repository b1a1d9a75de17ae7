"""The 19 node types: their specs, one registry.

Executors live in `engine.run`; these specs stay light so the studio can import them.
"""

from __future__ import annotations

from engine.nodes import ai, control, messaging, people, tools
from engine.nodes.spec import Category, NodeConfig, NodeSpec, SecretRef

NODE_SPECS: dict[str, NodeSpec] = {
    spec.type: spec for module in (control, ai, tools, people, messaging) for spec in module.SPECS
}


def get_spec(node_type: str) -> NodeSpec | None:
    return NODE_SPECS.get(node_type)


__all__ = ["NODE_SPECS", "Category", "NodeConfig", "NodeSpec", "SecretRef", "get_spec"]
