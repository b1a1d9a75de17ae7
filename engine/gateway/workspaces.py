"""Workspaces and the MCP servers they hold, with servers and single tools switched on or off."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.slug import slugify
from engine.store.tables import disabled_tools, servers, workspaces
from engine.store.text import storable

SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Workspace:
    slug: str
    name: str
    created_at: float


@dataclass(frozen=True)
class Server:
    workspace: str
    name: str
    config: Mapping[str, Any]
    enabled: bool

    @property
    def kind(self) -> str:
        return "stdio" if "command" in self.config else str(self.config.get("transport", "http"))


def check_server_config(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A server's config in its stored shape, or a ValueError naming what is wrong."""
    if not SERVER_NAME.fullmatch(name) or "__" in name:
        raise ValueError(
            f"server name '{name}': letters, digits, '-' and '_' (no '__'), at most 64"
        )
    if ("command" in config) == ("url" in config):
        raise ValueError(f"server '{name}': give either a command (stdio) or a url (remote)")
    values = config.get("env" if "command" in config else "headers") or {}
    for key, value in dict(values).items():
        plain = isinstance(value, str)
        reference = isinstance(value, Mapping) and set(value) == {"secret"}
        if not (plain or reference):
            raise ValueError(f"server '{name}': {key} must be a string or {{\"secret\": NAME}}")
    if "command" in config:
        return {
            "command": str(config["command"]),
            "args": [str(a) for a in config.get("args") or []],
            "env": dict(values),
            **({"cwd": str(config["cwd"])} if config.get("cwd") else {}),
        }
    url = str(config["url"])
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"server '{name}': url must start with http:// or https://")
    transport = config.get("transport", "http")
    if transport not in ("http", "sse"):
        raise ValueError(f"server '{name}': transport is http (streamable) or sse")
    return {"url": url, "transport": transport, "headers": dict(values)}


class Workspaces:
    """The workspaces table and what hangs off it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # ---------------------------------------------------------------------------- workspaces

    def create(self, name: str) -> Workspace:
        """A new workspace; its slug comes from the name (a number added on a clash) and never
        changes, whatever it is renamed to."""
        name = storable(workspaces.c.name, name.strip())
        if not re.search(r"[A-Za-z0-9]", name):
            raise ValueError("a workspace's name needs at least one letter or digit")
        base = slugify(name)
        now = time.time()
        with self.engine.begin() as db:
            taken = set(
                db.execute(
                    sa.select(workspaces.c.slug).where(workspaces.c.slug.like(f"{base}%"))
                ).scalars()
            )
            slug, number = base, 2
            while slug in taken:
                suffix = f"-{number}"
                slug, number = base[: 64 - len(suffix)] + suffix, number + 1
            db.execute(workspaces.insert().values(slug=slug, name=name, created_at=now))
        return Workspace(slug, name, now)

    def get(self, slug: str) -> Workspace:
        with self.engine.connect() as db:
            row = db.execute(workspaces.select().where(workspaces.c.slug == slug)).first()
        if row is None:
            raise NotFound(f"no workspace '{slug}'")
        return Workspace(row.slug, row.name, row.created_at)

    def all(self) -> list[Workspace]:
        with self.engine.connect() as db:
            rows = db.execute(workspaces.select().order_by(workspaces.c.slug)).all()
        return [Workspace(r.slug, r.name, r.created_at) for r in rows]

    def rename(self, slug: str, name: str) -> Workspace:
        name = storable(workspaces.c.name, name.strip())
        with self.engine.begin() as db:
            done = db.execute(
                workspaces.update().where(workspaces.c.slug == slug).values(name=name)
            )
        if done.rowcount == 0:
            raise NotFound(f"no workspace '{slug}'")
        return self.get(slug)

    def delete(self, slug: str) -> None:
        """The workspace with its servers, secrets and tokens (its call log stays for audits)."""
        from engine.store.tables import secrets, tokens

        with self.engine.begin() as db:
            for table in (disabled_tools, servers, secrets, tokens):
                db.execute(table.delete().where(table.c.workspace == slug))
            done = db.execute(workspaces.delete().where(workspaces.c.slug == slug))
        if done.rowcount == 0:
            raise NotFound(f"no workspace '{slug}'")

    # ------------------------------------------------------------------------------- servers

    def add_server(self, workspace: str, name: str, config: Mapping[str, Any]) -> Server:
        stored = check_server_config(name, config)
        self.get(workspace)
        with self.engine.begin() as db:
            exists = db.execute(
                sa.select(servers.c.name).where(
                    servers.c.workspace == workspace, servers.c.name == name
                )
            ).first()
            if exists:
                raise ValueError(f"workspace '{workspace}' already has a server '{name}'")
            db.execute(
                servers.insert().values(
                    workspace=workspace,
                    name=name,
                    config=stored,
                    enabled=True,
                    created_at=time.time(),
                )
            )
        return Server(workspace, name, stored, True)

    def servers(self, workspace: str) -> list[Server]:
        with self.engine.connect() as db:
            rows = db.execute(
                servers.select().where(servers.c.workspace == workspace).order_by(servers.c.name)
            ).all()
        return [Server(r.workspace, r.name, r.config, r.enabled) for r in rows]

    def server(self, workspace: str, name: str) -> Server:
        for server in self.servers(workspace):
            if server.name == name:
                return server
        raise NotFound(f"workspace '{workspace}' has no server '{name}'")

    def remove_server(self, workspace: str, name: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                disabled_tools.delete().where(
                    disabled_tools.c.workspace == workspace, disabled_tools.c.server == name
                )
            )
            done = db.execute(
                servers.delete().where(servers.c.workspace == workspace, servers.c.name == name)
            )
        if done.rowcount == 0:
            raise NotFound(f"workspace '{workspace}' has no server '{name}'")

    def set_enabled(self, workspace: str, name: str, enabled: bool) -> None:
        with self.engine.begin() as db:
            done = db.execute(
                servers.update()
                .where(servers.c.workspace == workspace, servers.c.name == name)
                .values(enabled=enabled)
            )
        if done.rowcount == 0:
            raise NotFound(f"workspace '{workspace}' has no server '{name}'")

    def set_tool_enabled(self, workspace: str, server: str, tool: str, enabled: bool) -> None:
        """Switch one upstream tool (by its upstream name) on or off."""
        storable(disabled_tools.c.tool, tool)
        self.server(workspace, server)
        where = (
            disabled_tools.c.workspace == workspace,
            disabled_tools.c.server == server,
            disabled_tools.c.tool == tool,
        )
        with self.engine.begin() as db:
            db.execute(disabled_tools.delete().where(*where))
            if not enabled:
                db.execute(
                    disabled_tools.insert().values(workspace=workspace, server=server, tool=tool)
                )

    def disabled_tools(self, workspace: str) -> set[tuple[str, str]]:
        """(server, upstream tool) pairs switched off."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(disabled_tools.c.server, disabled_tools.c.tool).where(
                    disabled_tools.c.workspace == workspace
                )
            ).all()
        return {(r.server, r.tool) for r in rows}

    def revisions(self) -> dict[str, str]:
        """A digest per workspace of what decides its tool list (servers, their configs and
        switches, disabled tools): a change made by another process shows up as a new digest."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(servers.c.workspace, servers.c.name, servers.c.config, servers.c.enabled)
            ).all()
            off = db.execute(sa.select(disabled_tools)).all()
        state: dict[str, list[Any]] = {}
        for row in rows:
            state.setdefault(row.workspace, []).append([row.name, row.config, row.enabled])
        for row in off:
            state.setdefault(row.workspace, []).append([row.server, row.tool])
        return {
            slug: hashlib.sha256(
                json.dumps(sorted(items, key=str), default=str).encode()
            ).hexdigest()
            for slug, items in state.items()
        }
