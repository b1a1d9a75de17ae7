"""Deployments, agent endpoints and webhooks on a real runtime over HTTP on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx2
import pytest
from stripe import WebhookSignature

from engine.api.client import ApiError
from engine.flow import to_document
from tests.api.test_api import TOKEN, running_api
from tests.flow.builders import edge, end, flow, trigger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def server(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    async with (
        running_api(tmp_path) as (client, base, gateway),
        httpx2.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as http,
    ):
        yield client, http, gateway


def _echo_flow(flow_id: str = "echo", auth: str = "api_key", answer: str = "hi {{ input.name }}"):
    endpoint = trigger(kind="endpoint", endpoint={"slug": f"{flow_id}-api", "auth": auth})
    return flow(
        [endpoint, end("done", answer)], [edge("start", "done")], id=flow_id, workspace="team"
    )


async def test_versions_are_immutable_hashed_diffable_and_can_be_rolled_back(server):
    _client, http, _ = server
    first = await http.post("/api/deployments", json={"flow": to_document(_echo_flow())})
    assert first.status_code == 201
    assert (first.json()["version"], first.json()["endpoints"]) == (1, ["/api/run/echo-api"])
    again = await http.post("/api/deployments", json={"flow": to_document(_echo_flow())})
    assert (again.status_code, again.json()["version"]) == (200, 1)
    changed = to_document(_echo_flow(answer="hello {{ input.name }}"))
    second = await http.post("/api/deployments", json={"flow": changed})
    assert second.json()["version"] == 2 and second.json()["hash"] != first.json()["hash"]
    diff = (await http.get("/api/deployments/echo/diff", params={"from": 1, "to": 2})).json()
    assert '-          "output": "hi {{ input.name }}"' in diff["diff"]
    assert '+          "output": "hello {{ input.name }}"' in diff["diff"]
    answer = await http.post("/api/run/echo-api", json={"name": "ana"})
    assert answer.json()["output"] == "hello ana"
    await http.post("/api/deployments/echo/activate", json={"version": 1})
    assert (await http.post("/api/run/echo-api", json={"name": "ana"})).json()["output"] == "hi ana"
    await http.post("/api/deployments/echo/deactivate")
    assert (await http.post("/api/run/echo-api", json={})).status_code == 404
    broken = to_document(_echo_flow())
    broken["edges"].append({"id": "back", "from": "done", "handle": "out", "to": "start"})
    refused = await http.post("/api/deployments", json={"flow": broken})
    assert refused.status_code == 422 and refused.json()["issues"]
    listed = (await http.get("/api/deployments", params={"flow_id": "echo"})).json()
    assert [d["version"] for d in listed["deployments"]] == [1, 2]


async def test_endpoints_answer_json_or_a_stream_and_check_the_api_key(server):
    _client, http, gateway = server
    gateway.workspaces.create("team")
    _, member_token = gateway.tokens.create("team", "caller", "developer")
    _, viewer_token = gateway.tokens.create("team", "watcher", "viewer")
    await http.post("/api/deployments", json={"flow": to_document(_echo_flow())})
    public = {"flow": to_document(_echo_flow("open", "public")), "confirm": True}
    await http.post("/api/deployments", json=public)
    async with httpx2.AsyncClient(base_url=str(http.base_url)) as anonymous:
        assert (await anonymous.post("/api/run/echo-api", json={"name": "x"})).status_code == 401
        keyed = await anonymous.post(
            "/api/run/echo-api",
            json={"name": "key"},
            headers={"Authorization": f"Bearer {member_token}"},
        )
        assert (keyed.status_code, keyed.json()["output"]) == (200, "hi key")
        viewer = await anonymous.post(
            "/api/run/echo-api", headers={"Authorization": f"Bearer {viewer_token}"}
        )
        assert (viewer.status_code, viewer.json()["needs"]) == (403, "developer")
        public = await anonymous.post("/api/run/open-api", json={"name": "all"})
        assert public.json()["status"] == "succeeded"
        async with anonymous.stream(
            "POST", "/api/run/open-api", json={"name": "s"}, headers={"Accept": "text/event-stream"}
        ) as stream:
            events = [
                json.loads(line[5:])
                async for line in stream.aiter_lines()
                if line.startswith("data:")
            ]
    assert events[0]["type"] == "run_started"
    assert (events[-1]["type"], events[-1]["output"]) == ("run_finished", "hi s")


def _github_flow(events: list[str]):
    hook = trigger(
        kind="webhook",
        webhook={"source": "github", "events": events, "secret": {"secret": "HOOK_SECRET"}},
    )
    return flow(
        [hook, end("done", "{{ input.action }}")],
        [edge("start", "done")],
        id="gh",
        workspace="team",
    )


async def test_webhooks_verify_filter_and_run_each_delivery_once(server):
    client, http, gateway = server
    gateway.workspaces.create("team")
    gateway.vault.set("team", "HOOK_SECRET", "s3cret")
    await http.post("/api/deployments", json={"flow": to_document(_github_flow(["issues"]))})
    body = json.dumps({"action": "opened"}).encode()
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "1",
    }
    async with httpx2.AsyncClient(base_url=str(http.base_url)) as github:
        started = await github.post("/hooks/gh", content=body, headers=headers)
        assert started.status_code == 202
        run_id = started.json()["run_id"]
        replay = await github.post("/hooks/gh", content=body, headers=headers)
        assert replay.json() == {"duplicate": True, "run_id": run_id}
        forged = await github.post(
            "/hooks/gh", content=body, headers={**headers, "X-Hub-Signature-256": "sha256=00"}
        )
        assert forged.status_code == 401
        other = await github.post(
            "/hooks/gh", content=body, headers={**headers, "X-GitHub-Event": "push"}
        )
        assert other.json() == {"ignored": "push"}
    async for event in client.events(run_id):
        last = event
    assert (last["type"], last["output"]) == ("run_finished", "opened")
    assert [r["run_id"] for r in await client.runs(flow_id="gh")] == [run_id]


async def test_a_stale_stripe_delivery_is_refused_and_nothing_runs(server):
    client, http, gateway = server
    gateway.workspaces.create("team")
    gateway.vault.set("team", "HOOK_SECRET", "whsec_x")
    hook = trigger(
        kind="webhook", webhook={"source": "stripe", "secret": {"secret": "HOOK_SECRET"}}
    )
    stripe_flow = flow([hook, end("done")], [edge("start", "done")], id="pay", workspace="team")
    await http.post("/api/deployments", json={"flow": to_document(stripe_flow)})
    body = json.dumps({"id": "evt_9", "type": "invoice.paid"})
    stale = WebhookSignature.generate_signature_header(body, "whsec_x", int(time.time()) - 3600)
    answer = await http.post("/hooks/pay", content=body, headers={"Stripe-Signature": stale})
    assert (answer.status_code, answer.json()["error"]) == (401, "bad_signature")
    fresh = WebhookSignature.generate_signature_header(body, "whsec_x")
    answer = await http.post("/hooks/pay", content=body, headers={"Stripe-Signature": fresh})
    assert answer.status_code == 202
    assert len(await client.runs(flow_id="pay")) == 1
    with pytest.raises(ApiError):
        await client.run("missing")
