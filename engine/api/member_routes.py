"""Routes of the server's members: `/api/me`, and giving and revoking members' tokens."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.errors import ApiError, json_body, positive_seconds
from engine.api.members import ADMIN, SERVER, VIEWER, Members, caller
from engine.api.routing import Router
from engine.gateway.core import Gateway


class MemberRoutes:
    """`/api/me` and the administration of the server's members."""

    def __init__(self, members: Members, gateway: Gateway) -> None:
        self.tokens = members.tokens
        self.gateway = gateway

    def routes(self, route: Router) -> list[Route]:
        return [
            route("/api/me", self.me, ["GET"], VIEWER),
            route("/api/members", self.list_members, ["GET"], ADMIN),
            route("/api/members", self.add_member, ["POST"], ADMIN),
            route("/api/members/{token_id}", self.revoke_member, ["DELETE"], ADMIN),
        ]

    async def me(self, request: Request) -> Response:
        """
        summary: Who the token belongs to, and its role
        responses:
          200: {description: "{member, role, token_id, workspaces}: workspaces is null for
            an admin, who has them all"}
        """
        member = caller(request)
        workspaces = None if member.workspaces is None else sorted(member.workspaces)
        return JSONResponse(
            {
                "member": member.name,
                "role": member.role,
                "token_id": member.token_id,
                "workspaces": workspaces,
            }
        )

    async def list_members(self, _request: Request) -> Response:
        """
        summary: The server's members' tokens (never the tokens themselves)
        responses:
          200: {description: "{members: [{id, member, role, workspaces, created_at,
            expires_at, state}]}"}
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
                  workspaces: {type: array, items: {type: string}, description: "the
                    workspace slugs a developer or viewer works in (an admin has them all)"}
                  expires_in_s: {type: number, description: "seconds until it expires"}
        responses:
          201: {description: "{id, member, role, workspaces, created_at, expires_at, token}"}
        """
        body = await json_body(request)
        expires = positive_seconds(body.get("expires_in_s"), "expires_in_s")
        role = str(body.get("role", ""))
        workspaces = self._workspaces(body.get("workspaces"), role)
        info, token = self.tokens.create(
            SERVER, str(body.get("member", "")), role, expires, workspaces=workspaces
        )
        return JSONResponse({**info.__dict__, "token": token}, status_code=201)

    def _workspaces(self, given: object, role: str) -> list[str]:
        """The workspaces of a new member: a list of existing workspaces' slugs (an admin's
        are all of them, whatever is given)."""
        if given is None:
            return []
        if not isinstance(given, list) or not all(isinstance(s, str) for s in given):
            raise ApiError(400, "bad_request", "workspaces: a list of workspace slugs")
        if role == ADMIN:
            return []
        known = {w.slug for w in self.gateway.workspaces.all()} | set(self.gateway.builtin)
        unknown = sorted(set(given) - known)
        if unknown:
            raise ApiError(
                400,
                "bad_request",
                f"workspaces: no workspace '{unknown[0]}' (workspaces: "
                f"{', '.join(sorted(known)) or 'none'})",
            )
        return list(given)

    async def revoke_member(self, request: Request) -> Response:
        """
        summary: Revoke a member's token (its next request is refused)
        """
        token_id = request.path_params["token_id"]
        self.tokens.revoke(SERVER, token_id)
        return JSONResponse({"revoked": token_id})
