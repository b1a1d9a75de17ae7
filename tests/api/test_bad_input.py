"""What the API refuses, refused alike on SQLite and PostgreSQL with a 400 naming the field:
each test is a server error (500) the fuzzer (test_fuzz.py) found, or one of its kind, on
PostgreSQL, which keeps no NUL character in text and enforces a `String(n)`'s length."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from engine.flow import to_document
from tests.api.served import Served
from tests.flow.builders import edge, end, flow, trigger

pytestmark = pytest.mark.timeout(120)
CHAIN = to_document(flow([trigger(), end("done", "hi {{ input.name }}")], [edge("start", "done")]))


@pytest.fixture
def http(served: Served) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=served.url, headers=served.admin, timeout=60) as client:
        yield client


def _refused(response: httpx2.Response, message: str, code: str = "bad_request") -> None:
    assert (response.status_code, response.json()) == (400, {"error": code, "message": message})


def test_a_nul_in_a_path_or_query_parameter_is_refused_naming_it(http):
    _refused(
        http.get("/api/deployments", params={"flow_id": "a\x00"}),
        "flow_id: contains a NUL character",
    )
    _refused(http.get("/api/runs/a%00b"), "run_id: contains a NUL character")
    _refused(http.get("/api/workspaces/te%00am/servers"), "slug: contains a NUL character")
    _refused(http.delete("/api/members/x%00"), "token_id: contains a NUL character")
    _refused(http.post("/hooks/a%00"), "flow_id: contains a NUL character")


def test_names_too_long_or_with_a_nul_are_refused_and_nothing_is_made(http):
    _refused(
        http.post("/api/workspaces", json={"name": "a\x00b"}), "name: contains a NUL character"
    )
    _refused(http.post("/api/workspaces", json={"name": "w" * 201}), "name: at most 200 characters")
    assert http.post("/api/workspaces", json={"name": "w" * 200}).status_code == 201
    added = http.post("/api/workspaces", json={"name": "names"})
    assert added.status_code == 201, added.text
    for path in ("/api/members", "/api/workspaces/names/tokens"):
        member = {"member": "m" * 129, "role": "viewer"}
        _refused(http.post(path, json=member), "member: at most 128 characters")
        _refused(
            http.post(path, json={**member, "member": "m\x00"}), "member: contains a NUL character"
        )
    assert [m["member"] for m in http.get("/api/members").json()["members"]] == ["admin"]
    assert http.get("/api/workspaces/names/tokens").json()["tokens"] == []
    server = {"name": "s", "config": {"url": "http://127.0.0.1:9/mcp"}}
    assert http.post("/api/workspaces/names/servers", json=server).status_code == 201
    switch = "/api/workspaces/names/servers/s"
    _refused(
        http.patch(switch, json={"tool": "t" * 201, "enabled": False}),
        "tool: at most 200 characters",
    )
    _refused(
        http.patch(switch, json={"tool": "t\x00", "enabled": False}),
        "tool: contains a NUL character",
    )


def test_a_body_with_a_nul_anywhere_is_refused_naming_where(http):
    run = {"flow": CHAIN, "input": {"names": ["ana", "b\x00b"]}}
    _refused(http.post("/api/runs", json=run), "input.names[1]: contains a NUL character")
    rerun = {"flow": CHAIN, "from_run": "r\x00", "from_node": "done"}
    _refused(http.post("/api/runs", json=rerun), "from_run: contains a NUL character")
    keyed = {"flow": CHAIN, "input": {"k\x00": 1}}
    _refused(http.post("/api/runs", json=keyed), "a key in input: contains a NUL character")
    assert http.get("/api/runs").json()["runs"] == []


def test_nan_and_infinity_are_not_json_and_make_nothing(http):
    """A token expiring at NaN was made, then its answer (and every later listing of the
    members, on PostgreSQL which keeps the NaN) failed to render."""
    for number in (b"NaN", b"Infinity", b"1e999"):
        body = b'{"member": "nan", "role": "viewer", "expires_in_s": ' + number + b"}"
        refused = http.post("/api/members", content=body)
        assert (refused.status_code, refused.json()["error"]) == (400, "bad_json")
        assert number.decode() in refused.json()["message"]
    listed = http.get("/api/members")
    assert listed.status_code == 200
    assert [m["member"] for m in listed.json()["members"]] == ["admin"]


def test_since_is_a_finite_unix_time(http):
    assert http.post("/api/workspaces", json={"name": "times"}).status_code == 201
    for path in ("/api/workspaces/times/usage", "/api/workspaces/times/calls"):
        for since in ("nan", "inf", "-inf", "yesterday"):
            given = http.get(path, params={"since": since})
            _refused(given, f"since: a Unix time in seconds, not '{since}'")
        assert http.get(path, params={"since": "1700000000.5"}).status_code == 200


def test_both_token_routes_want_a_positive_number_of_seconds(http):
    assert http.post("/api/workspaces", json={"name": "expiry"}).status_code == 201
    for path in ("/api/members", "/api/workspaces/expiry/tokens"):
        for expires in (-5, 0, "60", True, 10**400):
            given = {"member": "m", "role": "viewer", "expires_in_s": expires}
            _refused(http.post(path, json=given), "expires_in_s: a positive number of seconds")
        made = http.post(path, json={"member": "m", "role": "viewer", "expires_in_s": 60})
        assert made.status_code == 201 and made.json()["expires_at"] > made.json()["created_at"]


def test_a_webhook_delivery_id_past_200_characters_is_refused_and_runs_nothing(http):
    hook = flow(
        [trigger(kind="webhook", webhook={"source": "generic"}), end("done", "{{ input }}")],
        [edge("start", "done")],
        id="hooked",
    )
    deployed = http.post("/api/deployments", json={"flow": to_document(hook), "confirm": True})
    assert deployed.status_code == 201
    delivery = {"x-aerostudio-delivery": "d" * 201}
    refused = http.post("/hooks/hooked", json={"a": 1}, headers=delivery)
    _refused(refused, "the delivery id: at most 200 characters")
    assert http.get("/api/runs", params={"flow_id": "hooked"}).json()["runs"] == []


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_a_call_to_an_unknown_tool_of_any_name_is_logged(served, http):
    """The call log cleans and cuts what a client names (a NUL, 300 characters) rather than
    failing the call with PostgreSQL's error."""
    assert http.post("/api/workspaces", json={"name": "calls"}).status_code == 201
    token = http.post("/api/workspaces/calls/tokens", json={"member": "ed", "role": "developer"})
    name = "nope__" + "x\x00" * 150
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token.json()['token']}"}) as mcp,
        Client(streamable_http_client(f"{served.url}/ws/calls/mcp", http_client=mcp)) as client,
    ):
        with pytest.raises(MCPError, match="no server 'nope'"):
            await client.call_tool(name, {})
    [call] = http.get("/api/workspaces/calls/calls").json()["calls"]
    assert call["tool"] == name.replace("\x00", "\ufffd")[:200]
    assert (call["server"], call["outcome"]) == ("nope", "error")
