"""`aerostudio validate`, `schema`, `new` and `--version`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine import __version__
from engine.cli import main
from engine.flow import load, save
from tests.flow.builders import chain, edge, end, flow, node, trigger


@pytest.fixture
def broken_flow(tmp_path):
    path = tmp_path / "broken.flow.json"
    nodes = [trigger(), node("check", "logic", {"mode": "if"}), end("done", "{{ vars.x }}")]
    save(flow(nodes, [edge("start", "check"), edge("check", "done", "true")]), path)
    return path


def test_validate_prints_one_line_per_issue_and_fails(broken_flow, capsys):
    assert main(["validate", str(broken_flow)]) == 1
    out, err = capsys.readouterr()
    assert f"{broken_flow}: check: error config.invalid: an if needs a 'condition'" in out
    assert f"{broken_flow}: done.end.output: warning expr.var_unset:" in out
    assert "1 file: 1 error, 1 warning" in err


def test_validate_json_lists_issue_records_with_their_file(broken_flow, capsys):
    assert main(["validate", "--json", str(broken_flow)]) == 1
    records = json.loads(capsys.readouterr().out)
    assert {r["code"] for r in records} == {"config.invalid", "expr.var_unset"}
    assert all(r["file"] == str(broken_flow) for r in records)
    assert set(records[0]) == {"file", "severity", "code", "message", "node_id", "field", "edge_id"}


def test_validate_succeeds_on_warnings_only(tmp_path, capsys):
    path = tmp_path / "ok.flow.json"
    save(chain(trigger(), end("done", "{{ vars.x }}")), path)
    assert main(["validate", str(path)]) == 0


def test_validate_reports_unreadable_files_as_load_errors(tmp_path, capsys):
    path = tmp_path / "bad.flow.json"
    path.write_text("{not json")
    assert main(["validate", "--json", str(path)]) == 1
    (record,) = json.loads(capsys.readouterr().out)
    assert record["code"] == "flow.load"
    assert record["field"] == "line 1 column 2"


def test_schema_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema")


def test_new_writes_a_valid_starter_flow(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "Support triage", "--template", "chat"]) == 0
    flow = load(tmp_path / "support-triage.flow.json")
    assert (flow.id, flow.name) == ("support-triage", "Support triage")
    assert main(["validate", "support-triage.flow.json"]) == 0


def test_new_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "Twice"]) == 0
    assert main(["new", "Twice"]) == 1
    assert "twice.flow.json already exists (hint:" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["new", "x", "--template", "nonsense"])
    assert caught.value.code == 2


def test_console_script_reports_its_version():
    result = subprocess.run(
        [sys.executable, "-m", "engine", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"aerostudio {__version__}"
