"""The auth_gate node: verify who the user is with a one-time code (email), a magic link, or a
code sent by a custom provider's webhook. Only a salted hash of the code is kept; generating and
sending happen once per run (recorded), so a restart never sends a second code."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from engine.nodes.people import AuthGateConfig
from engine.run.context import NodeContext, Outcome
from engine.run.errors import NodeError
from engine.run.executors import executor
from engine.run.mail import send_mail


def _digest(salt: str, code: str) -> str:
    return hmac.new(bytes.fromhex(salt), code.strip().encode(), hashlib.sha256).hexdigest()


async def _deliver(ctx: NodeContext, config: AuthGateConfig, identity: str, code: str) -> None:
    if config.method == "email_otp":
        await send_mail(
            ctx,
            identity,
            "Your verification code",
            f"Your code is {code}. It expires in {config.ttl_s:g} seconds.",
        )
    elif config.method == "magic_link":
        base = getattr(ctx.services.mail, "link_base_url", "")
        await send_mail(
            ctx,
            identity,
            "Your sign-in link",
            f"Open this link to continue: {base}/auth/{ctx.run_id}/{code}",
        )
    else:
        from engine.run import http

        url = str(ctx.render(config.webhook_url))
        async with http.client() as client:
            response = await client.post(
                url, json={"identity": identity, "code": code, "run_id": ctx.run_id}
            )
        if response.status_code >= 400:
            raise NodeError(f"the auth webhook answered HTTP {response.status_code}")


@executor("auth_gate")
async def run_auth_gate(ctx: NodeContext, config: AuthGateConfig) -> Outcome:
    identity = str(ctx.evaluate(config.identity))
    clock = ctx.services.clock

    async def issue() -> dict[str, Any]:
        code = (
            secrets.token_urlsafe(24)
            if config.method == "magic_link"
            else "".join(str(secrets.randbelow(10)) for _ in range(config.code_length))
        )
        salt = secrets.token_hex(16)
        await _deliver(ctx, config, identity, code)
        return {"salt": salt, "hash": _digest(salt, code), "expires_at": clock() + config.ttl_s}

    issued = await ctx.once("code", issue)
    result = {"verified": False, "method": config.method, "identity": identity}
    for attempt in range(1, config.max_attempts + 1):
        remaining = issued["expires_at"] - clock()
        if remaining <= 0:
            return Outcome("failed", {**result, "reason": "expired"})
        answer = await ctx.pause(
            "auth", str(ctx.render(config.prompt)), remaining, step=f"attempt{attempt}"
        )
        if answer is None or clock() >= issued["expires_at"]:
            return Outcome("failed", {**result, "reason": "expired"})
        code = str(answer.get("code") or answer.get("text") or "")
        if hmac.compare_digest(_digest(issued["salt"], code), issued["hash"]):
            return Outcome(
                "verified", {**result, "verified": True}, variables={"verified_identity": identity}
            )
    return Outcome("failed", {**result, "reason": f"max_attempts ({config.max_attempts}) used"})
