"""Loading with clear errors, migration, and deterministic saving (docs/flows.md §1)."""

from __future__ import annotations

import json
import random

import pytest

from engine.flow import FlowLoadError, dumps, from_document, load, loads, save
from engine.flow import io as flow_io
from engine.flow.templates import TEMPLATES, new_flow
from tests.flow.builders import document, edge, end, node, trigger


def _reordered(value, rng: random.Random):
    """The same JSON with every object's keys in a shuffled order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _reordered(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [_reordered(v, rng) for v in value]
    return value


def _sample() -> dict:
    return document(
        [
            trigger(
                input_schema={
                    "type": "object",
                    "required": ["q"],
                    "properties": {"q": {"type": "string"}},
                }
            ),
            node(
                "ask",
                "llm_call",
                {"prompt": "{{ input.q }}", "max_tokens": 200, "output_schema": {"type": "object"}},
                retry={"max_attempts": 2, "backoff_s": 1.5},
                timeout_s=60,
                position=[260, 0.5],
            ),
            end("done", {"answer": "{{ nodes.ask.text }}", "tags": ["a", "b"]}),
        ],
        [edge("start", "ask"), edge("ask", "done")],
        settings={"llm": {"provider": "demo", "model": "demo-1"}, "max_concurrency": 4},
        notes=[{"id": "n1", "text": "Remember", "position": [0, 200], "size": [220, 80]}],
    )


def test_save_is_independent_of_key_and_item_order():
    original = _sample()
    expected = dumps(from_document(original))
    for seed in range(20):
        rng = random.Random(seed)
        shuffled = _reordered(original, rng)
        rng.shuffle(shuffled["nodes"])
        rng.shuffle(shuffled["edges"])
        assert dumps(from_document(shuffled)) == expected


def test_load_save_load_gives_identical_bytes(tmp_path):
    path = tmp_path / "sample.flow.json"
    path.write_text(json.dumps(_sample()))
    save(load(path), path)
    first = path.read_bytes()
    save(load(path), path)
    assert path.read_bytes() == first


def test_saved_file_is_canonical_json():
    text = dumps(from_document(_sample()))
    doc = json.loads(text)
    assert list(doc) == ["format", "id", "name", "settings", "nodes", "edges", "notes"]
    assert [n["id"] for n in doc["nodes"]] == ["ask", "done", "start"]
    assert list(doc["nodes"][0]) == ["id", "type", "position", "config", "retry", "timeout_s"]
    assert list(doc["nodes"][0]["config"]) == ["prompt", "max_tokens", "output_schema"]
    assert '"position": [260, 0.5]' in text
    assert doc["settings"] == {"llm": {"provider": "demo", "model": "demo-1"}, "max_concurrency": 4}
    assert text.endswith("}\n")


def test_defaults_are_not_written_back():
    doc = _sample()
    doc["settings"]["max_node_runs"] = 1000
    assert "max_node_runs" not in dumps(from_document(doc))


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_templates_round_trip(template):
    flow = new_flow("Demo flow", template)
    assert dumps(loads(dumps(flow))) == dumps(flow)


def test_load_error_names_file_path_and_problem(tmp_path):
    doc = _sample()
    doc["nodes"][1]["id"] = "Not An Id"
    path = tmp_path / "broken.flow.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FlowLoadError) as caught:
        load(path)
    message = str(caught.value)
    assert str(path) in message
    assert "$.nodes[1].id" in message
    assert "pattern" in message


def test_invalid_json_reports_line_and_column(tmp_path):
    path = tmp_path / "bad.flow.json"
    path.write_text('{\n  "format": "aerostudio.flow/1",\n  "id": x\n}')
    with pytest.raises(FlowLoadError, match=r"bad\.flow\.json: line 3 column 9: invalid JSON"):
        load(path)


def test_missing_file_is_a_load_error(tmp_path):
    with pytest.raises(FlowLoadError, match="cannot read the file"):
        load(tmp_path / "nope.flow.json")


def test_not_a_flow_is_refused():
    with pytest.raises(FlowLoadError, match=r"\$\.format: expected 'aerostudio\.flow/1'"):
        loads('{"id": "x", "name": "X"}')


def test_nan_is_not_json():
    with pytest.raises(FlowLoadError, match="NaN is not a JSON number"):
        loads(
            '{"format": "aerostudio.flow/1", "id": "x", "name": "X", "settings": '
            '{"timeout_s": NaN}}'
        )


def test_newer_format_is_refused_with_a_clear_message():
    doc = _sample()
    doc["format"] = "aerostudio.flow/7"
    with pytest.raises(FlowLoadError, match="saved by a newer Aerostudio"):
        from_document(doc)


def test_older_formats_are_migrated_step_by_step(monkeypatch):
    def rename_nodes(doc: dict) -> dict:
        doc["nodes"] = doc.pop("steps")
        return doc

    monkeypatch.setattr(flow_io, "MIGRATIONS", {0: rename_nodes})
    old = _sample()
    old["format"] = "aerostudio.flow/0"
    old["steps"] = old.pop("nodes")
    flow = from_document(old)
    assert flow.format == "aerostudio.flow/1"
    assert {n.id for n in flow.nodes} == {"start", "ask", "done"}


def test_format_without_migration_is_refused():
    doc = _sample()
    doc["format"] = "aerostudio.flow/0"
    with pytest.raises(FlowLoadError, match=r"no migration from aerostudio\.flow/0"):
        from_document(doc)


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.flow.json"
    save(from_document(_sample()), path)
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(flow_io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save(new_flow("Other"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.flow.json"]


def test_config_is_kept_raw_so_mistakes_still_open():
    doc = document([trigger(), node("x", "logic", {"mode": "sideways"})], [edge("start", "x")])
    flow = from_document(doc)
    assert flow.node("x").config == {"mode": "sideways"}


def test_node_lookup_follows_edits_of_the_nodes():
    flow = from_document(_sample())
    assert flow.node("ask") is not None
    renamed = flow.model_copy(
        update={
            "nodes": tuple(
                n.model_copy(update={"id": "asked"}) if n.id == "ask" else n for n in flow.nodes
            )
        }
    )
    assert renamed.node("ask") is None
    assert renamed.node("asked").type == "llm_call"
    assert flow.node("ask") is not None


def test_infinite_numbers_are_refused_where_they_are():
    doc = _sample()
    doc["nodes"][1]["config"]["temperature"] = float("inf")
    with pytest.raises(FlowLoadError, match=r"\$\.nodes\[1\]\.config\.temperature: NaN"):
        from_document(doc)


def test_numbers_too_large_for_a_float_are_refused_where_they_are():
    text = json.dumps(_sample()).replace('"timeout_s": 60', '"timeout_s": 1e999')
    assert "1e999" in text
    with pytest.raises(FlowLoadError, match=r"\$\.nodes\[1\]\.timeout_s: NaN"):
        loads(text)
