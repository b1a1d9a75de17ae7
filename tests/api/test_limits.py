"""`aerostudio serve` under hostile or careless input, as a real process on loopback: bodies
past their route's limit, replayed webhook deliveries, bad tokens in a row, endpoint input that
does not fit its schema, and a stop while a client follows a paused run."""

from __future__ import annotations

import hashlib
import hmac
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

from engine.flow import to_document
from tests.api.served import Served, start_serve, stop_serve
from tests.flow.builders import edge, end, flow, node, trigger

pytestmark = pytest.mark.timeout(180)
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    serve = start_serve(tmp_path_factory.mktemp("limits"))
    try:
        yield serve
    finally:
        if serve.process.poll() is None:
            stop_serve(serve)


@pytest.fixture
def http(served: Served) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served.url, headers=served.admin, timeout=60) as client:
        yield client


def _deploy(http: httpx2.Client, document: dict) -> None:
    deployed = http.post("/api/deployments", json={"flow": document, "confirm": True})
    assert deployed.status_code in (200, 201), deployed.text


def _stored_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


def _raw_post(url: str, path: str, headers: dict[str, str], body: Iterable[bytes]) -> bytes:
    """POST by hand, so that the answer is read as soon as it comes: the server may answer
    before the body is sent, and close the connection after."""
    parts = urlsplit(url)
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(head.encode())
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer has come
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            received = sock.recv(65536)
            if not received:
                break
            answer += received
    return answer


def _chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    piece = b"x" * size
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _after_headers(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent only if the server has not answered a moment after the headers."""
    time.sleep(0.5)  # the headers' way to the server and its answer's way back
    piece = b"x" * size
    for _ in range(total // size):
        yield piece


def test_a_50_mb_webhook_body_gets_413_and_nothing_is_stored(served, http):
    """A generic webhook without a secret took a 50 MB body (202) and grew the run database
    by 157 MB; an unsigned one was read whole before its signature failed."""
    hook = trigger(kind="webhook", webhook={"source": "generic"})
    _deploy(
        http,
        to_document(flow([hook, end("done", "{{ input }}")], [edge("start", "done")], id="big")),
    )
    before = _stored_bytes(served.home)
    declared = _raw_post(
        served.url,
        "/hooks/big",
        {"Content-Length": str(50 * 1000 * 1000), "Content-Type": "application/json"},
        _after_headers(50 * 1000 * 1000),
    )
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    assert b'"error":"body_too_large"' in declared and b"1,048,576 bytes" in declared
    streamed = _raw_post(
        served.url,
        "/hooks/big",
        {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        _chunked(50 * 1000 * 1000),
    )
    assert streamed.startswith(b"HTTP/1.1 413"), streamed[:200]
    assert http.get("/api/runs", params={"flow_id": "big"}).json()["runs"] == []
    assert _stored_bytes(served.home) - before < MIB
    small = http.post("/hooks/big", json={"n": 1})
    assert small.status_code == 202, small.text


def test_a_replayed_github_delivery_with_a_new_delivery_id_starts_no_run(served, http):
    assert http.post("/api/workspaces", json={"name": "hooks"}).status_code == 201
    put = http.put("/api/workspaces/hooks/secrets/GH", json={"value": "s3cret"})
    assert put.status_code in (200, 201, 204), put.text
    hook = trigger(
        kind="webhook", webhook={"source": "github", "secret": {"secret": "GH"}, "events": []}
    )
    gh = flow(
        [hook, end("done", "{{ input.n }}")], [edge("start", "done")], id="gh", workspace="hooks"
    )
    _deploy(http, to_document(gh))
    body = json.dumps({"n": 1}).encode()
    signed = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signed, "X-GitHub-Event": "push", "X-GitHub-Delivery": "a"}
    first = httpx2.post(f"{served.url}/hooks/gh", content=body, headers=headers)
    assert first.status_code == 202, first.text
    resent = httpx2.post(
        f"{served.url}/hooks/gh", content=body, headers={**headers, "X-GitHub-Delivery": "b"}
    )
    assert resent.json() == {"duplicate": True, "run_id": first.json()["run_id"]}
    runs = http.get("/api/runs", params={"flow_id": "gh"}).json()["runs"]
    assert [r["run_id"] for r in runs] == [first.json()["run_id"]]


def test_bad_tokens_in_a_row_get_429_while_a_good_token_still_works(served, http):
    bad = {"Authorization": "Bearer aero_not-a-token"}
    answers = [httpx2.get(f"{served.url}/api/runs", headers=bad).status_code for _ in range(20)]
    assert answers == [401] * 20
    limited = httpx2.get(f"{served.url}/api/runs", headers=bad)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.json()["error"] == "too_many_failures"
    assert http.get("/api/runs").status_code == 200
    assert httpx2.get(f"{served.url}/api/runs").status_code == 401  # no token: not a guess
    gateway = httpx2.post(f"{served.url}/ws/demo/mcp", json={}, headers=bad)
    assert gateway.status_code == 429 and "Retry-After" in gateway.headers
    endpoint = httpx2.post(f"{served.url}/api/run/nothing-here", json={}, headers=bad)
    assert endpoint.status_code == 404  # no such endpoint: not a refused key


def test_bad_api_keys_on_an_endpoint_get_429_while_a_good_key_still_works(tmp_path):
    serve = start_serve(tmp_path)
    try:
        with httpx2.Client(base_url=serve.url, headers=serve.admin, timeout=60) as http:
            keyed = trigger(kind="endpoint", endpoint={"slug": "keyed"})
            _deploy(http, to_document(flow([keyed, end("done", "ok")], [edge("start", "done")])))
            bad = {"Authorization": "Bearer aero_not-a-key"}
            answers = [http.post("/api/run/keyed", json={}, headers=bad) for _ in range(21)]
            assert [a.status_code for a in answers] == [401] * 20 + [429]
            assert int(answers[-1].headers["Retry-After"]) > 0
            assert http.post("/api/run/keyed", json={}).json()["output"] == "ok"
            assert http.get("/api/runs", headers=bad).status_code == 429  # one count per address
    finally:
        stop_serve(serve)


def test_endpoint_input_that_does_not_fit_its_schema_gets_422_and_no_run(served, http):
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    called = trigger(kind="endpoint", input_schema=schema, endpoint={"slug": "typed"})
    typed = flow([called, end("done", "{{ input.n }}")], [edge("start", "done")], id="typed")
    _deploy(http, to_document(typed))
    refused = http.post("/api/run/typed", json={"n": "three"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_input"
    assert refused.json()["errors"] == [
        {"path": "input.n", "message": "'three' is not of type 'integer'"}
    ]
    assert http.post("/api/run/typed", json={}).json()["errors"][0]["path"] == "input"
    assert http.get("/api/runs", params={"flow_id": "typed"}).json()["runs"] == []
    assert http.post("/api/run/typed", json={"n": 3}).json()["output"] == 3


def test_serve_stops_within_its_grace_period_with_a_follower_attached(tmp_path):
    """SIGTERM with a client following a paused run's events did not exit within 20-30 s:
    uvicorn waited for the stream. Now it ends, and the follower resumes on the next process
    from the last event it saw."""
    serve = start_serve(tmp_path, AEROSTUDIO_SHUTDOWN_GRACE_S="3")
    review = flow(
        [trigger(), node("review", "human_review", {"title": "ok?"}), end("yes", "shipped")],
        [edge("start", "review"), edge("review", "yes", "approved")],
    )
    try:
        with httpx2.Client(base_url=serve.url, headers=serve.admin, timeout=60) as http:
            run_id = http.post("/api/runs", json={"flow": to_document(review)}).json()["run_id"]
            seen: list[dict] = []
            with http.stream("GET", f"/api/runs/{run_id}/events") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        seen.append(json.loads(line[5:]))
                        if seen[-1]["type"] == "run_paused":
                            took = stop_serve(serve, within_s=15)
                    # the stream ends without an error when the server stops
    finally:
        if serve.process.poll() is None:
            serve.process.kill()
    assert seen[-1]["type"] == "run_paused"
    assert took < 3 + 5, took
    again = start_serve(tmp_path, token=serve.token, AEROSTUDIO_SHUTDOWN_GRACE_S="3")
    try:
        with httpx2.Client(base_url=again.url, headers=again.admin, timeout=60) as http:
            resumed = {"Last-Event-ID": str(seen[-1]["seq"])}
            assert http.post(f"/api/runs/{run_id}/resume", json={"decision": "approve"}).is_success
            with http.stream("GET", f"/api/runs/{run_id}/events", headers=resumed) as stream:
                later = [json.loads(x[5:]) for x in stream.iter_lines() if x.startswith("data:")]
        assert later[0]["seq"] == seen[-1]["seq"] + 1
        assert (later[-1]["type"], later[-1]["output"]) == ("run_finished", "shipped")
    finally:
        stop_serve(again)


def test_a_flow_anyone_can_start_is_deployed_only_when_confirmed(served, http):
    unsigned = trigger(kind="webhook", webhook={"source": "generic"})
    public = trigger("open", kind="endpoint", endpoint={"slug": "open", "auth": "public"})
    exposed = to_document(
        flow(
            [unsigned, public, end("done", "{{ input }}")],
            [edge("start", "done"), edge("open", "done")],
            id="exposed",
        )
    )
    refused = http.post("/api/deployments", json={"flow": exposed})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "confirmation_needed"
    message = refused.json()["message"]
    assert "start (unsigned webhook)" in message and "open (public endpoint)" in message
    assert "aerostudio deploy --yes" in message
    assert {(i["code"], i["node_id"], i["severity"]) for i in refused.json()["issues"]} == {
        ("trigger.unsigned_webhook", "start", "warning"),
        ("trigger.public_endpoint", "open", "warning"),
    }
    assert http.get("/api/deployments", params={"flow_id": "exposed"}).json()["deployments"] == []
    assert http.post("/hooks/exposed", json={}).status_code == 404
    _deploy(http, exposed)
    assert http.post("/hooks/exposed", json={}).status_code == 202


@pytest.mark.parametrize("timestamp", ["NaN", "inf"])
def test_a_stripe_delivery_signed_with_a_timestamp_that_is_no_time_starts_no_run(
    served, http, timestamp
):
    if http.get("/api/workspaces/pay").status_code != 200:
        assert http.post("/api/workspaces", json={"name": "pay"}).status_code == 201
    put = http.put("/api/workspaces/pay/secrets/STRIPE", json={"value": "whsec_k"})
    assert put.status_code in (200, 201, 204), put.text
    hook = trigger(kind="webhook", webhook={"source": "stripe", "secret": {"secret": "STRIPE"}})
    paid = flow([hook, end("done", "paid")], [edge("start", "done")], id="paid", workspace="pay")
    _deploy(http, to_document(paid))
    body = json.dumps({"id": f"evt_{timestamp}", "type": "invoice.paid"}).encode()
    signed = hmac.new(b"whsec_k", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    header = {"Stripe-Signature": f"t={timestamp},v1={signed}"}
    refused = httpx2.post(f"{served.url}/hooks/paid", content=body, headers=header)
    assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")
    assert "whole number of seconds" in refused.json()["message"]
    assert http.get("/api/runs", params={"flow_id": "paid"}).json()["runs"] == []


def test_the_failed_authentication_limit_forgets_the_stalest_addresses():
    from engine.httpguard import FailedAuth

    failed = FailedAuth(limit=2, window_s=60, max_addresses=3)
    assert [failed.failed("a", now=0), failed.failed("a", now=1)] == [0, 0]
    assert failed.failed("a", now=2) == 59  # until the failure at 1 leaves the window
    assert failed.failed("a", now=61) == 0  # it has: one failure (at 2) in the window
    for n, address in enumerate("bcdefg"):
        failed.failed(address, now=100 + n)
    assert len(failed) == 3  # a flood from many addresses stays this size
