"""Property tests: load raises nothing but FlowLoadError, and validation never crashes."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.flow import FlowLoadError, dumps, from_document, loads, to_document, validate
from engine.flow.templates import TEMPLATES, new_flow
from engine.nodes import NODE_SPECS
from engine.paths import examples_dir

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _seed_documents() -> list[dict]:
    documents = [to_document(new_flow("Seed", name)) for name in TEMPLATES]
    documents += [json.loads(p.read_text()) for p in sorted(examples_dir().glob("*.flow.json"))]
    return documents


SEEDS = _seed_documents()
interesting = (
    json_values
    | st.sampled_from(sorted(NODE_SPECS))
    | st.sampled_from(["{{ nodes.x }}", "{{ vars.y", "input.a +", "{{ input }}", "out", "body"])
)


def _check_round_trip(document: object) -> None:
    """Load, validate and save; the only allowed failure is the documented load error."""
    try:
        flow = from_document(document)
    except FlowLoadError:
        return
    validate(flow)
    text = dumps(flow)
    assert dumps(loads(text)) == text


@given(json_values)
def test_random_json_only_raises_load_errors(value):
    _check_round_trip(value)


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_load_errors(data):
    with contextlib.suppress(FlowLoadError):
        loads(data)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(document, path, action, replacement):
    doc = json.loads(json.dumps(document))
    if not path:
        return replacement
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(json.loads(json.dumps(parent[last])))
    else:
        parent[last] = replacement
    return doc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_flows_only_raise_load_errors(data):
    document = data.draw(st.sampled_from(SEEDS))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(document))))
        action = data.draw(st.sampled_from(["delete", "replace", "duplicate"]))
        document = _mutate(document, path, action, data.draw(interesting))
    _check_round_trip(document)
