"""The guard in front of every route of the engine API: the Host/Origin checks against DNS
rebinding, a member's token of the route's least role, and errors turned into JSON answers.

Each route group (runs, deployments, triggers, gateway administration, members, retention)
lists its routes through a `Router`, so a route cannot be added without its role.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.api.errors import ApiError, error_response, plain_parameters
from engine.api.members import PUBLIC, Members, Role, allows, bearer, forbidden, unauthorized
from engine.gateway.tokens import AuthError
from engine.httpguard import FailedAuth, HostCheck, client_address, too_many_failures

Handler = Callable[[Request], Awaitable[Response]]
Router = Callable[[str, Handler, list[str], Role], Route]
"""`route(path, handler, methods, role)`: a route whose handler needs at least `role`."""


class Guard:
    """Checks a request's Host, Origin and token before its handler runs."""

    def __init__(
        self, members: Members, host_check: HostCheck, failed: FailedAuth | None = None
    ) -> None:
        self.members = members
        self.host_check = host_check
        self.failed = FailedAuth.from_environment() if failed is None else failed

    def route(self, path: str, handler: Handler, methods: list[str], role: Role) -> Route:
        return Route(path, self.guarded(handler, role), methods=methods)

    def guarded(self, handler: Handler, role: Role) -> Handler:
        """The handler behind the Host/Origin checks and, unless public, a member's token of at
        least `role`: 401 without one, 403 naming the role needed; then a 400 for a path or
        query parameter that is not plain text, on every route at once."""

        async def guarded(request: Request) -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            refused = self.host_check.refusal(headers)
            if refused is not None:
                return error_response(*refused)
            if role != PUBLIC:
                token = bearer(headers)
                try:
                    member = await asyncio.to_thread(self.members.authenticate, token)
                except AuthError as exc:
                    wait = self.failed.failed(client_address(request.scope)) if token else 0
                    return too_many_failures(wait) if wait else unauthorized(str(exc))
                if not allows(member, role):
                    return forbidden(member, role)
                request.state.member = member
            try:
                plain_parameters(request)
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, exc.details)
            except LookupError as exc:
                return error_response(404, "not_found", str(exc.args[0]) if exc.args else str(exc))
            except (ValueError, TypeError) as exc:
                return error_response(400, "bad_request", str(exc))

        guarded.__doc__ = handler.__doc__
        guarded.__name__ = handler.__name__
        guarded.role = role  # type: ignore[attr-defined]  # read by openapi.py and test_roles.py
        return guarded
