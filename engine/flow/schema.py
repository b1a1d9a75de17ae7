"""The JSON Schema (draft 2020-12) of the flow format, generated from the models.

Each node's `config` is tied to its type with `if`/`then`, so editors can check and complete it.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from engine import __version__
from engine.flow.model import FORMAT, Flow, Node
from engine.nodes import NODE_SPECS

SCHEMA_ID = "https://aerostudio.dev/schema/flow-1.json"


def flow_schema() -> dict[str, Any]:
    models: list[tuple[Any, Any]] = [(Flow, "validation")]
    models += [(spec.config_model, "validation") for spec in NODE_SPECS.values()]
    refs, top = models_json_schema(models, ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top["$defs"]
    flow_ref = refs[(Flow, "validation")]["$ref"].rsplit("/", 1)[1]
    node_def = defs[Node.__name__]
    node_def["properties"]["type"]["enum"] = sorted(NODE_SPECS)
    node_def["allOf"] = [
        {
            "if": {"properties": {"type": {"const": spec.type}}, "required": ["type"]},
            "then": {
                "properties": {"config": refs[(spec.config_model, "validation")]},
                "description": spec.description,
            },
        }
        for spec in NODE_SPECS.values()
    ]
    flow_def = defs.pop(flow_ref)
    flow_def["properties"]["format"]["const"] = FORMAT
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **flow_def,
        "title": "Aerostudio flow",
        "description": f"A *.flow.json file ({FORMAT}), as read by Aerostudio {__version__}.",
        "$defs": defs,
    }
