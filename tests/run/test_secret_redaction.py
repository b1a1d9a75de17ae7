"""A tool that echoes its environment, a tool error and an HTTP answer that repeat a secret: the
secret is in none of what a run stores or streams (node records, events in the store and on the
API stream, `run --json`, the run's output and errors, the call log), while the node that uses
it by reference still sends the real value. The data folder is private (0700, files 0600)."""

from __future__ import annotations

import json
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
import pytest

from engine.redaction import MARKER
from tests.api.served import serving
from tests.flow.builders import document, edge, end, node, trigger
from tests.planted import NAME, PLANTED, assert_clean, clean_cli, leaks

pytestmark = pytest.mark.timeout(240)
LEAKY = Path(__file__).parents[1] / "gateway" / "leaky_server.py"


class EchoHeaders:
    """A loopback HTTP server that answers each GET with the headers it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                echo.received.append(dict(self.headers))
                body = json.dumps({"headers": dict(self.headers)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/echo"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def echo() -> Iterator[EchoHeaders]:
    server = EchoHeaders()
    yield server
    server.server.shutdown()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data folder with workspace `ops`: the planted secret, and the leaky server given it."""
    home = tmp_path / "home"
    clean_cli(home, "workspace", "create", "ops")
    clean_cli(home, "secret", "set", "-w", "ops", NAME, stdin=PLANTED)
    clean_cli(
        home,
        "server",
        "add",
        "-w",
        "ops",
        "leaky",
        "--command",
        sys.executable,
        "--arg",
        str(LEAKY),
        "--env-secret",
        f"{NAME}={NAME}",
    )
    return home


def _flow(url: str) -> dict:
    nodes = [
        trigger(),
        node("env", "mcp_tool", {"tool": "leaky__environment", "arguments": {}}),
        node(
            "call",
            "action",
            {
                "action": "http_request",
                "http_request": {"url": url, "headers": {"X-Token": {"secret": NAME}}},
            },
        ),
        node("refuse", "mcp_tool", {"tool": "leaky__refuse", "arguments": {"name": NAME}}),
        end("oops", "{{ error.message }}"),
    ]
    edges = [
        edge("start", "env"),
        edge("env", "call"),
        edge("call", "refuse"),
        edge("refuse", "oops", "error"),
    ]
    return document(nodes, edges, workspace="ops")


def _check_events(events: list[dict], where: str) -> None:
    """The leaks were there to be redacted, and were."""
    assert_clean(json.dumps(events, ensure_ascii=False), where)
    finished = {e["node_id"]: e for e in events if e["type"] == "node_finished"}
    shown = finished["env"]["output"]["structured"]
    assert shown["plain"][NAME] == MARKER and shown["base64"][NAME] == MARKER
    assert shown["plain"]["PATH"]  # the environment really was shown
    assert finished["call"]["output"]["json"]["headers"]["X-Token"] == MARKER
    assert MARKER in finished["oops"]["output"]
    [failed] = [e for e in events if e["type"] == "node_failed"]
    assert MARKER in failed["error"]["message"]
    [result] = [e for e in events if e["type"] == "tool_result" and e["node_id"] == "env"]
    assert_clean(json.dumps(result), where)


def _check_private(home: Path) -> None:
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    loose = [
        f"{path.relative_to(home)} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in home.rglob("*")
        if path.stat().st_mode & 0o077
    ]
    assert not loose, f"readable by others: {loose}"


def test_run_json_the_store_and_the_call_log_hold_no_secret(home, echo, tmp_path):
    path = tmp_path / "leaks.flow.json"
    path.write_text(json.dumps(_flow(echo.url)))
    done = clean_cli(home, "run", str(path), "--json")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    _check_events(events, "run --json")
    # the node that uses the secret sent the real value
    assert [h.get("X-Token") for h in echo.received] == [PLANTED]
    log = clean_cli(home, "log", "-w", "ops", "--json").stdout
    assert "tool_error" in log and MARKER in log
    assert not list(leaks(home))  # runs.sqlite (events, records, runs), gateway.sqlite (log)
    _check_private(home)


def test_the_api_stream_and_run_detail_hold_no_secret(home, echo):
    with (
        serving(home) as served,
        httpx2.Client(base_url=served.url, timeout=httpx2.Timeout(120)) as http,
    ):
        auth = served.admin
        started = http.post("/api/runs", json={"flow": _flow(echo.url)}, headers=auth)
        assert started.status_code == 201, started.text
        run_id = started.json()["run_id"]
        stream = http.get(f"/api/runs/{run_id}/events", headers=auth).text
        events = [json.loads(line[5:]) for line in stream.splitlines() if line[:5] == "data:"]
        assert events[-1]["type"] == "run_finished"
        _check_events(events, "the API's event stream")
        detail = http.get(f"/api/runs/{run_id}", headers=auth).text
        assert_clean(detail, "GET /api/runs/{id}")
        assert MARKER in detail
    assert [h.get("X-Token") for h in echo.received] == [PLANTED]
    assert not list(leaks(home))
    _check_private(home)


class OnlyGets:
    """A secret lookup that cannot list its values: the run learns each one as it reads it."""

    async def get_secret(self, workspace: str, name: str) -> str:
        assert (workspace, name) == ("ops", NAME)
        return PLANTED


@pytest.mark.anyio
async def test_a_value_read_by_reference_is_redacted_in_process(echo):
    from engine.flow import from_document
    from engine.run import Runtime, Services

    nodes = [
        trigger(),
        node(
            "call",
            "action",
            {
                "action": "http_request",
                "http_request": {
                    "url": echo.url,
                    "auth": {"scheme": "bearer", "secret": {"secret": NAME}},
                },
            },
        ),
        end("done", "{{ nodes.call.json.headers.Authorization }}"),
    ]
    flow = from_document(
        document(nodes, [edge("start", "call"), edge("call", "done")], workspace="ops")
    )
    handle = Runtime(Services(secrets=OnlyGets())).start(flow, {})
    result = await handle.result()
    assert (result.status, result.output) == ("succeeded", f"Bearer {MARKER}")
    assert [h["Authorization"] for h in echo.received] == [f"Bearer {PLANTED}"]
    assert_clean(json.dumps(handle.events.history), "the in-process run's events")
