"""A gateway on a temporary database, for tests outside tests/gateway."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.gateway.core import Gateway
from engine.gateway.vault import Vault, master_key
from engine.store import create_engine, migrate


def temporary_gateway(
    folder: Path, builtin: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None
) -> Gateway:
    """A gateway whose database and key file live in `folder`; `builtin` adds workspaces."""
    engine = create_engine(f"sqlite:///{folder / 'gateway.sqlite'}")
    migrate(engine)
    return Gateway(engine, Vault(engine, master_key(folder, use_keyring=False)), builtin=builtin)
