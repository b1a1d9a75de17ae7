"""A runtime server as `aerostudio serve` makes one (members' tokens and roles, no runtime token),
served in this process on loopback, for the studio's deploy and remote-debugging tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from engine.api.app import EngineApi
from engine.run import Services
from engine.run.durable import DurableRuntime
from tests.gateway.conftest import serving
from tests.gateway_fixtures import temporary_gateway

ROLES = ("admin", "developer", "viewer")


@contextlib.asynccontextmanager
async def members_server(folder: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """(URL, a token per role) of a server whose runs go to a SQLite file in `folder`."""
    gateway = temporary_gateway(folder)
    services = Services(tools=gateway, secrets=gateway.vault)
    runtime = DurableRuntime(f"sqlite:///{folder / 'runs.sqlite'}", services=services, poll_s=0.02)
    runtime.launch()
    api = EngineApi(runtime, gateway)
    tokens = {role: api.members.tokens.create("", role, role)[1] for role in ROLES}
    try:
        async with serving(api.app) as url:
            yield url, tokens
    finally:
        await runtime.aclose()
