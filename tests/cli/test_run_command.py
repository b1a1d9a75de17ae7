"""`aerostudio run`: events as they happen, the output, exit codes."""

from __future__ import annotations

import io
import json

import pytest

from engine.cli import main
from engine.flow import save
from engine.flow.templates import new_flow
from tests.flow.builders import chain, node, trigger


@pytest.fixture
def blank(tmp_path):
    path = tmp_path / "blank.flow.json"
    save(new_flow("Blank"), path)
    return path


def test_run_prints_events_and_output(blank, capsys):
    assert main(["run", str(blank), "--input", '{"hello": "world"}']) == 0
    out = capsys.readouterr().out
    assert "▶ run" in out
    assert "start → out" in out
    assert out.rstrip().endswith('{\n  "hello": "world"\n}')


def test_run_json_prints_one_event_per_line(blank, capsys, tmp_path):
    data = tmp_path / "input.json"
    data.write_text('{"n": 1}')
    assert main(["run", str(blank), "--input", f"@{data}", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["type"] == "run_started"
    assert events[-1] == {
        **events[-1],
        "type": "run_finished",
        "status": "succeeded",
        "output": {"n": 1},
    }
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_failed_runs_exit_1(tmp_path, capsys):
    path = tmp_path / "fail.flow.json"
    save(
        chain(
            trigger(),
            node("stop", "action", {"action": "end", "end": {"output": "no", "status": "failed"}}),
        ),
        path,
    )
    assert main(["run", str(path)]) == 1


def test_invalid_flows_are_refused_with_a_hint(tmp_path, capsys):
    path = tmp_path / "bad.flow.json"
    save(chain(trigger(), node("x", "logic", {"mode": "if"})), path)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "config.invalid" in err
    assert "aerostudio validate" in err


def test_reviews_are_answered_on_standard_input(tmp_path, capsys, monkeypatch):
    path = tmp_path / "review.flow.json"
    save(new_flow("Review", "approval"), path)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["run", str(path)]) == 0
    assert '"approved"' in capsys.readouterr().out


def test_a_pause_without_an_answer_stays_paused(tmp_path, capsys, monkeypatch):
    path = tmp_path / "review.flow.json"
    save(chain(trigger(), node("review", "human_review", {"title": "ok?"})), path)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["run", str(path)]) == 3
    err = capsys.readouterr().err
    assert "standard input has no answer; it stays paused" in err
    assert "aerostudio runs resume " in err


def test_bad_input_json_is_a_usage_error(blank, capsys):
    assert main(["run", str(blank), "--input", "{bad"]) == 2


def test_run_help_documents_the_paused_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "3 it is paused for an answer standard input cannot give" in text
