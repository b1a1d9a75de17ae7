"""Every bundled example runs to its end with `aerostudio run`, offline: the demo model, the demo
MCP servers over stdio, the demo workspace's function, the desktop mail outbox. Pauses are
answered on standard input the way a person at the terminal would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.paths import examples_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _code_from_outbox(home: Path) -> str:
    mails = sorted((home / "outbox").glob("*.eml"))
    assert mails, "no mail in the outbox"
    found = re.search(r"Your code is (\d+)", mails[-1].read_text(encoding="utf-8"))
    assert found, mails[-1].read_text(encoding="utf-8")
    return found.group(1)


def run_example(home: Path, name: str, payload: Any, approve: bool = True) -> list[dict[str, Any]]:
    """Run an example in a new process, answering its pauses; its events, ending in
    `run_finished`."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "engine", "run", str(examples_dir() / f"{name}.flow.json")),
            *("--input", json.dumps(payload), "--json"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    events = []
    try:
        for line in process.stdout:
            event = json.loads(line)
            events.append(event)
            if event["type"] == "run_paused":
                answer = {
                    "auth": lambda: _code_from_outbox(home),
                    "approval": lambda: "y" if approve else "n",
                    "timer": lambda: "",
                }[event["kind"]]()
                process.stdin.write(answer + "\n")
                process.stdin.flush()
        process.wait(timeout=60)
    finally:
        process.kill()
        stderr = process.stderr.read() if process.stderr else ""
    assert events and events[-1]["type"] == "run_finished", stderr
    return events


def finished(events: list[dict[str, Any]]) -> dict[str, Any]:
    return events[-1]


def outputs(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["node_id"]: e["output"] for e in events if e["type"] == "node_finished"}


def messages(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "message"]


def test_every_example_has_a_scenario_here() -> None:
    scenarios = {
        "daily-digest",
        "delegation",
        "github-router",
        "incident-triage",
        "research-agent",
        "support-triage",
    }
    assert {p.name.removesuffix(".flow.json") for p in examples_dir().glob("*.flow.json")} == (
        scenarios
    )


def test_daily_digest_posts_the_digest_then_the_reminder(home: Path) -> None:
    events = run_example(home, "daily-digest", {"window_hours": 24})
    assert finished(events)["status"] == "succeeded"
    digest, reminder = messages(events)
    assert digest["text"].startswith("*Error digest*")
    assert "Checkout:" in digest["text"]
    assert reminder["text"].startswith("Reminder:")
    summaries = [e for e in events if e["type"] == "node_finished" and e["node_id"] == "summarize"]
    assert len(summaries) >= 3  # one per service in the loop


def test_delegation_relays_the_research_agents_answer(home: Path) -> None:
    events = run_example(
        home, "delegation", {"text": "Which service has the most errors?", "user_name": "Ana"}
    )
    end = finished(events)
    assert end["status"] == "succeeded", end
    assert end["output"] == {
        "answer": "Checkout has the most errors this week.",
        "question": "Which service has the most errors?",
    }
    assert messages(events)[0]["text"].startswith("Ana, here is what I found: Checkout")


def test_github_router_leaves_an_unclear_issue_for_triage(home: Path) -> None:
    issue = {"number": 7, "title": "Question about the docs", "body": "How do I start?"}
    events = run_example(
        home, "github-router", {"issue": issue, "repository": {"full_name": "a/b"}}
    )
    end = finished(events)
    assert end["status"] == "succeeded"
    assert end["output"]["needs_triage"] is True
    assert end["output"]["issue"] == 7


def test_github_router_labels_a_bug_and_fails_cleanly_without_the_hook_token(home: Path) -> None:
    issue = {"number": 12, "title": "Crash on save", "body": "It fails with an exception"}
    payload = {"issue": issue, "repository": {"full_name": "acme/app"}}
    events = run_example(home, "github-router", payload)
    assert outputs(events)["label"] == {
        "repository": "acme/app",
        "number": 12,
        "labels": ["bug", "needs-repro"],
    }
    end = finished(events)
    # Offline there is no vault holding BUG_HOOK_TOKEN: the flow's own failure path ends the run.
    assert end["status"] == "failed"
    assert end["output"]["issue"] == 12
    assert "BUG_HOOK_TOKEN" in end["output"]["error"]


def test_incident_triage_files_a_ticket_and_pages_on_call(home: Path) -> None:
    events = run_example(home, "incident-triage", {"service": "checkout", "summary": "5xx spike"})
    end = finished(events)
    assert end["status"] == "succeeded", end
    assert end["output"]["escalated"] is True
    page = messages(events)[0]
    assert (page["platform"], page["to"]) == ("slack", "#incidents")
    assert end["output"]["paged"] == page["message_id"]
    assert outputs(events)["file"]["structured"]["id"] >= 1004


def test_research_agent_answers_with_the_tools(home: Path) -> None:
    events = run_example(home, "research-agent", {"question": "Which service errs most?"})
    end = finished(events)
    assert end["status"] == "succeeded", end
    assert end["output"]["answer"] == "Checkout has the most errors this week."
    calls = [e["tool"] for e in events if e["type"] == "tool_call"]
    assert "errors__error_stats" in calls


def test_support_triage_verifies_by_email_then_answers_the_status(home: Path) -> None:
    payload = {"text": "Where is my order A-1002?", "user_id": "u1", "user_name": "Ben"}
    events = run_example(home, "support-triage", payload)
    end = finished(events)
    assert end["status"] == "succeeded", end
    assert outputs(events)["verify"]["verified"] is True
    (reply,) = messages(events)
    assert "order A-1002 is" in reply["text"]


def test_support_triage_refunds_after_a_review(home: Path) -> None:
    payload = {"text": "I want a refund for order A-1003", "user_id": "u2", "user_name": "Cy"}
    events = run_example(home, "support-triage", payload)
    end = finished(events)
    assert end["status"] == "succeeded", end
    kinds = [e["kind"] for e in events if e["type"] == "run_paused"]
    assert kinds == ["auth", "approval"]
    assert outputs(events)["refund"]["is_error"] is False
    assert messages(events)[-1]["text"].startswith("Done:")
