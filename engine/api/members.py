"""Who calls the engine API, and whether their role lets them.

A server (`aerostudio serve`) has members of its own, admins, developers and viewers, each with
`aero_` tokens like a workspace's members (engine.gateway.tokens.ServerTokens). The desktop
runtime (`aerostudio runtime`) also has one token of its own, written to runtime.json for the
studio and the CLI, which counts as an admin. Every route declares the least role it needs;
public routes are checked by nothing here (an endpoint checks its API key, a webhook its
signature).
"""

from __future__ import annotations

import hmac
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.api.errors import ApiError
from engine.flow import Flow
from engine.gateway.tokens import Member, ServerTokens
from engine.slug import workspace_slug_problem
from engine.store.db import exclusive

Role = Literal["public", "viewer", "developer", "admin"]
PUBLIC: Role = "public"
VIEWER: Role = "viewer"
DEVELOPER: Role = "developer"
ADMIN: Role = "admin"
RANKS: dict[str, int] = {"viewer": 1, "developer": 2, "admin": 3}
SERVER = ""  # the workspace of the server's own members
RUNTIME_ADMIN = Member(SERVER, "runtime", "admin", "runtime")


def bearer(headers: dict[str, str]) -> str:
    given = headers.get("authorization", "")
    return given[7:].strip() if given.lower().startswith("bearer ") else ""


def allows(member: Member, role: Role) -> bool:
    """Whether a member's role is at least `role` (admin > developer > viewer)."""
    return role == PUBLIC or RANKS.get(member.role, 0) >= RANKS[role]


class Members:
    """The server's members and the runtime's own admin token, if it has one."""

    def __init__(self, tokens: ServerTokens, runtime_token: str | None = None) -> None:
        self.tokens = tokens
        self.runtime_token = runtime_token

    def authenticate(self, token: str) -> Member:
        """The member a bearer token stands for, or AuthError; checked on every request, so a
        revocation or an expiry takes effect at once."""
        if self.runtime_token and hmac.compare_digest(token.encode(), self.runtime_token.encode()):
            return RUNTIME_ADMIN
        return self.tokens.authenticate(token, SERVER)

    def first_admin(self) -> str | None:
        """A token for a first admin if the server has no member yet (its first start), shown
        once; None otherwise. Servers starting at once on one database make one between them."""
        with exclusive(self.tokens.engine, "aerostudio.first-admin"):
            if self.tokens.all(SERVER):
                return None
            return self.mint_admin()

    def mint_admin(self, name: str = "admin") -> str:
        return self.tokens.create(SERVER, name, "admin")[1]


def unauthorized(message: str) -> Response:
    response = JSONResponse({"error": "unauthorized", "message": message}, status_code=401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="aerostudio"'
    return response


def forbidden(member: Member, role: Role) -> Response:
    return JSONResponse(
        {
            "error": "forbidden",
            "message": f"this needs the {role} role; member '{member.name}' is {member.role}",
            "needs": role,
        },
        status_code=403,
    )


def caller(request: Request) -> Member:
    """The member a guarded request was authenticated as."""
    member: Member = request.state.member
    return member


def check_workspace(member: Member, workspace: str | None) -> None:
    """A 403 naming the workspace unless the member belongs to it (admins belong to all; a flow
    in no workspace to every member)."""
    if not member.may_use(workspace):
        raise ApiError(
            403,
            "forbidden",
            f"member '{member.name}' is not in workspace '{workspace}'; an admin can give "
            "them a token for it",
        )


def check_flow(member: Member, flow: Flow) -> None:
    """A flow's workspace must be a workspace slug (422) the member belongs to (403): it picks
    the vault and the servers the flow's nodes use."""
    problem = None if flow.workspace is None else workspace_slug_problem(flow.workspace)
    if problem is not None:
        raise ApiError(422, "bad_workspace", f"flow '{flow.id}': {problem}")
    check_workspace(member, flow.workspace)
