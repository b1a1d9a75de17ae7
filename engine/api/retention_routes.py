"""Routes of run retention: the policy every runtime on the database applies each hour (the
same setting as `aerostudio runs retention`), and pruning by it at once."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.errors import ApiError, json_body
from engine.api.members import ADMIN, VIEWER
from engine.api.routing import Router
from engine.run import retention
from engine.run.durable import DurableRuntime
from engine.run.retention import Retention

FIELDS = ("keep_days", "keep_runs")


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_retention", message)


def policy_from(body: dict[str, Any]) -> Retention:
    """The policy a request sets; a field left out (or null) sets no limit of its kind."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise _invalid(f"{unknown[0]}: not a retention field (give keep_days and/or keep_runs)")
    try:
        policy = Retention(body.get("keep_days"), body.get("keep_runs"))
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    return policy


class RetentionRoutes:
    """The policy lives in `settings` (the gateway's database, where the scheduler reads it);
    pruning deletes runs of `runtime`'s database with their DBOS workflows."""

    def __init__(self, runtime: DurableRuntime, settings: sa.Engine) -> None:
        self.runtime = runtime
        self.settings = settings

    def routes(self, route: Router) -> list[Route]:
        return [
            route("/api/retention", self.get_retention, ["GET"], VIEWER),
            route("/api/retention", self.set_retention, ["PUT"], ADMIN),
            route("/api/retention/prune", self.prune, ["POST"], ADMIN),
        ]

    async def get_retention(self, _request: Request) -> Response:
        """
        summary: How much run data the runtimes keep
        description: null is no limit of that kind; with both null, every run is kept.
        responses:
          200: {description: "{keep_days, keep_runs}"}
        """
        policy = await asyncio.to_thread(retention.load, self.settings)
        return JSONResponse(policy.to_setting())

    async def set_retention(self, request: Request) -> Response:
        """
        summary: Set how much run data the runtimes keep (they apply it every hour)
        description: Finished runs older than keep_days, or beyond the newest keep_runs of
          their flow, are pruned; running and paused runs never are. A field left out or null
          sets no limit of its kind, so {} keeps every run.
        requestBody:
          schema: {type: object, additionalProperties: false, properties: {
            keep_days: {type: number, nullable: true, minimum: 0, exclusiveMinimum: true},
            keep_runs: {type: integer, nullable: true, minimum: 1, maximum: 2147483648}}}
        responses:
          200: {description: "{keep_days, keep_runs}: the policy now"}
          422: {description: "a field is unknown or out of range (the message names it)"}
        """
        policy = policy_from(await json_body(request))
        await asyncio.to_thread(retention.save, self.settings, policy)
        return JSONResponse(policy.to_setting())

    async def prune(self, _request: Request) -> Response:
        """
        summary: Prune the finished runs the retention does not keep, now
        responses:
          200: {description: "{pruned, run_ids, keep_days, keep_runs}: how many runs went,
            oldest first, and by which policy"}
          409: {description: "no retention is set"}
        """
        policy = await asyncio.to_thread(retention.load, self.settings)
        if not policy.limited:
            raise ApiError(
                409,
                "no_retention",
                "no retention is set: PUT /api/retention keep_days or keep_runs",
            )
        pruned = await asyncio.to_thread(self.runtime.prune, policy)
        return JSONResponse({"pruned": len(pruned), "run_ids": pruned, **policy.to_setting()})
