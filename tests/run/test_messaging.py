"""send_message, schedule_message, send_proactive and delegate_to_bot on the interpreter."""

from __future__ import annotations

import asyncio

import pytest

from engine.flow import Flow
from engine.run import Runtime, Services
from engine.run.context import OutboundMessage
from engine.run.library import FlowLibrary
from engine.run.runtime import child_run_id
from tests.flow.builders import chain, edge, end, flow, node, trigger

pytestmark = pytest.mark.anyio


class Platforms:
    """A message sink with one bot on one platform, keeping what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutboundMessage]] = []

    async def send(self, run_id: str, message: OutboundMessage) -> str:
        if message.platform is not None and (message.platform, message.bot) != ("slack", "ops"):
            raise LookupError(f"no bot '{message.bot}' on {message.platform}")
        self.sent.append((run_id, message))
        return f"m{len(self.sent)}"


def _events(handle, kind: str) -> list[dict]:
    return [e for e in handle.events.history if e["type"] == kind]


async def test_send_message_emits_a_message_event_with_buttons():
    reply = node(
        "reply",
        "send_message",
        {"text": "Hi {{ input.name }}", "buttons": [{"label": "Yes", "value": "yes"}]},
    )
    handle = Runtime().start(chain(trigger(), reply), {"name": "Ada"})
    result = await handle.result()
    (message,) = _events(handle, "message")
    assert (message["text"], message["buttons"]) == ("Hi Ada", [{"label": "Yes", "value": "yes"}])
    assert result.output == {"message_id": message["message_id"]}


def _proactive(to: str = "{{ input.channel }}", bot: str = "ops") -> Flow:
    page = node(
        "page", "send_proactive", {"platform": "slack", "bot": bot, "to": to, "text": "Down!"}
    )
    return flow(
        [trigger(), page, end("failed_page", "{{ error.message }}")],
        [edge("start", "page"), edge("page", "failed_page", "error")],
    )


async def test_send_proactive_goes_through_the_sink_to_the_named_channel():
    platforms = Platforms()
    handle = Runtime(Services(messages=platforms)).start(_proactive(), {"channel": "#ops"})
    result = await handle.result()
    ((run_id, sent),) = platforms.sent
    assert (run_id, sent.platform, sent.bot, sent.to, sent.text) == (
        handle.run_id,
        "slack",
        "ops",
        "#ops",
        "Down!",
    )
    assert result.output == {"message_id": "m1"}
    (event,) = _events(handle, "message")
    assert (event["platform"], event["to"], event["message_id"]) == ("slack", "#ops", "m1")


async def test_send_proactive_without_bot_adapters_writes_into_the_runs_conversation():
    handle = Runtime().start(_proactive(), {"channel": "#ops"})
    result = await handle.result()
    (event,) = _events(handle, "message")
    assert (event["to"], event["text"]) == ("#ops", "Down!")
    assert result.output == {"message_id": event["message_id"]}


async def test_send_proactive_takes_the_error_handle_for_an_unknown_bot_or_empty_recipient():
    platforms = Platforms()
    unknown = (
        await Runtime(Services(messages=platforms))
        .start(_proactive(bot="sales"), {"channel": "#ops"})
        .result()
    )
    assert unknown.output == "no bot 'sales' on slack"
    empty = (
        await Runtime(Services(messages=platforms)).start(_proactive(), {"channel": " "}).result()
    )
    assert empty.output == "to: the recipient is empty"
    assert platforms.sent == []


async def test_a_waiting_timer_fires_early_when_its_node_is_told_to():
    remind = node("remind", "schedule_message", {"text": "Ping", "delay_s": 3600})
    handle = Runtime().start(chain(trigger(), remind), {})
    while not _events(handle, "run_paused"):
        await asyncio.sleep(0.01)
    handle.resume("answer to someone else")  # not addressed to the timer: it keeps waiting
    await asyncio.sleep(0.05)
    assert not handle.done.done()
    handle.resume("fire", "remind")
    result = await asyncio.wait_for(handle.result(), 5)
    assert result.status == "succeeded"
    assert _events(handle, "message")[0]["text"] == "Ping"


def _delegating(target: str, flow_id: str = "front", timeout_s: float = 30) -> Flow:
    ask = node(
        "ask",
        "delegate_to_bot",
        {
            "target": target,
            "input": {"question": "{{ input.question }}"},
            "context": {"asked_by": "Ana"},
            "timeout_s": timeout_s,
        },
    )
    return flow(
        [trigger(), ask, end("failed", "{{ error.type }}: {{ error.message }}")],
        [edge("start", "ask"), edge("ask", "failed", "error")],
        id=flow_id,
    )


ANSWERER = flow(
    [
        trigger(),
        end("answer", {"answer": "42 for {{ input.question }}", "by": "{{ run.context }}"}),
    ],
    [edge("start", "answer")],
    id="answerer",
)


async def test_delegate_returns_the_child_runs_output_with_its_context():
    runtime = Runtime(Services(flows=FlowLibrary(flows=[ANSWERER])))
    handle = runtime.start(_delegating("answerer"), {"question": "why"})
    result = await handle.result()
    assert result.output == {"answer": "42 for why", "by": {"asked_by": "Ana"}}
    child = runtime.runs[child_run_id(handle.run_id, "ask")]
    assert child.flow is ANSWERER
    assert len(runtime.runs) == 2


async def test_delegation_stops_at_depth_three():
    loop = _delegating("front")  # delegates to itself
    runtime = Runtime(Services(flows=FlowLibrary(flows=[loop])))
    result = await runtime.start(loop, {"question": "q"}).result()
    assert len(runtime.runs) == 4  # the run and three nested delegations
    # The innermost run's delegation fails on the limit; its error path's output comes back up.
    assert result.output == "limit: delegation depth 3 reached: 'front' is not started"


async def test_delegation_reports_an_unknown_target_a_failed_child_and_a_slow_one():
    failing = flow(
        [trigger(), node("boom", "action", {"action": "end", "end": {"status": "failed"}})],
        [edge("start", "boom")],
        id="failing",
    )
    slow = flow(
        [trigger(), node("wait", "schedule_message", {"text": "late", "delay_s": 60})],
        [edge("start", "wait")],
        id="slow",
    )
    runtime = Runtime(Services(flows=FlowLibrary(flows=[failing, slow])))
    unknown = await runtime.start(_delegating("nobody"), {"question": "q"}).result()
    assert unknown.output.startswith("node_error: no flow 'nobody' is known to this runtime")
    failed = await runtime.start(_delegating("failing"), {"question": "q"}).result()
    assert failed.output == "node_error: 'failing' failed: failed"
    started = runtime.start(_delegating("slow", timeout_s=1), {"question": "q"})
    timed_out = await started.result()
    assert timed_out.output == "timeout: 'slow' did not finish within timeout_s (1 s)"
    child = runtime.runs[child_run_id(started.run_id, "ask")]
    assert (await child.result()).status == "cancelled"


async def test_the_library_finds_flows_in_folders_by_id_and_endpoint_slug(tmp_path):
    from engine.flow import save

    endpoint = trigger(kind="endpoint", endpoint={"slug": "ask-me", "auth": "public"})
    save(
        flow([endpoint, end("done")], [edge("start", "done")], id="in-a-file"),
        tmp_path / "x.flow.json",
    )
    (tmp_path / "broken.flow.json").write_text("{not json")
    library = FlowLibrary([tmp_path])
    assert library.find("in-a-file").id == "in-a-file"
    assert library.find("ask-me").id == "in-a-file"
    with pytest.raises(LookupError, match=f"no flow 'other' is known .*{tmp_path}"):
        library.find("other")
