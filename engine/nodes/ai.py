"""AI nodes: llm_call, agent_loop, confidence_router, guardrail."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.nodes.control import HANDLE_PATTERN
from engine.nodes.spec import Category, NodeConfig, NodeSpec, capped, expression, names, template


class ModelChoice(NodeConfig):
    """Provider and model; empty means the flow's settings, then the user's."""

    provider: str | None = Field(
        None, description="LLM provider: anthropic, openai or demo (empty: the flow's)"
    )
    model: str | None = Field(None, description="Model name (empty: the flow's)")


class LlmCallConfig(ModelChoice):
    system: str = template("", "System prompt")
    prompt: str = template(description="The user message sent to the model")
    history: str | None = expression(None, "Expression giving earlier messages [{role, content}]")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature")
    max_tokens: int = capped(1024, 200_000, "Longest answer in tokens", ge=1)
    output_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema the answer must satisfy (one repair attempt)"
    )
    stream: bool = Field(True, description="Stream the answer's text while it is written")


class AgentLoopConfig(ModelChoice):
    goal: str = template(description="What the agent must achieve")
    system: str = template("", "System prompt")
    tools: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Tools the agent may call: names (server__tool) or * for all",
    )
    max_iterations: int = capped(10, 100, "Most model turns before 'exhausted'", ge=1)
    max_tool_calls: int = capped(25, 500, "Most tool calls before 'exhausted'", ge=0)
    approval_required_for: list[str] | None = Field(
        None, description="Tools that need a person's approval (empty: those marked destructive)"
    )


class Route(NodeConfig):
    name: str = Field(pattern=HANDLE_PATTERN, description="Route name; also its output handle")
    description: str = Field("", description="What belongs on this route")
    model: str | None = Field(None, description="Model to use downstream (sets vars.route_model)")
    keywords: list[str] = Field(
        default_factory=list, description="Words that select this route (keywords method)"
    )


class ConfidenceRouterConfig(ModelChoice):
    input: str = template(description="Text to classify")
    routes: list[Route] = Field(min_length=1, description="Routes to choose from")
    threshold: float = Field(
        0.7, ge=0, le=1, description="Below this confidence, take 'low_confidence'"
    )
    method: Literal["llm", "keywords"] = Field(
        "llm", description="Classify with a model, or offline with keywords"
    )

    @field_validator("routes")
    @classmethod
    def _unique_routes(cls, value: list[Route]) -> list[Route]:
        route_names = [r.name for r in value]
        if len(set(route_names)) != len(route_names) or "low_confidence" in route_names:
            raise ValueError("route names must be unique and not 'low_confidence'")
        return value


class Check(NodeConfig):
    check: Literal[
        "pii", "secrets", "prompt_injection", "regex", "max_length", "json_schema", "llm_policy"
    ] = Field(description="What to look for")
    pattern: str | None = Field(None, description="regex: the pattern that is a violation")
    max: int | None = Field(None, ge=1, description="max_length: the longest allowed text")
    schema_: dict[str, Any] | None = Field(
        None, alias="schema", description="json_schema: the schema the text must satisfy"
    )
    policy: str | None = Field(None, description="llm_policy: the policy a model checks")

    @model_validator(mode="after")
    def _parameters(self) -> Check:
        needed = {
            "regex": "pattern",
            "max_length": "max",
            "json_schema": "schema_",
            "llm_policy": "policy",
        }.get(self.check)
        if needed and getattr(self, needed) is None:
            raise ValueError(f"check '{self.check}' needs '{needed.rstrip('_')}'")
        if self.check == "regex" and self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from exc
        return self


class GuardrailConfig(ModelChoice):
    input: str = template(description="Text to check")
    checks: list[Check] = Field(min_length=1, description="Checks to run, in order")
    on_violation: Literal["block", "redact", "warn"] = Field(
        "block", description="Block the text, redact the violations, or only warn"
    )


def _route_handles(config: Mapping[str, Any]) -> list[str]:
    """One handle per route, named by its `name`."""
    return names(config, "routes", "name")


def _router_asks_model(config: Mapping[str, Any]) -> bool:
    """Method `llm` (the default) asks a model; `keywords` has no side effect."""
    return bool(config.get("method", "llm") == "llm")


def _guardrail_asks_model(config: Mapping[str, Any]) -> bool:
    """Only an `llm_policy` check asks a model."""
    return "llm_policy" in names(config, "checks", "check")


def _router_variables(config: Mapping[str, Any]) -> list[str]:
    """`route_model`: the chosen route's model."""
    return ["route_model"]


SPECS = (
    NodeSpec(
        type="llm_call",
        title="LLM call",
        description="Asks a language model; text or JSON that fits a schema",
        category=Category.AI,
        icon="sparkles",
        config_model=LlmCallConfig,
        outputs=("out", "error"),
        side_effect=True,
        output=(
            "`{text, json, model, usage: {input_tokens, output_tokens}, stop_reason}`; `json` "
            "when `output_schema` is set (validated, one repair attempt)"
        ),
    ),
    NodeSpec(
        type="agent_loop",
        title="Agent",
        description="A model that calls MCP tools in a loop until the goal is met",
        category=Category.AI,
        icon="bot",
        config_model=AgentLoopConfig,
        outputs=("out", "error", "exhausted"),
        side_effect=True,
        output="`{text, tool_calls: [{tool, arguments, is_error, latency_ms}], iterations, usage}`",
    ),
    NodeSpec(
        type="confidence_router",
        title="Confidence router",
        description="Routes by what the input is about; unsure answers take low_confidence",
        category=Category.AI,
        icon="signpost",
        config_model=ConfidenceRouterConfig,
        outputs=("low_confidence",),
        dynamic_outputs=_route_handles,
        variables=_router_variables,
        side_effect=_router_asks_model,
        output="`{route, confidence, model}`; sets `vars.route_model`",
    ),
    NodeSpec(
        type="guardrail",
        title="Guardrail",
        description="Checks text for PII, secrets, injections and policies; blocks or redacts",
        category=Category.AI,
        icon="shield-check",
        config_model=GuardrailConfig,
        outputs=("pass", "blocked"),
        side_effect=_guardrail_asks_model,
        output="`{passed, text, violations: [{check, detail}]}`",
    ),
)
