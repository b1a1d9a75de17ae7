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
import time
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.api.errors import ApiError, json_body
from engine.gateway.tokens import Member, ServerTokens
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


class MemberRoutes:
    """`/api/me` and the administration of the server's members."""

    def __init__(self, members: Members) -> None:
        self.tokens = members.tokens

    async def me(self, request: Request) -> Response:
        """
        summary: Who the token belongs to, and its role
        responses:
          200: {description: "{member, role, token_id}"}
        """
        member = caller(request)
        return JSONResponse(
            {"member": member.name, "role": member.role, "token_id": member.token_id}
        )

    async def list_members(self, _request: Request) -> Response:
        """
        summary: The server's members' tokens (never the tokens themselves)
        responses:
          200: {description: "{members: [{id, member, role, created_at, expires_at, state}]}"}
        """
        now = time.time()
        tokens = self.tokens.all(SERVER)
        return JSONResponse({"members": [{**t.__dict__, "state": t.state(now)} for t in tokens]})

    async def add_member(self, request: Request) -> Response:
        """
        summary: Give someone a token on this server; the answer holds it once
        requestBody:
          content:
            application/json:
              schema:
                type: object
                required: [member, role]
                properties:
                  member: {type: string, description: "a name for the person or program"}
                  role: {type: string, enum: [admin, developer, viewer]}
                  expires_in_s: {type: number, description: "seconds until it expires"}
        responses:
          201: {description: "{id, member, role, created_at, expires_at, token}"}
        """
        body = await json_body(request)
        expires = body.get("expires_in_s")
        if expires is not None and (not isinstance(expires, int | float) or expires <= 0):
            raise ApiError(400, "bad_request", "expires_in_s: a positive number of seconds")
        info, token = self.tokens.create(
            SERVER, str(body.get("member", "")), str(body.get("role", "")), expires
        )
        return JSONResponse({**info.__dict__, "token": token}, status_code=201)

    async def revoke_member(self, request: Request) -> Response:
        """
        summary: Revoke a member's token (its next request is refused)
        """
        token_id = request.path_params["token_id"]
        self.tokens.revoke(SERVER, token_id)
        return JSONResponse({"revoked": token_id})
