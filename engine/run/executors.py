"""The executor registry, and the executors of trigger, logic, error_handler, action and
human_review; the other node types register theirs from their own modules. Loop and parallel are
scopes: the interpreter runs them itself.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from engine.nodes import NodeConfig
from engine.nodes.control import ActionConfig, HttpRequest, LogicConfig, TriggerConfig
from engine.nodes.people import HumanReviewConfig
from engine.nodes.spec import SecretRef
from engine.run.context import NodeContext, Outcome
from engine.run.errors import InputError, NodeError, RunEnded

Executor = Callable[[NodeContext, Any], Awaitable[Outcome]]
EXECUTORS: dict[str, Executor] = {}


def executor(node_type: str) -> Callable[[Executor], Executor]:
    """Register the executor of a node type; every executor module does, on import."""

    def register(function: Executor) -> Executor:
        EXECUTORS[node_type] = function
        return function

    return register


@executor("trigger")
async def run_trigger(ctx: NodeContext, config: TriggerConfig) -> Outcome:
    payload = ctx.scope["input"]
    if config.input_schema:
        from jsonschema import Draft202012Validator

        problem = next(Draft202012Validator(config.input_schema).iter_errors(payload), None)
        if problem is not None:
            where = problem.json_path.replace("$", "input", 1)
            raise InputError(f"{where}: {problem.message}")
    return Outcome("out", payload)


@executor("logic")
async def run_logic(ctx: NodeContext, config: LogicConfig) -> Outcome:
    if config.mode == "if":
        value = ctx.evaluate(config.condition or "false")
        return Outcome(
            "true" if value else "false", {"handle": "true" if value else "false", "value": value}
        )
    value = ctx.evaluate(config.value) if config.value else None
    for case in config.cases:
        hit = bool(ctx.evaluate(case.when)) if case.when is not None else value == case.equals
        if hit:
            return Outcome(case.handle, {"handle": case.handle, "value": value})
    return Outcome("default", {"handle": "default", "value": value})


@executor("error_handler")
async def run_error_handler(ctx: NodeContext, config: NodeConfig) -> Outcome:
    return Outcome("out", {"error": ctx.scope.get("error")})


@executor("action")
async def run_action(ctx: NodeContext, config: ActionConfig) -> Outcome:
    if config.action == "set_variables":
        assert config.set_variables is not None
        values = ctx.render(config.set_variables.values)
        return Outcome("out", values, variables=values)
    if config.action == "end":
        output = ctx.render(config.end.output) if config.end else None
        raise RunEnded(output, config.end.status if config.end else "succeeded")
    assert config.http_request is not None
    return Outcome("out", await _http_request(ctx, config.http_request))


async def _header_value(ctx: NodeContext, value: str | SecretRef) -> str:
    return (
        await ctx.secret(value.secret) if isinstance(value, SecretRef) else str(ctx.render(value))
    )


async def _http_request(ctx: NodeContext, request: HttpRequest) -> dict[str, Any]:
    import httpx2

    from engine.run import http

    headers = {name: await _header_value(ctx, value) for name, value in request.headers.items()}
    if request.auth is not None:
        secret = await ctx.secret(request.auth.secret.secret)
        if request.auth.scheme == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        elif request.auth.scheme == "basic":
            pair = f"{request.auth.username or ''}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            headers[request.auth.header or "X-Api-Key"] = secret
    url = str(ctx.render(request.url))
    body = ctx.render(request.body)
    async with http.client() as client:
        try:
            response = await client.request(
                request.method,
                url,
                headers=headers,
                params=ctx.render(request.query),
                json=body if body is not None else None,
            )
        except httpx2.HTTPError as exc:
            raise NodeError(f"{request.method} {url} failed: {type(exc).__name__}") from None
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if response.status_code >= 400:
        raise NodeError(f"{request.method} {url} answered HTTP {response.status_code}")
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "json": parsed,
        "text": response.text,
    }


@executor("human_review")
async def run_human_review(ctx: NodeContext, config: HumanReviewConfig) -> Outcome:
    title = str(ctx.render(config.title))
    details = str(ctx.render(config.details)) if config.details else None
    answer = await ctx.pause(
        "approval", title, config.timeout_s, details=details, form=config.form or None
    )
    if answer is None:
        return Outcome(
            "timeout", {"decision": "timeout", "reviewer": None, "comment": None, "form": None}
        )
    decision = "approved" if answer.get("decision") in ("approve", "approved") else "rejected"
    return Outcome(
        decision,
        {
            "decision": decision,
            "reviewer": answer.get("reviewer"),
            "comment": answer.get("comment"),
            "form": answer.get("form"),
        },
    )
