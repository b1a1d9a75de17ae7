"""The run reducer: a recorded event stream becomes per-node states, edges and durations."""

from __future__ import annotations

from studio.run_state import RunState
from tests.flow.builders import edge, end, flow, node, set_vars, trigger

REVIEW = flow(
    [
        trigger(),
        set_vars("a", greeting="hello {{ input.name }}"),
        node("review", "human_review", {"title": "Ship {{ input.name }}?"}),
        end("yes", "shipped"),
        end("no", "kept"),
    ],
    [
        edge("start", "a"),
        edge("a", "review"),
        edge("review", "yes", "approved"),
        edge("review", "no", "rejected"),
    ],
)


def _events(*rows):
    return [{"run_id": "r1", "seq": seq, **row} for seq, row in enumerate(rows, 1)]


# Recorded from a runtime: a breakpoint before `a`, continue, then the review approved.
RECORDED = _events(
    {"type": "run_started", "ts": 100.0, "flow_id": "test", "trigger": "start"},
    {"type": "node_started", "ts": 100.0, "node_id": "start", "key": "start", "attempt": 1},
    {"type": "node_finished", "ts": 100.08, "node_id": "start", "key": "start", "handle": "out",
     "output": {"name": "ada"}, "duration_ms": 77.9},
    {"type": "run_paused", "ts": 100.1, "node_id": "a", "kind": "breakpoint",
     "prompt": "paused before a"},
    {"type": "run_resumed", "ts": 101.0, "node_id": "a", "kind": "breakpoint"},
    {"type": "node_started", "ts": 101.0, "node_id": "a", "key": "a", "attempt": 1},
    {"type": "node_finished", "ts": 101.003, "node_id": "a", "key": "a", "handle": "out",
     "output": {"greeting": "hello ada"}, "duration_ms": 2.9},
    {"type": "node_started", "ts": 101.01, "node_id": "review", "key": "review", "attempt": 1},
    {"type": "run_paused", "ts": 101.02, "node_id": "review", "kind": "approval",
     "prompt": "Ship ada?"},
    {"type": "run_resumed", "ts": 102.0, "node_id": "review", "kind": "approval"},
    {"type": "node_finished", "ts": 102.04, "node_id": "review", "key": "review",
     "handle": "approved", "output": {"decision": "approved"}, "duration_ms": 1038.5},
    {"type": "node_skipped", "ts": 102.05, "node_id": "no", "key": "no"},
    {"type": "node_started", "ts": 102.05, "node_id": "yes", "key": "yes", "attempt": 1},
    {"type": "run_finished", "ts": 102.06, "status": "succeeded", "output": "shipped",
     "error": None, "usage": {}},
)  # fmt: skip


def test_a_finished_run_has_every_node_state_and_duration():
    state = RunState.from_events(RECORDED, REVIEW)
    assert state.status == "succeeded" and state.output == "shipped"
    assert state.node_statuses() == {
        "start": "succeeded",
        "a": "succeeded",
        "review": "succeeded",
        "yes": "succeeded",  # an end node finishes the run without node_finished
        "no": "skipped",
    }
    assert state.latest("review").duration_ms == 1038.5
    assert round(state.latest("yes").elapsed_ms(), 3) == 10.0
    assert state.latest("a").output == {"greeting": "hello ada"}


def test_taken_edges_follow_handles_and_the_others_are_dead():
    state = RunState.from_events(RECORDED, REVIEW)
    assert state.edge_states() == {
        "start-out-a": "taken",
        "a-out-review": "taken",
        "review-approved-yes": "taken",
        "review-rejected-no": "dead",
    }


def test_a_breakpoint_pauses_before_its_node_with_the_upstream_done():
    state = RunState.from_events(RECORDED[:4], REVIEW)
    assert state.status == "paused"
    assert state.node_statuses() == {"start": "succeeded", "a": "paused"}
    assert state.pauses["a"].kind == "breakpoint"
    assert state.edge_states() == {"start-out-a": "taken"}


def test_a_node_waiting_for_review_is_paused_and_its_successor_unsettled():
    state = RunState.from_events(RECORDED[:9], REVIEW)
    assert state.node_status("review") == "paused"
    assert state.pauses["review"].prompt == "Ship ada?"
    assert "review-approved-yes" not in state.edge_states()
    resumed = RunState.from_events(RECORDED[:10], REVIEW)
    assert resumed.node_status("review") == "running" and resumed.status == "running"


def test_queued_nodes_are_the_targets_of_taken_edges_not_started_yet():
    state = RunState.from_events(RECORDED[:7], REVIEW)
    assert state.node_status("review") == "queued"
    assert state.node_status("yes") is None


def test_repeated_events_after_a_reconnect_are_ignored():
    state = RunState.from_events(RECORDED[:6], REVIEW)
    assert not state.apply(RECORDED[2])
    for event in RECORDED[3:]:
        state.apply(event)
    assert state.last_seq == len(RECORDED) and state.finished


def test_streamed_text_tool_calls_and_failures_are_kept_per_execution():
    events = _events(
        {"type": "run_started", "ts": 1.0},
        {"type": "node_started", "ts": 1.0, "node_id": "ask", "key": "ask", "attempt": 1},
        {"type": "node_delta", "ts": 1.1, "node_id": "ask", "key": "ask", "text": "Hel"},
        {"type": "node_delta", "ts": 1.2, "node_id": "ask", "key": "ask", "text": "lo"},
        {"type": "tool_call", "ts": 1.3, "node_id": "ask", "key": "ask", "tool": "t__x",
         "arguments": {"q": 1}},
        {"type": "tool_result", "ts": 1.5, "node_id": "ask", "key": "ask", "tool": "t__x",
         "is_error": False},
        {"type": "node_failed", "ts": 1.6, "node_id": "ask", "key": "ask",
         "error": {"type": "Boom", "message": "boom"}, "will_retry": True},
    )  # fmt: skip
    state = RunState.from_events(events)
    ask = state.latest("ask")
    assert ask.text == "Hello" and ask.status == "retrying"
    assert ask.tool_calls == [
        {"tool": "t__x", "arguments": {"q": 1}, "at": 1.3, "is_error": False, "latency_ms": 200.0}
    ]
    details = ask.details()
    assert details["error"]["message"] == "boom" and details["streamed_text"] == "Hello"
    state.apply({"seq": 8, "type": "run_finished", "ts": 2.0, "status": "failed"})
    assert state.node_status("ask") == "cancelled"


def test_loop_iterations_are_separate_executions_of_one_node():
    events = _events(
        *[
            row
            for index in range(3)
            for row in (
                {"type": "node_started", "ts": 1.0 + index, "node_id": "sum",
                 "key": f"each[{index}]/sum", "attempt": 1},
                {"type": "node_finished", "ts": 1.5 + index, "node_id": "sum",
                 "key": f"each[{index}]/sum", "handle": "out", "output": index,
                 "duration_ms": 500.0},
            )
        ]
    )  # fmt: skip
    state = RunState.from_events(events)
    assert [e.key for e in state.executions_of("sum")] == [
        "each[0]/sum",
        "each[1]/sum",
        "each[2]/sum",
    ]
    assert state.latest("sum").output == 2
