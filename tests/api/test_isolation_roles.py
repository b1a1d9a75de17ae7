"""The review's attacks on roles and workspaces, against a real `aerostudio serve` on loopback:
a developer adding a command as a server, a server seeing our environment, a developer using
another workspace's secret, an anonymous caller of a public endpoint reaching for secrets, a
viewer starting side effects, a member reading another workspace's runs, a workspace that is a
path. Each is refused, or contained, and what would have happened otherwise is shown too."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx2
import pytest

from tests.api.served import Served, aerostudio, serving
from tests.flow.builders import document, edge, end, node, trigger

pytestmark = pytest.mark.timeout(180)

LEAKY = Path(__file__).parents[1] / "gateway" / "leaky_server.py"
SECRETS = {"alpha": "alpha-secret-4f1c9e", "beta": "beta-secret-8a2d7b"}
# What a stdio server may find in its environment besides its own config: the SDK's few
# (mcp.client.stdio.DEFAULT_INHERITED_ENV_VARS) and what Python sets for a C locale.
INHERITED = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LC_CTYPE"}


class Server(NamedTuple):
    url: str
    admin: dict[str, str]
    developer: dict[str, str]  # of alpha only
    viewer: dict[str, str]  # of alpha and beta
    home: Path  # its data folder


class Listener:
    """A loopback HTTP server that keeps the headers of every request it gets."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.seen.append({k.lower(): v for k, v in self.headers.items()})
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def served_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`aerostudio serve --allow-stdio-servers` on SQLite, with our whole environment (so that
    a server started by it could see it, were it passed on)."""
    home = tmp_path_factory.mktemp("isolation")
    extra = {"AEROSTUDIO_PARENT_ONLY": "the parent's own variable"}
    with serving(home, "--allow-stdio-servers", **extra) as served:
        yield served


@pytest.fixture(scope="module")
def server(served_open: Served) -> Server:
    """Workspaces alpha and beta, each with a secret API_KEY and the leaky server (given a
    variable of its own and no secret), a developer of alpha and a viewer of both."""
    with httpx2.Client(base_url=served_open.url, headers=served_open.admin, timeout=60) as http:
        for slug, value in SECRETS.items():
            assert http.post("/api/workspaces", json={"name": slug}).json()["slug"] == slug
            put = http.put(f"/api/workspaces/{slug}/secrets/API_KEY", json={"value": value})
            assert put.status_code == 200
            leaky = {"command": sys.executable, "args": [str(LEAKY)], "env": {"MARK": "given"}}
            added = http.post(
                f"/api/workspaces/{slug}/servers", json={"name": "leak", "config": leaky}
            )
            assert added.status_code == 201, added.text
        tokens = {}
        for role, workspaces in (("developer", ["alpha"]), ("viewer", ["alpha", "beta"])):
            made = http.post(
                "/api/members", json={"member": f"a {role}", "role": role, "workspaces": workspaces}
            )
            assert made.status_code == 201, made.text
            assert made.json()["workspaces"] == workspaces
            tokens[role] = _bearer(made.json()["token"])
    developer, viewer = tokens["developer"], tokens["viewer"]
    return Server(served_open.url, served_open.admin, developer, viewer, served_open.home)


def _client(server: Server, headers: dict[str, str] | None = None) -> httpx2.Client:
    return httpx2.Client(base_url=server.url, headers=headers or {}, timeout=60)


def _finished(http: httpx2.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        run = http.get(f"/api/runs/{run_id}").json()
        if run["status"] not in ("pending", "running", "queued"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run['status']}"
        time.sleep(0.1)


def _post(node_id: str, url: str) -> dict[str, Any]:
    """An http_request sending the workspace's API_KEY in a header."""
    request = {"method": "POST", "url": url, "headers": {"X-Key": {"secret": "API_KEY"}}}
    return node(node_id, "action", {"action": "http_request", "http_request": request})


def _poster(flow_id: str, workspace: str, url: str, **start: Any) -> dict[str, Any]:
    nodes = [trigger(**start), _post("send", url), end("done", "sent")]
    edges = [edge("start", "send"), edge("send", "done")]
    return document(nodes, edges, id=flow_id, workspace=workspace)


def _environment_flow(flow_id: str, workspace: str, **start: Any) -> dict[str, Any]:
    call = node("call", "mcp_tool", {"tool": "leak__environment"})
    nodes = [trigger(**start), call, end("done", "{{ nodes.call.text }}")]
    edges = [edge("start", "call"), edge("call", "done")]
    return document(nodes, edges, id=flow_id, workspace=workspace)


def _environment(output: str) -> dict[str, str]:
    """The leaky server's environment, from its tool's text."""
    found = json.loads(output)
    plain: dict[str, str] = found.get("result", found)["plain"]
    return plain


def _leaks(text: str) -> list[str]:
    """The planted secrets (or their base64) found in a text."""
    forms = [
        v for value in SECRETS.values() for v in (value, base64.b64encode(value.encode()).decode())
    ]
    return [form for form in forms if form in text]


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


# ------------------------------------------------------------------------------ stdio servers


def test_a_developer_adding_a_shell_as_a_server_is_refused(server: Server) -> None:
    shell = {"command": "/bin/sh", "args": ["-c", "cat $AEROSTUDIO_HOME/master.key"]}
    with _client(server, server.developer) as http:
        refused = http.post("/api/workspaces/alpha/servers", json={"name": "sh", "config": shell})
        assert refused.status_code == 403
        assert "admin role" in refused.json()["message"]
        assert "--allow-stdio-servers" in refused.json()["message"]
        assert "sh" not in {
            s["name"] for s in http.get("/api/workspaces/alpha/servers").json()["servers"]
        }
        changed = http.patch("/api/workspaces/alpha/servers/leak", json={"enabled": False})
        assert changed.status_code == 403  # nor switch an admin's command off and on
        for enabled in (False, True):  # its tools are still a developer's to switch
            tool = {"tool": "say", "enabled": enabled}
            assert http.patch("/api/workspaces/alpha/servers/leak", json=tool).status_code == 200
        remote = {"url": "https://mcp.example.com/mcp"}
        added = http.post("/api/workspaces/alpha/servers", json={"name": "far", "config": remote})
        assert added.status_code == 201, added.text  # a remote server is still a developer's
        assert http.delete("/api/workspaces/alpha/servers/far").status_code == 200


def test_an_admin_adds_a_stdio_server_only_where_the_operator_allowed_it(served: Served) -> None:
    shell = {"command": "/bin/sh", "args": ["-c", "true"]}
    with httpx2.Client(base_url=served.url, headers=served.admin, timeout=60) as http:
        slug = http.post("/api/workspaces", json={"name": "Closed"}).json()["slug"]
        refused = http.post(f"/api/workspaces/{slug}/servers", json={"name": "sh", "config": shell})
        assert (refused.status_code, refused.json()["error"]) == (403, "stdio_servers_off")
        assert "aerostudio serve --allow-stdio-servers" in refused.json()["message"]
        assert http.get(f"/api/workspaces/{slug}/servers").json()["servers"] == []
        # and on each database, a member's workspaces are kept with their token
        made = http.post(
            "/api/members", json={"member": "dee", "role": "developer", "workspaces": [slug]}
        ).json()
        me = http.get("/api/me", headers=_bearer(made["token"])).json()
        assert (me["role"], me["workspaces"]) == ("developer", [slug])


def test_a_stdio_server_gets_only_the_environment_it_was_configured_with(server: Server) -> None:
    with _client(server, server.admin) as http:
        started = http.post("/api/runs", json={"flow": _environment_flow("env", "alpha")})
        assert started.status_code == 201, started.text
        run = _finished(http, started.json()["run_id"])
    assert run["status"] == "succeeded", run["error"]
    environment = _environment(run["output"])
    assert environment["MARK"] == "given"
    for ours in ("AEROSTUDIO_HOME", "PYTHON_KEYRING_BACKEND", "AEROSTUDIO_PARENT_ONLY"):
        assert ours not in environment
    assert set(environment) <= INHERITED | {"MARK"}


# ------------------------------------------------------------------------------- workspaces


def test_a_developer_cannot_send_another_workspaces_secret(server: Server, listener) -> None:
    with _client(server, server.developer) as http:
        refused = http.post("/api/runs", json={"flow": _poster("steal", "beta", listener.url)})
        assert refused.status_code == 403
        assert "workspace 'beta'" in refused.json()["message"]
        deployed = http.post(
            "/api/deployments", json={"flow": _poster("steal", "beta", listener.url)}
        )
        assert deployed.status_code == 403
        # the same flow in the developer's own workspace runs, and sends that one's secret
        own = http.post("/api/runs", json={"flow": _poster("own", "alpha", listener.url)})
        assert own.status_code == 201, own.text
        assert _finished(http, own.json()["run_id"])["status"] == "succeeded"
    assert [seen["x-key"] for seen in listener.seen] == [SECRETS["alpha"]]
    with _client(server, server.admin) as http:
        assert http.get("/api/runs", params={"flow_id": "steal"}).json()["runs"] == []


def test_a_flow_cannot_start_a_flow_of_another_workspace(server: Server, listener) -> None:
    flows = server.home / "flows"
    flows.mkdir(exist_ok=True)
    child = _poster("beta-send", "beta", listener.url)
    (flows / "beta-send.flow.json").write_text(json.dumps(child), encoding="utf-8")
    delegate = node("ask", "delegate_to_bot", {"target": "beta-send"})
    parent = document(
        [trigger(), delegate, end("done", "asked")],
        [edge("start", "ask"), edge("ask", "done")],
        id="ask-beta",
        workspace="alpha",
    )
    with _client(server, server.developer) as http:
        started = http.post("/api/runs", json={"flow": parent})
        assert started.status_code == 201, started.text
        run = _finished(http, started.json()["run_id"])
    assert run["status"] == "failed"
    assert "'beta-send' is a flow of workspace 'beta'" in run["error"]["message"]
    assert listener.seen == []


def test_an_anonymous_caller_of_a_public_endpoint_gets_no_secret(server: Server) -> None:
    public = {"kind": "endpoint", "endpoint": {"slug": "beta-env", "auth": "public"}}
    reach = {"secret": "{{ input.name }}"}  # a secret named by the caller
    computed = _poster("named", "beta", "http://127.0.0.1:9/")
    computed["nodes"][1]["config"]["http_request"]["headers"] = {"X-Key": reach}
    with _client(server, server.admin) as http:
        flow = _environment_flow("beta-env", "beta", **public)
        deployed = http.post("/api/deployments", json={"flow": flow, "confirm": True})
        assert deployed.status_code == 201
        refused = http.post("/api/deployments", json={"flow": computed})
        assert refused.status_code == 422, refused.text  # secret names are literal
    with _client(server) as anonymous:
        answer = anonymous.post(
            "/api/run/beta-env", json={"name": "API_KEY", "template": "{{ run }}"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "succeeded", answer.json()
    assert _leaks(answer.text) == []
    environment = _environment(answer.json()["output"])
    assert "AEROSTUDIO_HOME" not in environment  # so it cannot find the vault's key by it
    assert set(environment) <= INHERITED | {"MARK"}


def test_a_viewer_cannot_start_an_endpoints_side_effects(server: Server, listener) -> None:
    keyed = {"kind": "endpoint", "endpoint": {"slug": "alpha-send", "auth": "api_key"}}
    with _client(server, server.admin) as http:
        flow = _poster("alpha-send", "alpha", listener.url, **keyed)
        assert http.post("/api/deployments", json={"flow": flow}).status_code == 201
    with _client(server, server.viewer) as http:
        refused = http.post("/api/run/alpha-send", json={})
        assert (refused.status_code, refused.json()["needs"]) == (403, "developer")
        assert http.post("/api/runs", json={"flow": flow}).status_code == 403
    assert listener.seen == []
    with _client(server, server.admin) as http:
        assert http.get("/api/runs", params={"flow_id": "alpha-send"}).json()["runs"] == []
    with _client(server, server.developer) as http:
        answer = http.post("/api/run/alpha-send", json={})
        assert (answer.status_code, answer.json()["status"]) == (200, "succeeded")
    assert len(listener.seen) == 1


def test_a_member_sees_only_its_workspaces_runs(server: Server) -> None:
    quiet = {"alpha": "", "beta": ""}
    with _client(server, server.admin) as http:
        for slug in quiet:
            made = document(
                [trigger(), end("done", slug)],
                [edge("start", "done")],
                id=f"quiet-{slug}",
                workspace=slug,
            )
            started = http.post("/api/runs", json={"flow": made})
            quiet[slug] = started.json()["run_id"]
            _finished(http, quiet[slug])
        members = {m["member"]: m for m in http.get("/api/members").json()["members"]}
        assert members["a developer"]["workspaces"] == ["alpha"]
        assert members["admin"]["workspaces"] is None
    with _client(server, server.developer) as http:
        assert http.get("/api/me").json()["workspaces"] == ["alpha"]
        listed = {r["run_id"] for r in http.get("/api/runs", params={"limit": 500}).json()["runs"]}
        assert quiet["alpha"] in listed and quiet["beta"] not in listed
        for path in ("", "/events"):
            refused = http.get(f"/api/runs/{quiet['beta']}{path}")
            assert refused.status_code == 403 and "workspace 'beta'" in refused.json()["message"]
        for action in ("cancel", "debug"):
            refused = http.post(f"/api/runs/{quiet['beta']}/{action}", json={"action": "pause"})
            assert refused.status_code == 403
        assert http.get("/api/workspaces/beta/secrets").status_code == 403
        assert {w["slug"] for w in http.get("/api/workspaces").json()["workspaces"]} == {"alpha"}
        assert "quiet-beta" not in {
            d["flow_id"] for d in http.get("/api/deployments").json()["deployments"]
        }
    with _client(server, server.admin) as http:
        for bad in (["nowhere"], ["../x"], "alpha"):
            made = http.post(
                "/api/members", json={"member": "x", "role": "viewer", "workspaces": bad}
            )
            assert made.status_code == 400, (bad, made.text)


def _member_token(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`aerostudio member-token ARGS` on the server's host (its data folder)."""
    return aerostudio(home, "member-token", *args, check=False)


def test_the_member_cli_gives_a_token_in_the_workspaces_named(server: Server) -> None:
    made = _member_token(server.home, "--member", "cli", "--role", "viewer", "--workspace", "beta")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().rsplit(": ", 1)[1]
    with _client(server, _bearer(token)) as http:
        me = http.get("/api/me").json()
        assert (me["member"], me["role"], me["workspaces"]) == ("cli", "viewer", ["beta"])
        assert http.get("/api/workspaces/alpha/servers").status_code == 403
    unknown = _member_token(server.home, "--member", "x", "--workspaces", "beta,nowhere")
    assert unknown.returncode != 0 and "no workspace 'nowhere'" in unknown.stderr


def test_a_flow_whose_workspace_is_a_path_is_refused(server: Server) -> None:
    escaping = document([trigger(), end("done")], [edge("start", "done")], workspace="../x")
    with _client(server, server.admin) as http:
        for path in ("/api/runs", "/api/deployments"):
            refused = http.post(path, json={"flow": escaping})
            assert refused.status_code == 422, refused.text
            assert "workspace '../x' is not a workspace slug" in refused.json()["message"]
        issues = http.post("/api/flows/validate", json={"flow": escaping}).json()["issues"]
        assert [(i["code"], i["field"]) for i in issues] == [("flow.bad_workspace", "workspace")]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_version_4_database_gains_members_workspaces(tmp_path, request, database) -> None:
    """Members made before workspaces belong to none (admins to all) after the upgrade."""
    import sqlalchemy as sa

    from engine.api.members import SERVER
    from engine.gateway.tokens import ServerTokens
    from engine.store import create_engine, migrate
    from engine.store.migrate import VERSION
    from engine.store.tables import settings

    given = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    engine = create_engine(given or f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate(engine)
    tokens = ServerTokens(engine)
    _, admin = tokens.create(SERVER, "ada", "admin")
    _, developer = tokens.create(SERVER, "dev", "developer", workspaces=["alpha"])
    with engine.begin() as db:
        db.execute(sa.text("ALTER TABLE aero_server_tokens DROP COLUMN workspaces"))
        db.execute(settings.update().values(value=4))
    assert migrate(engine) == VERSION
    assert tokens.authenticate(admin, SERVER).workspaces is None
    assert tokens.authenticate(developer, SERVER).workspaces == frozenset()
    _, newer = tokens.create(SERVER, "eve", "viewer", workspaces=["beta", "alpha"])
    assert tokens.authenticate(newer, SERVER).workspaces == {"alpha", "beta"}
    assert [t.workspaces for t in tokens.all(SERVER)] == [None, (), ("alpha", "beta")]
