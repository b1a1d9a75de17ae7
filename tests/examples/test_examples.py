"""The bundled example flows: valid against the demo servers' tools, canonical, tidy, complete."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.flow import Flow, dumps, from_document, load, save, validate
from engine.nodes import NODE_SPECS, get_spec
from engine.paths import examples_dir
from tests.examples.demo_servers import tool_catalog

EXAMPLES = sorted(examples_dir().glob("*.flow.json"))
NODE_WIDTH, HEADER, HANDLE_ROW = 200, 46, 20  # the studio canvas's node box (studio/canvas)


def example_id(path: Path) -> str:
    return path.name.removesuffix(".flow.json")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Tool name -> input schema, listed over stdio from the three demo servers."""
    return tool_catalog(tmp_path_factory.mktemp("demo") / "demo.sqlite")


def test_there_are_at_least_six_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_validates_without_issues_against_the_demo_tools(
    path: Path, catalog: dict[str, dict[str, Any]]
) -> None:
    flow = load(path)
    assert validate(flow) == []
    assert validate(flow, tools=catalog) == []


def test_the_demo_tool_catalog_is_checked(catalog: dict[str, dict[str, Any]]) -> None:
    assert {name.split("__")[0] for name in catalog} == {"tickets", "errors", "orders"}
    flow = load(examples_dir() / "incident-triage.flow.json")
    broken = flow.model_copy(
        update={
            "nodes": [
                n.model_copy(update={"config": {**n.config, "arguments": {"since_minutes": "x"}}})
                if n.id == "errors"
                else n
                for n in flow.nodes
            ]
        }
    )
    codes = {(i.code, i.node_id) for i in validate(broken, tools=catalog)}
    assert codes == {("tool.bad_arguments", "errors")}


def test_examples_together_use_all_nineteen_node_types() -> None:
    used = {node.type for path in EXAMPLES for node in load(path).nodes}
    assert used == set(NODE_SPECS)
    assert len(used) == 19


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_is_saved_in_canonical_form(path: Path, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert dumps(load(path)) == text
    save(load(path), tmp_path / path.name)
    assert (tmp_path / path.name).read_text(encoding="utf-8") == text
    assert load(tmp_path / path.name) == load(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_saves_the_same_whatever_the_key_order(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    reversed_keys = json.loads(text, object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    assert dumps(from_document(reversed_keys)) == text


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_runs_offline_on_the_demo_model_in_the_demo_workspace(path: Path) -> None:
    flow = load(path)
    assert flow.id == example_id(path)
    assert flow.workspace == "demo"
    assert flow.settings.llm is not None
    assert (flow.settings.llm.provider, flow.settings.llm.model) == ("demo", "demo-1")
    assert len(flow.description) > 40 and flow.name
    assert all(node.label for node in flow.nodes)
    llm_nodes = [n for n in flow.nodes if n.type in {"llm_call", "agent_loop"}]
    assert all(not n.config.get("provider") for n in llm_nodes)
    if llm_nodes:
        assert flow.settings.llm.demo_rules


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_holds_secret_references_not_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(ghp_|sk-|xox[bp]-|whsec_)\w+", text)
    references = [ref for node in load(path).nodes for ref in _secret_references(node.config)]
    if path.name in {"github-router.flow.json", "incident-triage.flow.json"}:
        assert references
    for reference in references:
        assert isinstance(reference, dict) and list(reference) == ["secret"]
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", reference["secret"])


def _secret_references(value: Any) -> list[Any]:
    """Every value stored under a `secret` key: each must be a `{"secret": NAME}` reference."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += [item] if key == "secret" else _secret_references(item)
        return found
    if isinstance(value, list):
        return [ref for item in value for ref in _secret_references(item)]
    return []


def _boxes(flow: Flow) -> list[tuple[str, float, float, float, float]]:
    boxes = []
    for node in flow.nodes:
        handles = len(get_spec(node.type).output_handles(node.config))
        height = HEADER + max(1, handles) * HANDLE_ROW + 6
        x, y = node.position
        boxes.append((node.id, x, y, x + NODE_WIDTH, y + height))
    for note in flow.notes:
        x, y = note.position
        boxes.append((note.id, x, y, x + note.size[0], y + note.size[1]))
    return boxes


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_example_layout_is_a_tidy_left_to_right_grid(path: Path) -> None:
    flow = load(path)
    for node in flow.nodes:
        assert node.position[0] % 260 == 0 and node.position[1] % 140 == 0, node.id
    for edge in flow.edges:
        source, target = flow.node(edge.source), flow.node(edge.target)
        assert source.position[0] < target.position[0], edge.id
    boxes = _boxes(flow)
    for index, (a, ax1, ay1, ax2, ay2) in enumerate(boxes):
        for b, bx1, by1, bx2, by2 in boxes[index + 1 :]:
            assert ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1, f"{a} overlaps {b}"
