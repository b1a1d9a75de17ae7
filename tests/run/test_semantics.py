"""The execution model of docs/flows.md §3, run by the interpreter."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.run import EXECUTORS, FlowInvalid, Outcome, Runtime, Services
from tests.flow.builders import chain, edge, end, flow, node, set_vars, trigger

pytestmark = pytest.mark.anyio

IF = {"mode": "if", "condition": "input.n > 1"}


def _types(handle, event_type):
    return [e for e in handle.events.history if e["type"] == event_type]


def _ran(handle):
    return [e["node_id"] for e in _types(handle, "node_finished")]


@pytest.fixture
def probe(monkeypatch):
    """A `function_call` executor for the tests: sleeps `input.sleep` s, records what it ran."""
    calls: list[str] = []

    async def run(ctx, config):
        value = ctx.render(config.input)
        calls.append(ctx.key)
        await asyncio.sleep(value.get("sleep", 0))
        if value.get("fail_times", 0) > ctx.attempt - 1:
            raise RuntimeError(f"boom on attempt {ctx.attempt}")
        return Outcome("out", value.get("result"))

    monkeypatch.setitem(EXECUTORS, "function_call", run)
    return calls


def probe_node(node_id, **input_):
    return node(node_id, "function_call", {"function": "probe", "input": input_})


async def test_join_after_if_else_runs_once():
    nodes = [
        trigger(),
        node("check", "logic", IF),
        set_vars("yes", r="big"),
        set_vars("no", r="small"),
        end("join", "{{ vars.r }}"),
    ]
    edges = [
        edge("start", "check"),
        edge("check", "yes", "true"),
        edge("check", "no", "false"),
        edge("yes", "join"),
        edge("no", "join"),
    ]
    handle = Runtime().start(flow(nodes, edges), {"n": 5})
    result = await handle.result()
    assert result.output == "big"
    finished = [e for e in _types(handle, "node_finished") if e["node_id"] == "join"]
    assert [(e["handle"], e["output"]) for e in finished] == [("out", "big")]
    assert _types(handle, "node_finished")[-1]["node_id"] == "join"  # the run ends with it
    assert [e["node_id"] for e in _types(handle, "node_started")].count("join") == 1
    assert [e["node_id"] for e in _types(handle, "node_skipped")] == ["no"]


async def test_join_after_only_dead_branches_is_skipped():
    nodes = [
        trigger(),
        node("check", "logic", IF),
        set_vars("yes", r=1),
        set_vars("after", z=2),
        set_vars("other", q=3),
    ]
    edges = [
        edge("start", "check"),
        edge("check", "yes", "true"),
        edge("yes", "after"),
        edge("check", "other", "false"),
    ]
    handle = Runtime().start(flow(nodes, edges), {"n": 0})
    result = await handle.result()
    assert result.status == "succeeded"
    assert [e["node_id"] for e in _types(handle, "node_skipped")] == ["yes", "after"]
    assert result.output == {"q": 3}


async def test_loop_results_keep_item_order_with_concurrency(probe):
    nodes = [
        trigger(),
        node("each", "loop", {"items": "input.delays", "concurrency": 3}),
        probe_node("work", sleep="{{ vars.item }}", result="{{ vars.index }}"),
    ]
    edges = [edge("start", "each"), edge("each", "work", "body")]
    handle = Runtime().start(flow(nodes, edges), {"delays": [0.03, 0.0, 0.01]})
    result = await handle.result()
    assert result.output == {"results": [0, 1, 2], "count": 3}
    assert probe == ["each[0]/work", "each[1]/work", "each[2]/work"]
    finished = [e["key"] for e in _types(handle, "node_finished") if e["node_id"] == "work"]
    assert finished[0] == "each[1]/work"  # they really ran at once


async def test_loop_over_its_cap_fails_naming_the_limit():
    nodes = [
        trigger(),
        node("each", "loop", {"items": "input.rows", "max_iterations": 2}),
        set_vars("body", x="{{ vars.item }}"),
    ]
    handle = Runtime().start(
        flow(nodes, [edge("start", "each"), edge("each", "body", "body")]), {"rows": [1, 2, 3]}
    )
    result = await handle.result()
    assert result.status == "failed"
    assert "loop.max_iterations (2)" in result.error["message"]


async def test_parallel_any_cancels_the_other_branches(probe):
    nodes = [
        trigger(),
        node("fan", "parallel", {"branches": ["fast", "slow"], "wait": "any"}),
        probe_node("quick", sleep=0, result="fast wins"),
        probe_node("late", sleep=30),
        end("done", "{{ nodes.fan.results }}"),
    ]
    edges = [
        edge("start", "fan"),
        edge("fan", "quick", "fast"),
        edge("fan", "late", "slow"),
        edge("fan", "done", "done"),
    ]
    handle = Runtime().start(flow(nodes, edges), {})
    result = await asyncio.wait_for(handle.result(), 5)
    assert result.output == {"fast": "fast wins"}
    assert "late" not in _ran(handle)


async def test_parallel_all_collects_branch_errors(probe):
    nodes = [
        trigger(),
        node("fan", "parallel", {"branches": ["a", "b"]}),
        probe_node("ok", result=1),
        probe_node("bad", fail_times=5),
    ]
    edges = [edge("start", "fan"), edge("fan", "ok", "a"), edge("fan", "bad", "b")]
    result = await Runtime().start(flow(nodes, edges), {}).result()
    assert result.output["results"] == {"a": 1}
    assert "boom" in result.output["errors"]["b"]["message"]


async def test_retry_then_error_handle(probe):
    failing = {**probe_node("flaky", fail_times=5), "retry": {"max_attempts": 3, "backoff_s": 0}}
    nodes = [trigger(), failing, end("recover", "{{ error.message }} after {{ error.attempt }}")]
    handle = Runtime().start(
        flow(nodes, [edge("start", "flaky"), edge("flaky", "recover", "error")]), {}
    )
    result = await handle.result()
    assert result.output == "RuntimeError: boom on attempt 3 after 3"
    retries = [e["will_retry"] for e in _types(handle, "node_failed")]
    assert retries == [True, True, False]


async def test_retry_succeeds_without_taking_the_error_path(probe):
    flaky = {
        **probe_node("flaky", fail_times=1, result="ok"),
        "retry": {"max_attempts": 2, "backoff_s": 0},
    }
    nodes = [trigger(), flaky, end("recover", "failed")]
    result = (
        await Runtime()
        .start(flow(nodes, [edge("start", "flaky"), edge("flaky", "recover", "error")]), {})
        .result()
    )
    assert (result.status, result.output) == ("succeeded", "ok")


async def test_error_handler_covers_its_scope(probe):
    nodes = [
        trigger(),
        probe_node("risky", fail_times=1),
        node("handler", "error_handler", {"scope": ["risky"], "mark_run": "succeeded"}),
        set_vars("apology", said="sorry about {{ error.node_id }}"),
    ]
    edges = [edge("start", "risky"), edge("handler", "apology")]
    result = await Runtime().start(flow(nodes, edges), {}).result()
    assert result.status == "succeeded"
    assert result.output == {"said": "sorry about risky"}
    assert result.error["node_id"] == "risky"


async def test_failure_outside_the_handler_scope_fails_the_run(probe):
    nodes = [
        trigger(),
        probe_node("risky", fail_times=1),
        node("handler", "error_handler", {"scope": ["other"]}),
        set_vars("other", a=1),
    ]
    edges = [edge("start", "risky"), edge("start", "other")]
    result = await Runtime().start(flow(nodes, edges), {}).result()
    assert result.status == "failed"
    assert result.error["node_id"] == "risky"


async def test_max_node_runs_names_the_limit():
    nodes = [trigger(), set_vars("a", x=1), set_vars("b", y=2), set_vars("c", z=3)]
    result = (
        await Runtime()
        .start(
            chain(*nodes).model_copy(
                update={"settings": chain(*nodes).settings.model_copy(update={"max_node_runs": 2})}
            ),
            {},
        )
        .result()
    )
    assert result.status == "failed"
    assert result.error["message"] == "settings.max_node_runs (2) reached"


async def test_trigger_input_is_checked_against_its_schema():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    handle = Runtime().start(chain(trigger(input_schema=schema), end("done")), {"n": "five"})
    result = await handle.result()
    assert result.status == "failed"
    assert result.error["type"] == "invalid_input"
    assert "input.n" in result.error["message"]


async def test_invalid_flows_do_not_run():
    with pytest.raises(FlowInvalid, match=r"config\.invalid"):
        Runtime().start(chain(trigger(), node("x", "logic", {"mode": "if"})), {})


async def test_human_review_pauses_until_approved():
    nodes = [
        trigger(),
        node("review", "human_review", {"title": "Ship {{ input.v }}?"}),
        end("yes", "{{ nodes.review.comment }}"),
        end("no", "rejected"),
    ]
    edges = [
        edge("start", "review"),
        edge("review", "yes", "approved"),
        edge("review", "no", "rejected"),
    ]
    handle = Runtime().start(flow(nodes, edges), {"v": "1.2"})
    paused = await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    assert (paused["kind"], paused["prompt"]) == ("approval", "Ship 1.2?")
    handle.resume("approve", reviewer="ada", comment="go")
    assert (await handle.result()).output == "go"


async def test_human_review_takes_timeout_when_nobody_answers():
    nodes = [
        trigger(),
        node("review", "human_review", {"title": "Ship?", "timeout_s": 1}),
        end("late", "timed out"),
    ]
    edges = [edge("start", "review"), edge("review", "late", "timeout")]
    result = await Runtime().start(flow(nodes, edges), {}).result()
    assert result.output == "timed out"


async def test_schedule_message_sends_after_its_timer():
    nodes = [
        trigger(),
        node("later", "schedule_message", {"text": "hi {{ input.who }}", "delay_s": 0.05}),
    ]
    handle = Runtime().start(chain(*nodes), {"who": "ada"})
    result = await handle.result()
    (message,) = _types(handle, "message")
    assert message["text"] == "hi ada"
    assert result.output["message_id"] == message["message_id"]
    kinds = [e["kind"] for e in _types(handle, "run_paused")]
    assert kinds == ["timer"]


async def test_cancel_stops_a_paused_run():
    nodes = [trigger(), node("review", "human_review", {"title": "Wait"}), end("done")]
    handle = Runtime().start(
        chain(*nodes).model_copy(update={"edges": chain(*nodes).edges[:1]}), {}
    )
    await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    handle.cancel()
    assert (await handle.result()).status == "cancelled"
    assert handle.events.history[-1]["type"] == "run_finished"


async def test_a_process_going_down_does_not_finish_its_runs():
    """Shutting down cancels every task at once (as asyncio.run does on exit): the run is left
    unfinished for its recovery, never recorded as cancelled."""
    nodes = [trigger(), node("review", "human_review", {"title": "Wait"}), end("done")]
    waiting = chain(*nodes).model_copy(update={"edges": chain(*nodes).edges[:1]})
    handle = Runtime().start(waiting, {})
    await handle.events.wait_for(lambda e: e["type"] == "run_paused")
    assert handle.runner is not None and handle.task is not None
    handle.task.cancel()  # the body's cancel lands first; the runner's follows
    with pytest.raises(asyncio.CancelledError):
        await handle.runner
    assert "run_finished" not in [e["type"] for e in handle.events.history]


async def test_run_timeout_names_the_limit():
    nodes = [trigger(), node("review", "human_review", {"title": "Wait"})]
    base = chain(*nodes)
    slow = base.model_copy(update={"settings": base.settings.model_copy(update={"timeout_s": 1})})
    result = await Runtime().start(slow, {}).result()
    assert result.status == "failed"
    assert result.error["message"] == "settings.timeout_s (1) reached"


class _Recorder(BaseHTTPRequestHandler):
    hits: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).hits.append(
            {"auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        payload = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()


class _Vault:
    async def get_secret(self, workspace: str, name: str) -> str:
        return {"HOOK_TOKEN": "s3cr3t-value"}[name]


async def test_http_request_sends_the_secret_but_never_shows_it(recorder):
    url, hits = recorder
    request = {
        "action": "http_request",
        "http_request": {
            "method": "POST",
            "url": url + "/hook",
            "body": {"n": "{{ input.n }}"},
            "auth": {"scheme": "bearer", "secret": {"secret": "HOOK_TOKEN"}},
        },
    }
    handle = Runtime(Services(secrets=_Vault())).start(
        chain(trigger(), node("call", "action", request)), {"n": 3}
    )
    result = await handle.result()
    assert hits == [{"auth": "Bearer s3cr3t-value", "body": {"n": 3}}]
    assert result.output["json"] == {"ok": True}
    assert "s3cr3t-value" not in json.dumps(handle.events.history, default=str)


async def test_switch_takes_the_first_matching_case_else_default():
    switch = {
        "mode": "switch",
        "value": "input.kind",
        "cases": [{"handle": "bug", "equals": "bug"}, {"handle": "big", "when": "input.size > 10"}],
    }
    nodes = [
        trigger(),
        node("route", "logic", switch),
        end("b", "bug"),
        end("g", "big"),
        end("d", "other"),
    ]
    edges = [
        edge("start", "route"),
        edge("route", "b", "bug"),
        edge("route", "g", "big"),
        edge("route", "d", "default"),
    ]
    runnable = flow(nodes, edges)
    outputs = [
        (await Runtime().start(runnable, payload).result()).output
        for payload in (
            {"kind": "bug", "size": 50},
            {"kind": "x", "size": 50},
            {"kind": "x", "size": 1},
        )
    ]
    assert outputs == ["bug", "big", "other"]


async def test_independent_nodes_run_at_once_up_to_max_concurrency(monkeypatch):
    running, peak = 0, 0

    async def tracked(ctx, config):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return Outcome("out", ctx.node.id)

    monkeypatch.setitem(EXECUTORS, "function_call", tracked)
    workers = [probe_node(f"w{i}") for i in range(5)]
    parallel_flow = flow(
        [trigger(), *workers],
        [edge("start", f"w{i}") for i in range(5)],
        settings={"max_concurrency": 2},
    )
    handle = Runtime().start(parallel_flow, {})
    result = await handle.result()
    assert peak == 2
    assert result.output == {f"w{i}": f"w{i}" for i in range(5)}
    started = [e["node_id"] for e in _types(handle, "node_started")]
    assert started[:2] == ["start", "w0"]


async def test_a_run_starts_at_the_chosen_trigger_only():
    nodes = [
        trigger("by_hand"),
        trigger("by_chat", kind="message"),
        end("hand", "manual"),
        end("chat", "message"),
    ]
    edges = [edge("by_hand", "hand"), edge("by_chat", "chat")]
    runnable = flow(nodes, edges)
    first = await Runtime().start(runnable, {}).result()
    chosen = Runtime().start(runnable, {"text": "hi"}, trigger="by_chat")
    assert (first.output, (await chosen.result()).output) == ("manual", "message")
    assert "by_hand" not in [e.get("node_id") for e in chosen.events.history]
    with pytest.raises(ValueError, match="'hand' is not a trigger"):
        Runtime().start(runnable, {}, trigger="hand")
