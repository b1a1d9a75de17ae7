"""The gateway's data on SQLAlchemy Core: workspaces, their servers and tool settings, vault
entries, members' tokens (of a workspace, or of the server) and the call log. SQLite in the
data directory by default; any SQLAlchemy URL (PostgreSQL) on a server. `engine.store.migrate`
brings a database up to date."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

workspaces = sa.Table(
    "aero_workspaces",
    metadata,
    sa.Column("slug", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # Tool calls a minute per token, unless the token has its own; none: the gateway's default.
    sa.Column("rate_per_minute", sa.Integer),
)


def _workspace() -> sa.ForeignKey:
    return sa.ForeignKey("aero_workspaces.slug", ondelete="CASCADE")


servers = sa.Table(
    "aero_servers",
    metadata,
    sa.Column("workspace", sa.String(64), _workspace(), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    # {"command", "args", "env", "cwd"} for stdio, {"url", "transport", "headers"} for remote;
    # env and header values are strings or {"secret": NAME}.
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

disabled_tools = sa.Table(
    "aero_disabled_tools",
    metadata,
    sa.Column("workspace", sa.String(64), primary_key=True),
    sa.Column("server", sa.String(64), primary_key=True),
    sa.Column("tool", sa.String(200), primary_key=True),
    sa.ForeignKeyConstraint(
        ["workspace", "server"],
        ["aero_servers.workspace", "aero_servers.name"],
        ondelete="CASCADE",
    ),
)

secrets = sa.Table(
    "aero_secrets",
    metadata,
    sa.Column("workspace", sa.String(64), _workspace(), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("nonce", sa.LargeBinary(12), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

tokens = sa.Table(
    "aero_tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # the public part shown in listings
    sa.Column("workspace", sa.String(64), _workspace(), nullable=False, index=True),
    sa.Column("member", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the token
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
    sa.Column("rate_per_minute", sa.Integer),  # this token's own; none: its workspace's
)

server_tokens = sa.Table(
    "aero_server_tokens",  # the server's own members (`aerostudio serve`), in no workspace
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("member", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
    # The workspace slugs a developer or viewer may work in (a JSON list); admins have them all.
    sa.Column("workspaces", sa.JSON),
)

calls = sa.Table(
    "aero_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(64), nullable=False),
    sa.Column("server", sa.String(64), nullable=False),
    sa.Column("tool", sa.String(200), nullable=False),
    sa.Column("member", sa.String(128), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # ok, tool_error, error, denied
    sa.Column("error", sa.Text),
    sa.Index("aero_calls_by_time", "workspace", "started_at"),
)

settings = sa.Table(
    "aero_settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
)

deployments = sa.Table(
    "aero_deployments",
    metadata,
    sa.Column("flow_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),  # SHA-256 of the saved flow file
    sa.Column("flow", sa.Text, nullable=False),  # the flow file, as saved
    sa.Column("active", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("activated_at", sa.Float),  # a schedule runs no tick from before this
)

deliveries = sa.Table(
    "aero_deliveries",
    metadata,
    sa.Column("flow_id", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)

# A schedule's tick, claimed once across all runtimes on the database (the primary key); the run
# it starts has an id derived from the tick, and `started_at` is set once that run has started.
schedule_ticks = sa.Table(
    "aero_schedule_ticks",
    metadata,
    sa.Column("flow_id", sa.String(64), primary_key=True),
    sa.Column("trigger", sa.String(64), primary_key=True),
    sa.Column("tick", sa.BigInteger, primary_key=True, autoincrement=False),  # Unix seconds
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
)
