"""Importing editors' MCP files into a workspace, printing our entry for them, and the stdio
bridge that lets stdio-only editors reach the gateway."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from mcp import Client, MCPError, StdioServerParameters
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import INVALID_PARAMS
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.gateway.bridge import main as bridge_main
from engine.gateway.editors import (
    ConfigError,
    ImportedServer,
    client_config,
    read_config,
)

REPO = Path(__file__).resolve().parents[2]
TOKEN = "aero_bridge_test_token_5f1c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CLAUDE_DESKTOP = """{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_abc123"}
    },
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]
    },
    "brave search": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-brave-search"],
      "env": {"BRAVE_API_KEY": "BSA-xyz", "DEBUG": ""}
    }
  }
}"""


def test_claude_desktop_stdio_servers_move_env_values_to_the_vault(tmp_path):
    path = write(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    assert read_config(path) == [
        ImportedServer(
            name="github",
            config={
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github"],
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": {"secret": "GITHUB_PERSONAL_ACCESS_TOKEN"}},
            },
            secrets={"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_abc123"},
        ),
        ImportedServer(
            name="filesystem",
            config={
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
                "env": {},
            },
        ),
        ImportedServer(
            name="brave_search",
            config={
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-brave-search"],
                "env": {"BRAVE_API_KEY": {"secret": "BRAVE_API_KEY"}, "DEBUG": ""},
            },
            secrets={"BRAVE_API_KEY": "BSA-xyz"},
        ),
    ]


def test_cursor_remote_servers_keep_url_and_move_headers_to_the_vault(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTRY_TOKEN", "sntrys_42")
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    path = write(
        tmp_path / ".cursor" / "mcp.json",
        """{
  "mcpServers": {
    "linear": {"url": "https://mcp.linear.app/sse"},
    "context7": {
      "url": "https://mcp.context7.com/mcp",
      "headers": {"CONTEXT7_API_KEY": "ctx7-secret"}
    },
    "sentry": {
      "url": "https://mcp.sentry.dev/mcp",
      "headers": {"Authorization": "Bearer ${env:SENTRY_TOKEN}"}
    },
    "notes": {"command": "notes-mcp", "args": ["--root", "${env:DATA_DIR}/notes"]}
  }
}""",
    )
    assert read_config(path) == [
        ImportedServer(
            name="linear",
            config={"url": "https://mcp.linear.app/sse", "transport": "sse", "headers": {}},
        ),
        ImportedServer(
            name="context7",
            config={
                "url": "https://mcp.context7.com/mcp",
                "transport": "http",
                "headers": {"CONTEXT7_API_KEY": {"secret": "CONTEXT7_CONTEXT7_API_KEY"}},
            },
            secrets={"CONTEXT7_CONTEXT7_API_KEY": "ctx7-secret"},
        ),
        ImportedServer(
            name="sentry",
            config={
                "url": "https://mcp.sentry.dev/mcp",
                "transport": "http",
                "headers": {"Authorization": {"secret": "SENTRY_AUTHORIZATION"}},
            },
            secrets={"SENTRY_AUTHORIZATION": "Bearer sntrys_42"},
        ),
        ImportedServer(
            name="notes",
            config={"command": "notes-mcp", "args": ["--root", "/srv/data/notes"], "env": {}},
        ),
    ]


VSCODE = """{
  // Asked for once by VS Code, then kept in its secret storage
  "inputs": [
    {
      "type": "promptString",
      "id": "perplexity-key",
      "description": "Perplexity API Key",
      "password": true,
    },
  ],
  "servers": {
    /* A local server, with a .env file
       next to the workspace */
    "perplexity": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "server-perplexity-ask"],
      "env": {
        "PERPLEXITY_API_KEY": "${input:perplexity-key}",
        "PROJECT": "${env:PROJECT_ROOT}",
        "DOCS_URL": "https://docs.example.com//not-a-comment/*nor-this*/", // a comment
      },
      "envFile": "${workspaceFolder}/.env",
    },
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {"Authorization": "Bearer ${input:github-pat}"},
    },
    "events": {
      "type": "sse",
      "url": "http://localhost:3001/events",
      "headers": {"X-Team": "${env:AEROSTUDIO_TEST_UNSET}"},
    },
  },
}"""


def test_vscode_inputs_and_unset_env_are_listed_as_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PROJECT_ROOT", "/srv/project")
    monkeypatch.delenv("AEROSTUDIO_TEST_UNSET", raising=False)
    write(
        tmp_path / ".env", "# local settings\nLOG_LEVEL=debug\nexport API_BASE='https://a.test'\n"
    )
    path = write(tmp_path / ".vscode" / "mcp.json", VSCODE)
    assert read_config(path) == [
        ImportedServer(
            name="perplexity",
            config={
                "command": "npx",
                "args": ["-y", "server-perplexity-ask"],
                "env": {
                    "LOG_LEVEL": {"secret": "LOG_LEVEL"},
                    "API_BASE": {"secret": "API_BASE"},
                    "PERPLEXITY_API_KEY": {"secret": "PERPLEXITY_KEY"},
                    "PROJECT": {"secret": "PROJECT_ROOT"},
                    "DOCS_URL": {"secret": "DOCS_URL"},
                },
            },
            secrets={
                "LOG_LEVEL": "debug",
                "API_BASE": "https://a.test",
                "PROJECT_ROOT": "/srv/project",
                "DOCS_URL": "https://docs.example.com//not-a-comment/*nor-this*/",
            },
            missing=["PERPLEXITY_KEY"],
        ),
        ImportedServer(
            name="github",
            config={
                "url": "https://api.githubcopilot.com/mcp/",
                "transport": "http",
                "headers": {"Authorization": {"secret": "GITHUB_AUTHORIZATION"}},
            },
            missing=["GITHUB_AUTHORIZATION"],
        ),
        ImportedServer(
            name="events",
            config={
                "url": "http://localhost:3001/events",
                "transport": "sse",
                "headers": {"X-Team": {"secret": "AEROSTUDIO_TEST_UNSET"}},
            },
            missing=["AEROSTUDIO_TEST_UNSET"],
        ),
    ]


def test_vscode_settings_json_nests_servers_under_mcp(tmp_path):
    path = write(
        tmp_path / "settings.json",
        """{
  "editor.fontSize": 14,
  "mcp": {
    "servers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}},
  },
}""",
    )
    [server] = read_config(path)
    assert server == ImportedServer(
        name="time", config={"command": "uvx", "args": ["mcp-server-time"], "env": {}}
    )


def test_windsurf_server_url_and_clashing_secret_names_get_the_server_prefix(tmp_path):
    image = "ghcr.io/github/github-mcp-server"
    docker = ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", image]
    document = {
        "mcpServers": {
            "figma": {
                "serverUrl": "https://figma.example.com/mcp",
                "headers": {"X-Figma-Token": "figd_123"},
            },
            "github": {
                "command": "docker",
                "args": docker,
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_one"},
            },
            "github enterprise": {
                "command": "docker",
                "args": docker,
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_two"},
            },
            "github again": {
                "command": "docker",
                "args": docker,
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_one"},
            },
        }
    }
    path = write(tmp_path / ".codeium" / "windsurf" / "mcp_config.json", json.dumps(document))
    figma, github, enterprise, again = read_config(path)
    assert figma == ImportedServer(
        name="figma",
        config={
            "url": "https://figma.example.com/mcp",
            "transport": "http",
            "headers": {"X-Figma-Token": {"secret": "FIGMA_X_FIGMA_TOKEN"}},
        },
        secrets={"FIGMA_X_FIGMA_TOKEN": "figd_123"},
    )
    assert github.secrets == {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_one"}
    assert enterprise.name == "github_enterprise"
    assert enterprise.config["env"] == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": {"secret": "GITHUB_ENTERPRISE_GITHUB_PERSONAL_ACCESS_TOKEN"}
    }
    assert enterprise.secrets == {"GITHUB_ENTERPRISE_GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_two"}
    assert again.secrets == {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_one"}


def test_server_names_are_sanitised_shortened_and_kept_unique(tmp_path):
    long_name = "my.server " + "x" * 80
    document = {
        "mcpServers": {
            long_name: {"command": "a"},
            "my server": {"command": "b"},
            "my_server": {"command": "c"},
        }
    }
    path = write(tmp_path / "mcp.json", json.dumps(document))
    assert [s.name for s in read_config(path)] == [
        ("my_server_" + "x" * 80)[:64],
        "my_server",
        "my_server-2",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"mcpServers": {\n  "a": {"command": "x"}\n  "b": {"command": "y"}\n}}',
            "not JSON at line 3, column 3",
        ),
        ('{"globalShortcut": "Ctrl+Space"}', "no servers found"),
        ('{"mcpServers": {}}', "no servers found"),
        ("[1, 2]", "expected a JSON object"),
        ('{"mcpServers": {"broken": {"args": ["-y"]}}}', "server 'broken' has neither"),
        ('{"mcpServers": {"odd": "npx"}}', "server 'odd' is not a JSON object"),
        ('{"mcpServers": {"a": {"command": "x", "env": ["A=1"]}}}', '"env" that is not an'),
        (
            '{"servers": {"a": {"command": "x", "args": ["${input:path}"]}}}',
            "uses ${input:path} in args",
        ),
    ],
)
def test_config_errors_name_the_file_and_the_problem(tmp_path, text, expected):
    path = write(tmp_path / "mcp.json", text)
    with pytest.raises(ConfigError) as error:
        read_config(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_unset_env_in_a_command_is_an_error_and_a_missing_file_too(tmp_path, monkeypatch):
    monkeypatch.delenv("AEROSTUDIO_TEST_UNSET", raising=False)
    path = write(
        tmp_path / "mcp.json", '{"mcpServers": {"a": {"url": "${env:AEROSTUDIO_TEST_UNSET}"}}}'
    )
    with pytest.raises(ConfigError, match=r"uses \$\{env:AEROSTUDIO_TEST_UNSET\} in url"):
        read_config(path)
    with pytest.raises(ConfigError, match="cannot read the file"):
        read_config(tmp_path / "absent.json")
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"mcpServers": {"caf\xe9": {"command": "x"}}}')
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 20\)"):
        read_config(latin)
    envfile = write(
        tmp_path / "envfile.json", '{"servers": {"a": {"command": "x", "envFile": "missing.env"}}}'
    )
    with pytest.raises(ConfigError, match=r"envFile .*missing\.env cannot be read"):
        read_config(envfile)


@pytest.mark.parametrize(
    ("client", "file_name"),
    [
        ("cursor", ".cursor/mcp.json"),
        ("vscode", ".vscode/mcp.json"),
        ("windsurf", ".codeium/windsurf/mcp_config.json"),
    ],
)
def test_printed_remote_entries_read_back_as_the_same_server(tmp_path, client, file_name):
    url = "http://127.0.0.1:8765/ws/demo/mcp"
    printed = client_config(client, url, "aero_abc", "demo")
    [server] = read_config(write(tmp_path / file_name, json.dumps(printed)))
    assert server == ImportedServer(
        name="aerostudio-demo",
        config={
            "url": url,
            "transport": "http",
            "headers": {"Authorization": {"secret": "AEROSTUDIO_DEMO_AUTHORIZATION"}},
        },
        secrets={"AEROSTUDIO_DEMO_AUTHORIZATION": "Bearer aero_abc"},
    )


def test_printed_claude_entry_launches_the_bridge_with_the_token_in_env(tmp_path):
    url = "http://127.0.0.1:8765/ws/demo/mcp"
    printed = client_config("claude", url, "aero_abc", "demo")
    entry = printed["mcpServers"]["aerostudio-demo"]
    assert "aero_abc" not in json.dumps(entry["args"])
    [server] = read_config(write(tmp_path / "claude_desktop_config.json", json.dumps(printed)))
    assert server == ImportedServer(
        name="aerostudio-demo",
        config={
            "command": sys.executable,
            "args": ["-m", "engine", "bridge", "--url", url],
            "env": {"AEROSTUDIO_TOKEN": {"secret": "AEROSTUDIO_TOKEN"}},
        },
        secrets={"AEROSTUDIO_TOKEN": "aero_abc"},
    )


def test_unknown_client_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown client 'zed': use one of claude, cursor"):
        client_config("zed", "http://h/ws/x/mcp", "aero_abc", "x")


def test_bridge_without_a_token_says_which_variable_to_set(monkeypatch, capsys):
    monkeypatch.delenv("AEROSTUDIO_TOKEN", raising=False)
    assert bridge_main(["--url", "http://127.0.0.1:1/ws/demo/mcp"]) == 2
    assert "set AEROSTUDIO_TOKEN" in capsys.readouterr().err


class RequireBearer:
    """What the gateway does with tokens, in miniature: a wrong one is a plain 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = dict(scope.get("headers", [])).get(b"authorization")
        if scope["type"] == "http" and authorization != self.expected:
            await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def gateway_app() -> ASGIApp:
    server = MCPServer("gateway")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def fail() -> str:
        """Fails as a tool result."""
        raise ToolError("the order service is down")

    @server.tool()
    def refuse(order_id: str) -> str:
        """Fails as a protocol error."""
        raise MCPError(code=INVALID_PARAMS, message=f"order {order_id} does not exist")

    @server.resource("orders://recent", mime_type="text/plain")
    def recent_orders() -> str:
        return "A-1001, A-1002"

    @server.prompt()
    def summarise(order_id: str) -> str:
        """Summarise an order."""
        return f"Summarise order {order_id}."

    return RequireBearer(server.streamable_http_app(streamable_http_path="/ws/demo/mcp"), TOKEN)


@pytest.fixture
async def gateway_url() -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(gateway_app(), log_level="warning"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        if task.done():
            task.result()
        assert loop.time() < deadline, "the test gateway did not start"
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/ws/demo/mcp"
    server.should_exit = True
    await task
    sock.close()


def bridge(url: str, token: str) -> StdioServerParameters:
    code = f"from engine.gateway.bridge import main; main(['--url', {url!r}])"
    return StdioServerParameters(
        command=sys.executable, args=["-c", code], env={"AEROSTUDIO_TOKEN": token}, cwd=REPO
    )


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_bridge_lists_and_calls_gateway_tools_over_stdio(gateway_url):
    async with Client(bridge(gateway_url, TOKEN)) as client:
        tools = await client.list_tools()
        assert [tool.name for tool in tools.tools] == ["add", "fail", "refuse"]
        assert tools.tools[0].description == "Add two numbers."
        result = await client.call_tool("add", {"a": 2, "b": 40})
        assert not result.is_error
        assert text_of(result) == "42"
        failed = await client.call_tool("fail", {})
        assert failed.is_error
        assert "the order service is down" in text_of(failed)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("refuse", {"order_id": "A-9"})
        assert (refused.value.code, refused.value.message) == (
            INVALID_PARAMS,
            "order A-9 does not exist",
        )


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_bridge_forwards_resources_and_prompts(gateway_url):
    async with Client(bridge(gateway_url, TOKEN)) as client:
        resources = await client.list_resources()
        assert [str(r.uri) for r in resources.resources] == ["orders://recent"]
        read = await client.read_resource("orders://recent")
        assert [c.text for c in read.contents] == ["A-1001, A-1002"]
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["summarise"]
        prompt = await client.get_prompt("summarise", {"order_id": "A-7"})
        assert [m.content.text for m in prompt.messages] == ["Summarise order A-7."]


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_bridge_to_a_gateway_that_is_not_running_says_it_cannot_reach_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/ws/demo/mcp"
    async with Client(bridge(url, TOKEN)) as client:
        with pytest.raises(MCPError, match=f"cannot reach the Aerostudio gateway at {url}"):
            await client.call_tool("add", {"a": 1, "b": 2})


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_bridge_with_a_wrong_token_answers_with_a_clear_error(gateway_url):
    wrong = "aero_wrong_token_9d2e"
    async with Client(bridge(gateway_url, wrong)) as client:
        with pytest.raises(MCPError) as error:
            await client.list_tools()
    message = str(error.value)
    assert f"gateway at {gateway_url} refused the token (HTTP 401)" in message
    assert "AEROSTUDIO_TOKEN" in message
    assert wrong not in message
