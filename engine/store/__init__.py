"""The gateway's database (workspaces, servers, vault, tokens, call log) and database helpers."""

from engine.store.db import create_engine, normalize_url
from engine.store.migrate import SchemaTooNew, migrate

__all__ = ["SchemaTooNew", "create_engine", "migrate", "normalize_url"]
