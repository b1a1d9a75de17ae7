"""The MCP gateway: one endpoint per workspace in front of its MCP servers, with the vault,
members' tokens and roles, and a log of every tool call (docs/architecture.md, engine.gateway)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.paths import data_dir

if TYPE_CHECKING:
    from engine.gateway.core import Gateway


def default_url() -> str:
    return f"sqlite:///{data_dir() / 'gateway.sqlite'}"


def open_gateway(url: str | None = None) -> Gateway:
    """The gateway over a database (the data directory's by default), its schema up to date and
    its vault unlocked with this machine's master key (MasterKeyError if that is not the key the
    database's secrets were written with)."""
    from engine.gateway.core import Gateway
    from engine.gateway.vault import Vault, master_key
    from engine.store import create_engine, migrate

    engine = create_engine(url or default_url())
    migrate(engine)
    vault = Vault(engine, master_key(data_dir()))
    vault.check_key()
    return Gateway(engine, vault)
