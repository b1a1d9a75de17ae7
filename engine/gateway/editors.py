"""Editors' MCP configuration files: import their servers into a workspace, print our entry.

Claude Desktop, Cursor, VS Code and Windsurf each keep MCP servers in a JSON file of their own.
`read_config` turns any of them into workspace server configs with every env and header value
moved into the vault (a `{"secret": NAME}` reference in place); `client_config` prints the entry
an editor needs to reach a workspace through the gateway.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KNOWN_CLIENTS = ("claude", "cursor", "vscode", "windsurf")

# Where each editor keeps the entry that `client_config` makes.
WHERE_TO_PASTE = {
    "claude": "the mcpServers of claude_desktop_config.json",
    "cursor": "the mcpServers of ~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
    "vscode": "the servers of .vscode/mcp.json",
    "windsurf": "the mcpServers of ~/.codeium/windsurf/mcp_config.json",
}

_REFERENCE = re.compile(r"\$\{(input|env):([^}]+)\}")
_PATH_VARIABLE = re.compile(r"\$\{(workspaceFolder|userHome)\}")


class ConfigError(ValueError):
    """An editor's configuration file that cannot be imported; the message names the file."""


@dataclass(frozen=True)
class ImportedServer:
    """One server of an editor's file, ready for a workspace.

    `config` holds references only; `secrets` the values to store in the vault under those
    names; `missing` the secret names with no value yet (to ask the user for).
    """

    name: str
    config: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def read_config(path: Path) -> list[ImportedServer]:
    """The servers of a Claude Desktop, Cursor, VS Code or Windsurf MCP configuration file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        document = json.loads(_strip_jsonc(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        ) from exc
    entries = _server_entries(path, document)
    reader = _Reader(path)
    return [reader.server(name, entry) for name, entry in entries.items()]


def client_config(client: str, url: str, token: str, workspace: str) -> dict[str, Any]:
    """The entry to paste into an editor's MCP file so it reaches `workspace` at `url`."""
    name = f"aerostudio-{workspace}"
    headers = {"Authorization": f"Bearer {token}"}
    if client == "cursor":
        return {"mcpServers": {name: {"url": url, "headers": headers}}}
    if client == "vscode":
        return {"servers": {name: {"type": "http", "url": url, "headers": headers}}}
    if client == "windsurf":
        return {"mcpServers": {name: {"serverUrl": url, "headers": headers}}}
    if client == "claude":
        bridge = {
            "command": sys.executable,
            "args": ["-m", "engine", "bridge", "--url", url],
            "env": {"AEROSTUDIO_TOKEN": token},
        }
        return {"mcpServers": {name: bridge}}
    raise ValueError(f"unknown client '{client}': use one of {', '.join(KNOWN_CLIENTS)}")


def _server_entries(path: Path, document: Any) -> dict[str, Mapping[str, Any]]:
    """The name-to-entry table: `servers` (VS Code, nested under `mcp` in its settings.json) or
    `mcpServers` (Claude Desktop, Cursor, Windsurf)."""
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    nested = document.get("mcp")
    section = nested if isinstance(nested, dict) and "servers" in nested else document
    servers = section.get("servers") if "servers" in section else section.get("mcpServers")
    if not isinstance(servers, dict) or not servers:
        raise ConfigError(
            f'{path}: no servers found (expected a non-empty "mcpServers" or "servers" object)'
        )
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: server '{name}' is not a JSON object")
    return servers


class _Reader:
    """Reads the servers of one file, keeping server and secret names unique across them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        folder = path.parent
        self.workspace_folder = folder.parent if folder.name in (".vscode", ".cursor") else folder
        self._names: set[str] = set()
        self._vault: dict[str, str | None] = {}

    def server(self, raw_name: str, entry: Mapping[str, Any]) -> ImportedServer:
        name = self._unique_name(raw_name)
        secrets = _Secrets(self, name)
        kind = str(entry.get("type") or entry.get("transport") or "").lower()
        if entry.get("command") and kind not in ("http", "sse"):
            config = self._stdio(raw_name, entry, secrets)
        elif entry.get("url") or entry.get("serverUrl"):
            config = self._remote(raw_name, entry, kind, secrets)
        else:
            raise ConfigError(f'{self.path}: server \'{raw_name}\' has neither "command" nor "url"')
        return ImportedServer(name, config, secrets.values, secrets.missing)

    def _stdio(self, raw_name: str, entry: Mapping[str, Any], secrets: _Secrets) -> dict[str, Any]:
        args = entry.get("args") or []
        if not isinstance(args, list):
            raise ConfigError(f"{self.path}: server '{raw_name}' has \"args\" that is not a list")
        env = {**self._env_file(raw_name, entry), **self._mapping(raw_name, entry, "env")}
        config: dict[str, Any] = {
            "command": self.plain(raw_name, "command", entry["command"]),
            "args": [self.plain(raw_name, "args", arg) for arg in args],
            "env": {key: secrets.reference(value, _upper_snake(key)) for key, value in env.items()},
        }
        if entry.get("cwd"):
            config["cwd"] = self.plain(raw_name, "cwd", entry["cwd"])
        return config

    def _remote(
        self, raw_name: str, entry: Mapping[str, Any], kind: str, secrets: _Secrets
    ) -> dict[str, Any]:
        url = self.plain(raw_name, "url", entry.get("url") or entry.get("serverUrl"))
        sse = kind == "sse" or (not kind and url.rstrip("/").endswith("/sse"))
        headers = self._mapping(raw_name, entry, "headers")
        return {
            "url": url,
            "transport": "sse" if sse else "http",
            "headers": {
                header: secrets.reference(value, _upper_snake(f"{secrets.server}_{header}"))
                for header, value in headers.items()
            },
        }

    def _mapping(self, raw_name: str, entry: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = entry.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(
                f"{self.path}: server '{raw_name}' has \"{key}\" that is not an object"
            )
        return value

    def _env_file(self, raw_name: str, entry: Mapping[str, Any]) -> dict[str, str]:
        """VS Code's `envFile`: KEY=VALUE lines, overridden by `env`."""
        if not entry.get("envFile"):
            return {}
        env_file = Path(self.plain(raw_name, "envFile", entry["envFile"]))
        if not env_file.is_absolute():
            env_file = self.workspace_folder / env_file
        try:
            lines = env_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: server '{raw_name}' envFile {env_file} cannot be read "
                f"({exc.strerror or exc})"
            ) from exc
        values = {}
        for line in lines:
            assignment = line.strip().removeprefix("export ").strip()
            if assignment and not assignment.startswith("#") and "=" in assignment:
                key, value = assignment.split("=", 1)
                values[key.strip()] = value.strip().strip("'\"")
        return values

    def plain(self, raw_name: str, what: str, value: Any) -> str:
        """A value that stays in the config (command, args, cwd, url), `${env:NAME}` expanded."""
        text = self.path_variables(str(value))
        for kind, ref in _REFERENCE.findall(text):
            if kind == "input":
                raise ConfigError(
                    f"{self.path}: server '{raw_name}' uses ${{input:{ref}}} in {what}; "
                    "only env values and headers can ask for a value"
                )
            if ref not in os.environ:
                raise ConfigError(
                    f"{self.path}: server '{raw_name}' uses ${{env:{ref}}} in {what}, "
                    "which is not set"
                )
        return _REFERENCE.sub(lambda match: os.environ[match[2]], text)

    def path_variables(self, text: str) -> str:
        def expand(match: re.Match[str]) -> str:
            return str(self.workspace_folder if match[1] == "workspaceFolder" else Path.home())

        return _PATH_VARIABLE.sub(expand, text)

    def _unique_name(self, raw_name: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_-]", "_", str(raw_name))[:64] or "server"
        name, n = base, 2
        while name in self._names:
            suffix = f"-{n}"
            name, n = base[: 64 - len(suffix)] + suffix, n + 1
        self._names.add(name)
        return name

    def claim(self, wanted: str, value: str | None, server: str) -> str:
        """The vault name for `value`: `wanted`, unless another server of the file holds a
        different value under it; then prefixed with the server's name (and numbered)."""
        name = wanted
        if self._vault.get(name, value) != value:
            name = _upper_snake(f"{server}_{wanted}")
        base, n = name, 2
        while self._vault.get(name, value) != value:
            name, n = f"{base}_{n}", n + 1
        self._vault[name] = value
        return name


class _Secrets:
    """The secrets of one server: values to store, and names still to ask for."""

    def __init__(self, reader: _Reader, server: str) -> None:
        self.reader = reader
        self.server = server
        self.values: dict[str, str] = {}
        self.missing: list[str] = []

    def reference(self, value: Any, default_name: str) -> str | dict[str, str]:
        """`{"secret": NAME}` in place of an env or header value; empty values stay as they are.

        `${input:ID}` names the secret ID and asks for it; `${env:NAME}` names it NAME and takes
        the variable's value. Any other value is stored under `default_name`, whole: one with an
        input inside, or a variable that is not set, is asked for whole.
        """
        text = self.reader.path_variables(str(value))
        if text == "":
            return ""
        whole = _REFERENCE.fullmatch(text)
        if whole is None:
            return self._keep(default_name, _expand_env(text))
        kind, ref = whole.groups()
        known = (os.environ.get(ref) or None) if kind == "env" else None
        return self._keep(_upper_snake(ref), known)

    def _keep(self, wanted: str, value: str | None) -> dict[str, str]:
        name = self.reader.claim(wanted, value, self.server)
        if value is not None:
            self.values[name] = value
        elif name not in self.missing:
            self.missing.append(name)
        return {"secret": name}


def _expand_env(text: str) -> str | None:
    """`text` with its `${env:NAME}` references expanded; None if one cannot be (an input, or a
    variable that is not set)."""
    for kind, ref in _REFERENCE.findall(text):
        if kind == "input" or not os.environ.get(ref):
            return None
    return _REFERENCE.sub(lambda match: os.environ[match[2]], text)


def _upper_snake(text: str) -> str:
    """`apiKey` → `API_KEY`, `X-Api-Key` → `X_API_KEY`: a valid vault secret name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    name = re.sub(r"[^A-Za-z0-9]+", "_", spaced).strip("_").upper() or "SECRET"
    return ("_" + name if name[0].isdigit() else name)[:128]


def _strip_jsonc(text: str) -> str:
    """JSON with comments (`//`, `/* */`) and trailing commas made plain JSON; every character
    keeps its line and column, so parse errors point into the original text."""
    out = list(text)
    pending_comma: int | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            pending_comma = None
            i = _string_end(text, i)
            continue
        if text.startswith("//", i) or text.startswith("/*", i):
            end = _comment_end(text, i)
            out[i:end] = [c if c == "\n" else " " for c in text[i:end]]
            i = end
            continue
        if char in "}]" and pending_comma is not None:
            out[pending_comma] = " "
        if char == ",":
            pending_comma = i
        elif not char.isspace():
            pending_comma = None
        i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return len(text)


def _comment_end(text: str, start: int) -> int:
    if text.startswith("//", start):
        end = text.find("\n", start)
        return len(text) if end == -1 else end
    end = text.find("*/", start + 2)
    return len(text) if end == -1 else end + 2
