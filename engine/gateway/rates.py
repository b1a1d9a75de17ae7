"""How many tool calls a minute a token may make through the gateway: its own rate where set,
else its workspace's, else the gateway's default (120).

Each gateway process keeps its own buckets (engine.gateway.tokens.RateLimiter): with several
processes on one database a token may make up to the rate in each. The settings themselves are
read through the gateway's memory (engine.gateway.fresh), so a change by any process applies
at the next request.
"""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.tables import tokens, workspaces

DEFAULT_PER_MINUTE = 120
MAX_PER_MINUTE = 1_000_000_000


class RateError(ValueError):
    """A rate that is not a whole number of calls a minute within bounds."""


def check_rate(value: object, where: str = "rate") -> int | None:
    """A rate to store: a positive whole number of calls a minute, or None to clear it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RateError(f"{where}: a whole number of calls a minute, or null to clear it")
    if not 1 <= value <= MAX_PER_MINUTE:
        raise RateError(f"{where}: {value} calls a minute; between 1 and {MAX_PER_MINUTE}")
    return value


def effective(token_rate: int | None, workspace_rate: int | None) -> int:
    """The rate a token gets: its own, else its workspace's, else the default."""
    if token_rate is not None:
        return token_rate
    return workspace_rate if workspace_rate is not None else DEFAULT_PER_MINUTE


class Rates:
    """The stored rate settings of workspaces and their tokens."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def workspace(self, slug: str) -> int | None:
        """The workspace's own rate (None: the default, or no such stored workspace)."""
        with self.engine.connect() as db:
            rate = db.execute(
                sa.select(workspaces.c.rate_per_minute).where(workspaces.c.slug == slug)
            ).scalar()
        return None if rate is None else int(rate)

    def set_workspace(self, slug: str, per_minute: int | None) -> None:
        """Set (None: clear) a workspace's rate, for its tokens that have none of their own."""
        per_minute = check_rate(per_minute)
        with self.engine.begin() as db:
            done = db.execute(
                workspaces.update()
                .where(workspaces.c.slug == slug)
                .values(rate_per_minute=per_minute)
            )
        if done.rowcount == 0:
            raise LookupError(f"no stored workspace '{slug}'")

    def set_token(self, workspace: str, token_id: str, per_minute: int | None) -> None:
        """Set (None: clear, back to the workspace's) a token's own rate."""
        per_minute = check_rate(per_minute)
        with self.engine.begin() as db:
            done = db.execute(
                tokens.update()
                .where(tokens.c.workspace == workspace, tokens.c.id == token_id)
                .values(rate_per_minute=per_minute)
            )
        if done.rowcount == 0:
            raise LookupError(f"workspace '{workspace}' has no token '{token_id}'")
