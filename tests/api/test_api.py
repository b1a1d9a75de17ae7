"""The engine API against a real durable runtime and gateway, over HTTP on loopback, driven by
the typed client the studio uses."""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager

import httpx2
import pytest

from engine.api.app import EngineApi
from engine.api.client import ApiClient, ApiError
from engine.flow import to_document
from engine.paths import examples_dir
from engine.run import Services
from engine.run.durable import DurableRuntime
from engine.run.library import FlowLibrary
from tests.flow.builders import edge, end, flow, node, set_vars, trigger
from tests.gateway.conftest import echo_server_command, serving
from tests.gateway_fixtures import temporary_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
TOKEN = "admin-token-for-tests"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@asynccontextmanager
async def running_api(tmp_path):
    gateway = temporary_gateway(tmp_path)
    services = Services(tools=gateway, secrets=gateway.vault, flows=FlowLibrary([examples_dir()]))
    runtime = DurableRuntime(
        f"sqlite:///{tmp_path / 'runs.sqlite'}", services=services, poll_s=0.02
    )
    runtime.launch()
    try:
        async with (
            serving(EngineApi(runtime, gateway, TOKEN).app) as base,
            ApiClient(base, TOKEN) as client,
        ):
            yield client, base, gateway
    finally:
        await runtime.aclose()


@pytest.fixture
async def api(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    async with running_api(tmp_path) as running:
        yield running


CHAIN = flow(
    [
        trigger(),
        set_vars("a", greeting="hello {{ input.name }}"),
        set_vars("b", shout="{{ vars.greeting | upper }}"),
        end("c", "{{ vars.shout }}!"),
    ],
    [edge("start", "a"), edge("a", "b"), edge("b", "c")],
)


async def _until(client, run_id, predicate, after=0):
    async for event in client.events(run_id, after):
        if predicate(event):
            return event
    raise AssertionError("the stream ended first")


async def test_a_run_streams_its_events_and_resumes_from_a_sequence_number(api):
    client, _base, _ = api
    run_id = await client.start_run(to_document(CHAIN), {"name": "ada"})
    events = [e async for e in client.events(run_id)]
    assert events[0]["type"] == "run_started"
    assert events[-1]["type"] == "run_finished"
    assert events[-1]["output"] == "HELLO ADA!"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    later = [e async for e in client.events(run_id, after=3)]
    assert [e["seq"] for e in later] == [e["seq"] for e in events[3:]]
    detail = await client.run(run_id)
    assert detail["status"] == "succeeded"
    assert detail["nodes"]["b"]["output"] == {"shout": "HELLO ADA"}
    assert [r["run_id"] for r in await client.runs(flow_id="test")] == [run_id]


async def test_breakpoint_step_and_continue(api):
    client, _, _ = api
    run_id = await client.start_run(to_document(CHAIN), {"name": "bo"}, breakpoints=["b"])
    paused = await _until(client, run_id, lambda e: e["type"] == "run_paused")
    assert (paused["kind"], paused["node_id"]) == ("breakpoint", "b")
    detail = await client.run(run_id)
    assert detail["nodes"]["a"]["status"] == "succeeded"
    assert detail["nodes"]["a"]["output"] == {"greeting": "hello bo"}
    assert "b" not in detail["nodes"] or detail["nodes"]["b"]["status"] != "succeeded"
    assert detail["waiting"] == ["b"]

    await client.debug(run_id, "step")
    second = await _until(client, run_id, lambda e: e["type"] == "run_paused", paused["seq"])
    assert second["node_id"] == "c"  # exactly one node ran
    detail = await client.run(run_id)
    assert detail["nodes"]["b"]["status"] == "succeeded"
    assert "c" not in detail["nodes"] or detail["nodes"]["c"]["status"] != "succeeded"

    await client.debug(run_id, "continue")
    finished = await _until(client, run_id, lambda e: e["type"] == "run_finished", second["seq"])
    assert finished["output"] == "HELLO BO!"


async def test_a_review_is_answered_through_the_api(api):
    client, _, _ = api
    review = flow(
        [
            trigger(),
            node("review", "human_review", {"title": "Ship {{ input.what }}?"}),
            end("yes", "shipped"),
            end("no", "kept"),
        ],
        [
            edge("start", "review"),
            edge("review", "yes", "approved"),
            edge("review", "no", "rejected"),
        ],
    )
    run_id = await client.start_run(to_document(review), {"what": "v2"})
    paused = await _until(client, run_id, lambda e: e["type"] == "run_paused")
    assert (paused["kind"], paused["prompt"]) == ("approval", "Ship v2?")
    with pytest.raises(ApiError, match="give decision"):
        await client.resume(run_id, decision="maybe")
    await client.resume(run_id, decision="approve", reviewer="ana", comment="ok")
    finished = await _until(client, run_id, lambda e: e["type"] == "run_finished")
    assert finished["output"] == "shipped"
    with pytest.raises(ApiError, match="already succeeded"):
        await client.cancel(run_id)


async def test_an_example_runs_with_the_demo_tools_and_its_calls_are_logged(api):
    client, _, _ = api
    from engine.flow import load

    example = load(examples_dir() / "research-agent.flow.json")
    run_id = await client.start_run(to_document(example), {"question": "Which service errs?"})
    finished = await _until(client, run_id, lambda e: e["type"] == "run_finished")
    assert finished["status"] == "succeeded"
    assert finished["output"]["answer"] == "Checkout has the most errors this week."
    calls = await client.calls("demo")
    assert [(c["tool"], c["member"], c["outcome"]) for c in calls] == [
        ("errors__error_stats", f"run:{run_id}", "ok")
    ]
    usage = await client.usage("demo")
    assert usage["tool"][0]["calls"] == 1


async def test_bad_requests_get_readable_errors(api):
    client, base, _ = api
    broken = to_document(CHAIN)
    broken["edges"].append({"id": "loop", "from": "c", "handle": "out", "to": "a"})
    with pytest.raises(ApiError) as refused:
        await client.start_run(broken, {})
    assert refused.value.status == 422
    assert any(i["code"].startswith("graph.") for i in refused.value.body["issues"])
    issues = await client.validate(broken)
    assert any(i["severity"] == "error" for i in issues)
    with pytest.raises(ApiError, match="no run 'nope'"):
        await client.run("nope")
    async with httpx2.AsyncClient() as http:
        assert (await http.get(f"{base}/api/runs")).status_code == 401
        wrong = await http.get(f"{base}/api/runs", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        evil = await http.get(
            f"{base}/api/health",
            headers={"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"},
        )
        assert evil.status_code == 421
        schema = (await http.get(f"{base}/api/openapi.json")).text
        assert "/api/runs/{run_id}/events" in schema
        garbage = await http.post(
            f"{base}/api/runs",
            content=b"{not json",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert garbage.status_code == 400
        assert "not JSON" in garbage.json()["message"]


async def test_workspace_administration_keeps_secrets_write_only(api):
    client, _, gateway = api
    created = await client.create_workspace("Ops Team")
    slug = created["slug"]
    await client.add_server(
        slug, "echo", {**echo_server_command(), "env": {"TOKEN": {"secret": "API_TOKEN"}}}
    )
    await client.set_secret(slug, "API_TOKEN", "very-secret-value")
    listed = await client.secrets(slug)
    assert [s["name"] for s in listed] == ["API_TOKEN"]
    assert "very-secret-value" not in str(listed) + str(await client.servers(slug))
    tools = {t["name"]: t for t in await client.tools(slug)}
    assert tools["echo__echo"]["read_only"] and tools["echo__wipe"]["destructive"]
    sha = await gateway.call_tool(slug, "echo__env_sha256", {"name": "TOKEN"})
    assert sha.text == hashlib.sha256(b"very-secret-value").hexdigest()  # reached the server
    result = await gateway.call_tool(slug, "echo__env", {"name": "TOKEN"})
    assert result.text == "[redacted]"  # and is shown nowhere else, even said back
    made = await client.create_token(slug, "ana", "viewer")
    assert made["token"].startswith("aero_")
    assert [t["state"] for t in await client.tokens(slug)] == ["active"]
    await client.revoke_token(slug, made["id"])
    assert [t["state"] for t in await client.tokens(slug)] == ["revoked"]
    assert "token" not in (await client.tokens(slug))[0]
    await client.set_server_enabled(slug, "echo", False, tool="wipe")
    assert "echo__wipe" not in {t["name"] for t in await client.tools(slug)}
    with pytest.raises(ApiError, match="no workspace 'nope'"):
        await client.create_token("nope", "x", "admin")
    calls = await client.calls(slug, tool="echo__env")
    assert calls[0]["outcome"] == "ok"
    await asyncio.wait_for(gateway.aclose(), 20)


def test_the_runtime_command_publishes_its_address_and_cleans_up(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    home = tmp_path / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "runtime"],
        env={**os.environ, "AEROSTUDIO_HOME": str(home)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("aerostudio runtime at http://127.0.0.1:")
        state_file = home / "runtime.json"
        assert oct(state_file.stat().st_mode & 0o777) == "0o600"
        state = json.loads(state_file.read_text())

        async def check() -> dict:
            async with ApiClient(state["url"], state["token"]) as client:
                return await client.health()

        assert asyncio.run(check())["status"] == "ok"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 5
        while state_file.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        process.kill()


def test_every_route_documents_itself_in_valid_yaml():
    """The OpenAPI schema is built from the handlers' docstrings: one bad line breaks it all."""
    import inspect

    import yaml

    for name, function in inspect.getmembers(EngineApi, inspect.isfunction):
        if function.__doc__ and "summary:" in function.__doc__:
            assert isinstance(yaml.safe_load(inspect.cleandoc(function.__doc__)), dict), name
