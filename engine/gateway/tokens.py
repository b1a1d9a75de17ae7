"""Members' tokens: 256 random bits behind a recognisable prefix, kept only as SHA-256 hashes and
shown once; roles, expiry, revocation, and a per-token rate limit."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.slug import workspace_slug_problem
from engine.store.tables import server_tokens, tokens
from engine.store.text import storable

PREFIX = "aero_"
ROLES = ("admin", "developer", "viewer")


class AuthError(PermissionError):
    """A request's token is missing, unknown, revoked or expired (HTTP 401)."""


class Forbidden(PermissionError):
    """The member's role does not allow this (HTTP 403)."""


@dataclass(frozen=True)
class Member:
    """Who is calling: the member of a workspace a valid token belongs to (workspace '' for a
    member of the server itself). `workspaces` are those the member may work in: None for all
    (the server's admins), the token's own workspace for a workspace's member."""

    workspace: str
    name: str
    role: str
    token_id: str
    workspaces: frozenset[str] | None = None

    def may_use(self, workspace: str | None) -> bool:
        """Whether the member may run, read or change what belongs to `workspace` (a flow in
        no workspace belongs to every member)."""
        return not workspace or self.workspaces is None or workspace in self.workspaces


@dataclass(frozen=True)
class TokenInfo:
    id: str
    workspace: str
    member: str
    role: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    workspaces: tuple[str, ...] | None = None  # a server member's; None for all (admins)
    rate_per_minute: int | None = None  # its own rate limit; None: its workspace's

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: sa.Row) -> TokenInfo:  # type: ignore[type-arg]
    columns = row._mapping
    return TokenInfo(
        row.id,
        columns.get("workspace", ""),
        row.member,
        row.role,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
        _member_workspaces(row.role, columns.get("workspaces"))
        if "workspaces" in columns
        else None,
        columns.get("rate_per_minute"),
    )


def _member_workspaces(role: str, stored: Any) -> tuple[str, ...] | None:
    """A server member's workspaces: all (None) for an admin, else the stored list (none for a
    member made before members had workspaces)."""
    if role == "admin":
        return None
    return tuple(str(slug) for slug in stored or ())


class Tokens:
    """The tokens of workspaces' members."""

    table = tokens

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _scope(self, workspace: str) -> dict[str, str]:
        """The columns that tie a token to where it is valid."""
        return {"workspace": workspace}

    def _within(self, workspace: str) -> list[sa.ColumnElement[bool]]:
        return [self.table.c[name] == value for name, value in self._scope(workspace).items()]

    def _member_columns(self, role: str, workspaces: Sequence[str] | None) -> dict[str, Any]:
        """Columns besides the scope a new token stores: a workspace's token is of its
        workspace alone."""
        if workspaces is not None:
            raise ValueError("a workspace's token belongs to that workspace; give no workspaces")
        return {}

    def create(
        self,
        workspace: str,
        member: str,
        role: str,
        expires_in_s: float | None = None,
        *,
        workspaces: Sequence[str] | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token; the second value is the token itself, which is never stored."""
        if role not in ROLES:
            raise ValueError(f"role '{role}': one of {', '.join(ROLES)}")
        extra = self._member_columns(role, workspaces)
        member = storable(self.table.c.member, member.strip())
        if not member:
            raise ValueError("a token needs a member name")
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        expires_at = now + expires_in_s if expires_in_s is not None else None
        with self.engine.begin() as db:
            db.execute(
                self.table.insert().values(
                    **self._scope(workspace),
                    **extra,
                    id=token_id,
                    member=member,
                    role=role,
                    hash=_hash(token),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        listed = extra.get("workspaces")
        info = TokenInfo(
            token_id,
            workspace,
            member,
            role,
            now,
            expires_at,
            None,
            None,
            None if "workspaces" not in extra else _member_workspaces(role, listed),
        )
        return info, token

    def all(self, workspace: str) -> list[TokenInfo]:
        with self.engine.connect() as db:
            rows = db.execute(
                self.table.select()
                .where(*self._within(workspace))
                .order_by(self.table.c.created_at)
            ).all()
        return [_info(r) for r in rows]

    def revoke(self, workspace: str, token_id: str) -> None:
        with self.engine.begin() as db:
            done = db.execute(
                self.table.update()
                .where(
                    *self._within(workspace),
                    self.table.c.id == token_id,
                    self.table.c.revoked_at.is_(None),
                )
                .values(revoked_at=time.time())
            )
        if done.rowcount == 0:
            raise LookupError(f"workspace '{workspace}' has no active token '{token_id}'")

    def authenticate(self, token: str | None, workspace: str) -> Member:
        """The member a bearer token stands for in this workspace, checked on every request so
        a revocation or an expiry takes effect at once."""
        return self.admit(self.find(token, workspace), workspace)

    def find(self, token: str | None, workspace: str) -> TokenInfo:
        """The stored token a bearer token is, in this workspace, whatever its state (AuthError
        for none, an unknown one or not one of ours)."""
        if not token:
            raise AuthError("a bearer token is required")
        if not token.startswith(PREFIX):
            raise AuthError("this is not an Aerostudio token")
        with self.engine.connect() as db:
            row = db.execute(
                self.table.select().where(
                    self.table.c.hash == _hash(token), *self._within(workspace)
                )
            ).first()
        if row is None:
            raise AuthError("unknown token for this workspace")
        return _info(row)

    def admit(self, info: TokenInfo, workspace: str, now: float | None = None) -> Member:
        """The member of a found token, if it is active now (AuthError if revoked or expired)."""
        state = info.state(time.time() if now is None else now)
        if state != "active":
            raise AuthError(f"token {info.id} is {state}")
        return Member(workspace, info.member, info.role, info.id, self._may_use(info))

    def _may_use(self, info: TokenInfo) -> frozenset[str] | None:
        """The workspaces a token's member may work in: a workspace's token, its own."""
        return frozenset({info.workspace})

    def touch(self, token_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                self.table.update()
                .where(self.table.c.id == token_id)
                .values(last_used_at=time.time())
            )


class ServerTokens(Tokens):
    """The tokens of the server's own members, who use the engine API of `aerostudio serve`:
    the same tokens and roles as a workspace's, in no workspace (pass '' for it)."""

    table = server_tokens

    def _scope(self, workspace: str) -> dict[str, str]:
        return {}

    def _member_columns(self, role: str, workspaces: Sequence[str] | None) -> dict[str, Any]:
        """An admin has every workspace; a developer or viewer those listed (slugs checked
        here, their existence by the caller)."""
        if role == "admin":
            return {"workspaces": None}
        listed = sorted(set(workspaces or ()))
        for slug in listed:
            problem = workspace_slug_problem(slug)
            if problem is not None:
                raise ValueError(f"workspaces: {problem}")
        return {"workspaces": listed}

    def _may_use(self, info: TokenInfo) -> frozenset[str] | None:
        return None if info.workspaces is None else frozenset(info.workspaces)


def may_call(member: Member, read_only: bool) -> bool:
    """Admins and developers call any tool; viewers only tools annotated read-only."""
    return member.role in ("admin", "developer") or read_only


class RateLimiter:
    """A token bucket per token: `per_minute` calls (unless a call gives its token's own),
    refilled continuously; in this process only."""

    def __init__(self, per_minute: int = 120) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None, per_minute: int | None = None) -> float:
        """0 if the call may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        size = float(self.per_minute if per_minute is None else per_minute)
        rate = size / 60.0
        level, since = self._buckets.get(key, (size, now))
        level = min(size, level + (now - since) * rate)
        if level >= 1.0:
            self._buckets[key] = (level - 1.0, now)
            return 0.0
        self._buckets[key] = (level, now)
        return (1.0 - level) / rate
