"""Nodes that wait for a person: human_review, auth_gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from engine.nodes.spec import Category, NodeConfig, NodeSpec, capped, expression, template


class HumanReviewConfig(NodeConfig):
    title: str = template(description="What the reviewer is asked")
    details: str = template("", "Details shown to the reviewer")
    reviewers: list[str] = Field(
        default_factory=list, description="Roles or members who may decide (empty: anyone)"
    )
    form: dict[str, Any] | None = Field(
        None, description="JSON Schema of a form the reviewer fills in"
    )
    timeout_s: float = capped(86400, 30 * 86400, "Take 'timeout' after this many seconds", ge=1)


class AuthGateConfig(NodeConfig):
    method: Literal["email_otp", "magic_link", "webhook"] = Field(
        "email_otp", description="How the identity is verified"
    )
    identity: str = expression(description="Expression giving the email address or user to verify")
    prompt: str = template(
        "Enter the code we sent you", "What the user is told while the run waits"
    )
    code_length: int = Field(6, ge=4, le=10, description="Digits in the one-time code")
    ttl_s: float = capped(600, 86400, "The code expires after this many seconds", ge=10)
    max_attempts: int = capped(3, 10, "Wrong codes allowed before 'failed'", ge=1)
    webhook_url: str | None = template(None, "Webhook method: the provider URL that sends the code")

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> AuthGateConfig:
        if self.method == "webhook" and not self.webhook_url:
            raise ValueError("the webhook method needs 'webhook_url'")
        return self


def _verified_identity(config: Mapping[str, Any]) -> list[str]:
    """`verified_identity`: who was verified."""
    return ["verified_identity"]


SPECS = (
    NodeSpec(
        type="human_review",
        title="Human review",
        description="Pauses until a person approves or rejects, with an optional form",
        category=Category.PEOPLE,
        icon="user-check",
        config_model=HumanReviewConfig,
        outputs=("approved", "rejected", "timeout"),
        pauses=True,
        output="`{decision, reviewer, comment, form}`",
    ),
    NodeSpec(
        type="auth_gate",
        title="Auth gate",
        description="Verifies who the user is with a one-time code or a magic link",
        category=Category.PEOPLE,
        icon="lock",
        config_model=AuthGateConfig,
        outputs=("verified", "failed"),
        pauses=True,
        variables=_verified_identity,
        output="`{verified, method, identity}`; sets `vars.verified_identity`",
    ),
)
