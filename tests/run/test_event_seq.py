"""A `seq` names one event forever: the stream of a run's events gives out only events the store
has, so a `kill -9` and the run's recovery renumber none that a client saw, and a client that
resumes with `after=<last seq seen>` gets every later event once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from engine.api.client import ApiClient
from engine.flow import from_document
from engine.run import event_writer
from engine.run.durable import DurableRuntime
from engine.run.store import RunStore
from engine.store.db import create_engine
from tests.flow.builders import document, edge, end, node, trigger
from tests.gateway.conftest import serving
from tests.run.test_scaleout import Serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

WORDS = [f"word{n}" for n in range(12)]
GAP_MS = 4  # between the words the loopback model streams


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def _chat(request: Request) -> StreamingResponse:
    """OpenAI chat completions, streamed a word at a time, `gap_ms` apart."""
    gap = int(request.path_params["gap_ms"]) / 1000

    async def chunks() -> AsyncIterator[str]:
        for word in WORDS:
            await asyncio.sleep(gap)
            yield (
                "data: "
                + json.dumps({"choices": [{"index": 0, "delta": {"content": word + " "}}]})
                + "\n\n"
            )
        yield (
            "data: "
            + json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            + "\n\n"
        )
        yield "data: [DONE]\n\n"

    await request.body()
    return StreamingResponse(chunks(), media_type="text/event-stream")


@pytest.fixture
async def slow_model(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A loopback OpenAI-compatible model that streams its words slowly; OPENAI_BASE_URL names
    it (for this process and the servers the test starts)."""
    app = Starlette(routes=[Route("/gap/{gap_ms}/v1/chat/completions", _chat, methods=["POST"])])
    async with serving(app) as base:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{base}/gap/{GAP_MS}/v1")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        yield base


def _streaming_loop(iterations: int) -> dict[str, Any]:
    """A loop of streaming LLM calls: node_delta events all along, and recorded nodes whose
    deltas a replay after a restart does not emit again."""
    say = node("say", "llm_call", {"prompt": "Count {{ vars.index }}", "stream": True})
    nodes = [
        trigger(),
        node("each", "loop", {"items": "input.rows", "max_iterations": iterations}),
        say,
        end("done", "{{ nodes.each.count }}"),
    ]
    edges = [edge("start", "each"), edge("each", "say", "body"), edge("each", "done", "done")]
    settings = {"max_node_runs": 10 * iterations, "llm": {"provider": "openai", "model": "slow"}}
    return document(nodes, edges, settings=settings)


async def _read(client: ApiClient, run_id: str, after: int, seen: list[dict[str, Any]]) -> None:
    """Append the stream's events to `seen` until it ends, or its server dies."""
    with contextlib.suppress(httpx2.HTTPError):
        async for event in client.events(run_id, after):
            seen.append(event)


async def _until(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def test_a_stream_resumed_after_a_kill_misses_nothing_and_repeats_nothing(
    tmp_path: Path, slow_model: str
):
    db = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    iterations = 30
    first = Serve(tmp_path / "home", db, "local")
    url, printed = await asyncio.to_thread(first.ready)
    (token,) = [line.removeprefix("admin token: ") for line in printed]
    seen: list[dict[str, Any]] = []
    try:
        async with ApiClient(url, token) as client:
            run_id = await client.start_run(
                _streaming_loop(iterations), {"rows": list(range(iterations))}
            )
            reading = asyncio.ensure_future(_read(client, run_id, 0, seen))
            await _until(lambda: len(seen) >= 100 or reading.done(), "100 events streamed")
            first.kill()
            await reading
    finally:
        first.stop()
    before_kill = list(seen)
    assert before_kill[-1]["type"] != "run_finished", "the run ended before the kill"
    store = RunStore(create_engine(db))
    assert store.events(run_id)[: len(before_kill)] == before_kill  # all seen had been written

    again = Serve(tmp_path / "home", db, "local")
    try:
        url, _ = await asyncio.to_thread(again.ready)  # recovers the killed run
        async with ApiClient(url, token) as client:
            await _read(client, run_id, seen[-1]["seq"], seen)
    finally:
        again.stop()

    stored = store.events(run_id)
    assert stored[-1]["type"] == "run_finished" and stored[-1]["status"] == "succeeded"
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))  # no gap, no repeat
    assert seen == stored


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """An event as a client gets it (JSON), to compare with the store's copy."""
    return json.loads(json.dumps(event, default=str))


async def test_node_deltas_reach_a_follower_while_the_model_still_streams(
    tmp_path: Path, slow_model: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{slow_model}/gap/50/v1")  # 12 words in 0.6 s
    async with DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}") as runtime:
        handle = await runtime.start(from_document(_streaming_loop(1)), {"rows": [0]})
        received: list[tuple[float, dict[str, Any]]] = []
        async for event in runtime.follow(handle.run_id):
            assert event is not None
            received.append((time.time(), event))
            # Given out only once the store has it, as it is.
            assert runtime.store.events(handle.run_id, event["seq"] - 1)[0] == _as_sent(event)
    deltas = [(at, e) for at, e in received if e["type"] == "node_delta"]
    assert "".join(e["text"] for _, e in deltas).split() == WORDS
    first_received, last_emitted = deltas[0][0], deltas[-1][1]["ts"]
    assert first_received < last_emitted - 0.3, "the deltas came all at once, not as they went"
    assert [e["seq"] for _, e in received] == list(range(1, len(received) + 1))


async def test_writes_asked_while_a_batch_is_being_written_keep_the_store_gap_free(
    tmp_path: Path, slow_model: str, monkeypatch: pytest.MonkeyPatch
):
    """`flush` (a GET of the run, the CLI following it) writes on the event loop while the
    run's writer may be writing an earlier batch in a thread: the earlier lands first."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{slow_model}/gap/0/v1")
    async with DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}") as runtime:
        handle = await runtime.start(from_document(_streaming_loop(40)), {"rows": list(range(40))})
        while not handle.done.done():
            runtime.flush(handle.run_id)
            seqs = [e["seq"] for e in runtime.store.events(handle.run_id)]
            assert seqs == list(range(1, len(seqs) + 1))
            await asyncio.sleep(0.001)
        assert (await handle.result()).status == "succeeded"


async def test_a_batch_that_fails_to_land_is_written_again_before_later_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(event_writer, "RETRY_S", 0.01)
    store = RunStore(create_engine(f"sqlite:///{tmp_path / 'runs.sqlite'}"))
    writer = event_writer.EventWriter(store, "r1", written=0)
    writing = asyncio.ensure_future(writer.run())

    def add(seq: int) -> None:
        writer.add({"type": "node_delta", "run_id": "r1", "seq": seq, "ts": 0.0, "text": "x"})

    def rename(old: str, new: str) -> None:
        with store.engine.begin() as db:
            db.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    try:
        add(1)
        await asyncio.wait_for(writer.wait_written(0), 10)
        rename("aero_run_events", "away")  # the database refuses the next writes
        add(2)
        add(3)
        await _until(lambda: "writing the events of run r1 failed" in caplog.text, "a failure")
        add(4)
        rename("away", "aero_run_events")
        await asyncio.wait_for(writer.wait_written(3), 10)
    finally:
        writing.cancel()
        await asyncio.gather(writing, return_exceptions=True)
    assert [e["seq"] for e in store.events("r1")] == [1, 2, 3, 4]
