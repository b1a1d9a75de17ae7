"""Roles on every route of the engine API, over HTTP on loopback: the routes are read from the
app itself, so a route added without its place in ROLES below fails here."""

from __future__ import annotations

import re

import httpx2
import pytest
from starlette.routing import Route

from engine.api.app import EngineApi
from engine.api.members import SERVER
from engine.gateway.tokens import ServerTokens
from tests.api.test_api import TOKEN, running_api

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

# The least role each route needs; "public" ones check their own key or signature, or nothing.
ROLES = {
    ("GET", "/api/health"): "public",
    ("GET", "/api/openapi.json"): "public",
    ("POST", "/api/run/{slug}"): "public",
    ("POST", "/hooks/{flow_id}"): "public",
    ("GET", "/api/me"): "viewer",
    ("GET", "/api/members"): "admin",
    ("POST", "/api/members"): "admin",
    ("DELETE", "/api/members/{token_id}"): "admin",
    ("POST", "/api/flows/validate"): "developer",
    ("GET", "/api/runs"): "viewer",
    ("POST", "/api/runs"): "developer",
    ("GET", "/api/runs/{run_id}"): "viewer",
    ("GET", "/api/runs/{run_id}/events"): "viewer",
    ("POST", "/api/runs/{run_id}/cancel"): "developer",
    ("POST", "/api/runs/{run_id}/resume"): "developer",
    ("POST", "/api/runs/{run_id}/debug"): "developer",
    ("GET", "/api/deployments"): "viewer",
    ("POST", "/api/deployments"): "developer",
    ("GET", "/api/deployments/{flow_id}/flow"): "viewer",
    ("GET", "/api/deployments/{flow_id}/diff"): "viewer",
    ("POST", "/api/deployments/{flow_id}/activate"): "developer",
    ("POST", "/api/deployments/{flow_id}/deactivate"): "developer",
    ("GET", "/api/workspaces"): "viewer",
    ("POST", "/api/workspaces"): "admin",
    ("GET", "/api/workspaces/{slug}/servers"): "viewer",
    ("POST", "/api/workspaces/{slug}/servers"): "developer",
    ("PATCH", "/api/workspaces/{slug}/servers/{name}"): "developer",
    ("DELETE", "/api/workspaces/{slug}/servers/{name}"): "developer",
    ("GET", "/api/workspaces/{slug}/servers/{name}/tools"): "developer",
    ("GET", "/api/workspaces/{slug}/tools"): "viewer",
    ("GET", "/api/workspaces/{slug}/secrets"): "viewer",
    ("PUT", "/api/workspaces/{slug}/secrets/{name}"): "admin",
    ("DELETE", "/api/workspaces/{slug}/secrets/{name}"): "admin",
    ("GET", "/api/workspaces/{slug}/tokens"): "admin",
    ("POST", "/api/workspaces/{slug}/tokens"): "admin",
    ("DELETE", "/api/workspaces/{slug}/tokens/{token_id}"): "admin",
    ("PATCH", "/api/workspaces/{slug}/tokens/{token_id}"): "admin",
    ("GET", "/api/workspaces/{slug}/rate-limit"): "viewer",
    ("PUT", "/api/workspaces/{slug}/rate-limit"): "admin",
    ("GET", "/api/workspaces/{slug}/usage"): "viewer",
    ("GET", "/api/workspaces/{slug}/calls"): "viewer",
    ("POST", "/api/workspaces/{slug}/client-config/{editor}"): "viewer",
    ("GET", "/api/retention"): "viewer",
    ("PUT", "/api/retention"): "admin",
    ("POST", "/api/retention/prune"): "admin",
}
RANK = {"viewer": 1, "developer": 2, "admin": 3}
ANONYMOUS = [{}, {"Authorization": "Basic YWRtaW46YWRtaW4="}]  # no token, another scheme
# A made-up token and one that is not ours count toward the address's failed-authentication
# limit (engine.httpguard.FailedAuth): they are tried on the first route of each role, where
# the guard is the one every route has.
BAD_TOKENS = [
    {"Authorization": "Bearer aero_0123456789ab_made-up"},
    {"Authorization": "Bearer not-ours"},
]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _declared(api: EngineApi) -> dict[tuple[str, str], str]:
    return {
        (method, route.path): route.endpoint.role
        for route in api.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def test_every_route_declares_the_role_this_table_expects(tmp_path):
    from engine.run.durable import DurableRuntime
    from tests.gateway_fixtures import temporary_gateway

    gateway = temporary_gateway(tmp_path)
    runtime = DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    assert _declared(EngineApi(runtime, gateway, TOKEN)) == ROLES


@pytest.fixture
async def server(tmp_path, monkeypatch):
    """The API on loopback, and a token per role: server members (in the workspace the made-up
    paths name, so that only their role decides), and the runtime's own."""
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEROSTUDIO_MAX_AUTH_FAILURES", "1000")  # every route refuses bad tokens
    async with running_api(tmp_path) as (_client, base, gateway):
        tokens = ServerTokens(gateway.engine)
        callers = {
            role: tokens.create(SERVER, f"a {role}", role, workspaces=["nothing-here"])[1]
            for role in RANK
        }
        yield base, {**callers, "runtime": TOKEN}


def _request(method: str, path: str) -> dict:
    """A request for the route with made-up path parameters and an empty body."""
    url = re.sub(r"\{\w+\}", "nothing-here", path)
    return {"method": method, "url": url, **({"json": {}} if method != "GET" else {})}


async def test_each_role_gets_exactly_what_its_route_declares(server):
    base, callers = server
    tried: set[str] = set()
    async with httpx2.AsyncClient(base_url=base, timeout=60) as http:
        for (method, path), needed in ROLES.items():
            request = _request(method, path)
            where = f"{method} {path}"
            refused = ANONYMOUS + (BAD_TOKENS if needed not in tried else [])
            tried.add(needed)
            for headers in refused:
                answer = await http.request(**request, headers=headers)
                if needed == "public":
                    assert answer.status_code not in (401, 403), where
                    continue
                assert answer.status_code == 401, where
                assert answer.headers["WWW-Authenticate"] == 'Bearer realm="aerostudio"', where
            if needed == "public":
                continue
            for caller, token in callers.items():
                answer = await http.request(**request, headers={"Authorization": f"Bearer {token}"})
                role = "admin" if caller == "runtime" else caller
                if RANK[role] >= RANK[needed]:
                    assert answer.status_code not in (401, 403), (where, caller, answer.text)
                    assert answer.status_code < 500, (where, caller, answer.text)
                else:
                    assert answer.status_code == 403, (where, caller)
                    assert answer.json()["needs"] == needed, where
                    assert f"needs the {needed} role" in answer.json()["message"], where


async def test_me_says_who_and_what_role(server):
    base, callers = server
    async with httpx2.AsyncClient(base_url=base) as http:
        for caller, token in callers.items():
            me = (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
            expected = ("runtime", "admin") if caller == "runtime" else (f"a {caller}", caller)
            assert (me["member"], me["role"]) == expected
            admin = caller in ("admin", "runtime")
            assert me["workspaces"] == (None if admin else ["nothing-here"])
