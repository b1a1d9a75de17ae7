"""What the AI nodes ask a model, so their executors stay thin.

`ask` is `llm_call`; `classify` is the `llm` method of `confidence_router`; `check_policy` is
guardrail's `llm_policy`. The user message of `classify` and `check_policy` is the text itself,
so a demo rule can match on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.llm.model import Llm
from engine.llm.structured import complete_json
from engine.llm.types import DeltaCallback, LlmRequest, LlmResponse, Message, Usage


async def ask(
    llm: Llm,
    prompt: str,
    *,
    system: str = "",
    history: Sequence[Message] = (),
    temperature: float | None = None,
    max_tokens: int = 1024,
    output_schema: dict[str, Any] | None = None,
    stream: bool = False,
    on_delta: DeltaCallback | None = None,
) -> LlmResponse:
    """One `llm_call`: text, or JSON fitting `output_schema`; `.output()` is the node's output."""
    request = LlmRequest(
        system=system,
        messages=(*history, Message.user(prompt)),
        temperature=temperature,
        max_tokens=max_tokens,
        stream=stream,
    )
    if output_schema is not None:
        return await complete_json(llm, request, output_schema, on_delta)
    return await llm.complete(request, on_delta)


@dataclass(frozen=True)
class Classification:
    route: str
    confidence: float
    model: str
    usage: Usage


async def classify(
    llm: Llm, text: str, routes: Sequence[tuple[str, str]], max_tokens: int = 256
) -> Classification:
    """The route (name, description) the text belongs to, with the model's confidence 0..1."""
    names = [name for name, _ in routes]
    listing = "\n".join(f"- {name}: {description}" for name, description in routes)
    system = (
        "Classify the user's text into exactly one of these routes and say how confident you "
        f"are, from 0 to 1:\n{listing}\n"
        'Answer as {"route": <route name>, "confidence": <number>}.'
    )
    schema = {
        "type": "object",
        "properties": {
            "route": {"enum": names},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["route", "confidence"],
    }
    request = LlmRequest(system=system, messages=(Message.user(text),), max_tokens=max_tokens)
    response = await complete_json(llm, request, schema)
    value = response.json_value
    return Classification(
        route=value["route"],
        confidence=float(value["confidence"]),
        model=response.model,
        usage=response.usage,
    )


@dataclass(frozen=True)
class PolicyVerdict:
    violates: bool
    reason: str
    model: str
    usage: Usage


async def check_policy(llm: Llm, text: str, policy: str, max_tokens: int = 256) -> PolicyVerdict:
    """Whether the text breaks the policy, and why (guardrail's `llm_policy` check)."""
    system = (
        "You check texts against this policy:\n"
        f"{policy}\n"
        "Say whether the user's text violates it, and give a one-sentence reason. "
        'Answer as {"violates": <true or false>, "reason": <text>}.'
    )
    schema = {
        "type": "object",
        "properties": {"violates": {"type": "boolean"}, "reason": {"type": "string"}},
        "required": ["violates", "reason"],
    }
    request = LlmRequest(system=system, messages=(Message.user(text),), max_tokens=max_tokens)
    response = await complete_json(llm, request, schema)
    value = response.json_value
    return PolicyVerdict(
        violates=bool(value["violates"]),
        reason=str(value["reason"]),
        model=response.model,
        usage=response.usage,
    )
