"""The JSON Schema of the format, and the 19 node specs it is generated from."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from engine.flow import to_document
from engine.flow.schema import flow_schema
from engine.flow.templates import TEMPLATES, new_flow
from engine.nodes import NODE_SPECS, Category
from engine.nodes.spec import walk_fields

FLOWS_MD_TYPES = {
    "trigger",
    "llm_call",
    "mcp_tool",
    "logic",
    "loop",
    "parallel",
    "code_block",
    "send_message",
    "action",
    "auth_gate",
    "schedule_message",
    "send_proactive",
    "delegate_to_bot",
    "error_handler",
    "agent_loop",
    "confidence_router",
    "guardrail",
    "function_call",
    "human_review",
}


def test_the_registry_has_the_19_types_of_flows_md():
    assert set(NODE_SPECS) == FLOWS_MD_TYPES


@pytest.mark.parametrize("spec", NODE_SPECS.values(), ids=list(NODE_SPECS))
def test_every_spec_is_complete(spec):
    assert spec.title and spec.description and spec.icon
    assert isinstance(spec.category, Category)
    for path, info in walk_fields(spec.config_model):
        assert info.description, f"{spec.type}.{path} has no description"


def test_schema_is_valid_draft_2020_12():
    schema = flow_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Aerostudio flow"


def test_schema_ties_each_config_to_its_type():
    validator = Draft202012Validator(flow_schema())
    document = to_document(new_flow("Demo", "chat"))
    assert list(validator.iter_errors(document)) == []
    document["nodes"][0]["config"]["temperature"] = "hot"
    errors = list(validator.iter_errors(document))
    assert [e.json_path for e in errors] == ["$.nodes[0].config.temperature"]


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_templates_fit_the_schema(template):
    validator = Draft202012Validator(flow_schema())
    assert list(validator.iter_errors(to_document(new_flow("Demo", template)))) == []


def test_dynamic_handles_come_from_the_config():
    logic = NODE_SPECS["logic"]
    assert logic.output_handles({"mode": "if"}) == ["true", "false"]
    switch = {"mode": "switch", "cases": [{"handle": "refund"}, {"handle": "other"}]}
    assert logic.output_handles(switch) == ["refund", "other", "default"]
    parallel = NODE_SPECS["parallel"]
    assert parallel.output_handles({"branches": ["a", "b"]}) == ["a", "b", "done"]
    assert parallel.scope_handles({"branches": ["a", "b"]}) == ["a", "b"]
    router = NODE_SPECS["confidence_router"]
    assert router.output_handles({"routes": [{"name": "bug"}]}) == ["bug", "low_confidence"]


def test_handles_of_malformed_configs_are_still_listable():
    assert NODE_SPECS["parallel"].output_handles({"branches": "nope"}) == ["done"]
    assert NODE_SPECS["logic"].output_handles({"mode": "switch", "cases": [3, {}]}) == ["default"]


def test_side_effects_follow_the_config():
    action = NODE_SPECS["action"]
    assert action.has_side_effect({"action": "http_request"})
    assert not action.has_side_effect({"action": "set_variables"})
    assert NODE_SPECS["llm_call"].has_side_effect({})
    assert not NODE_SPECS["confidence_router"].has_side_effect({"method": "keywords"})
