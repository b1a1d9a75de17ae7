"""The example flows: valid, canonical, and together a tour of all 19 node types."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.flow import dumps, load, to_document, validate
from engine.flow.schema import flow_schema
from engine.nodes import NODE_SPECS
from engine.paths import examples_dir

EXAMPLES = sorted(examples_dir().glob("*.flow.json"))


def test_there_are_at_least_six_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_without_errors_or_warnings(path: Path):
    assert validate(load(path)) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_saved_in_canonical_form(path: Path):
    assert dumps(load(path)) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_fits_the_json_schema(path: Path):
    validator = Draft202012Validator(flow_schema())
    assert [e.message for e in validator.iter_errors(to_document(load(path)))] == []


def test_examples_use_all_19_node_types():
    used = {node.type for path in EXAMPLES for node in load(path).nodes}
    assert used == set(NODE_SPECS)


def test_examples_keep_secrets_as_references():
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        assert "Bearer " not in text
        assert "sk-" not in text
