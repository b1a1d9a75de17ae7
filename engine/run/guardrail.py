"""The guardrail node: checks text for PII, secrets, prompt injection, patterns, length, JSON shape
and an LLM policy; blocks, redacts or warns. Details never repeat the offending value."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.nodes.ai import Check, GuardrailConfig
from engine.run.context import NodeContext, Outcome
from engine.run.executors import executor


@dataclass(frozen=True)
class Finding:
    check: str
    detail: str
    span: tuple[int, int] | None = None
    label: str = ""


EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{7,}\d(?!\w)")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
SECRET_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{16,}|ghp_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|aero_[A-Za-z0-9_-]{20,})\b"
)
INJECTION = [
    (
        re.compile(
            r"\b(ignore|disregard|forget)\b.{0,30}\b(previous|prior|above|earlier)\b.{0,20}"
            r"\b(instructions?|prompts?|rules?)\b",
            re.I,
        ),
        "asks to ignore earlier instructions",
    ),
    (
        re.compile(
            r"\b(reveal|show|print|repeat)\b.{0,30}\b(system|hidden|initial)\s+"
            r"(prompt|instructions?)\b",
            re.I,
        ),
        "asks for the system prompt",
    ),
    (
        re.compile(r"\byou are now\b|\bact as\b.{0,40}\b(unrestricted|jailbroken|dan)\b", re.I),
        "tries to change the assistant's role",
    ),
    (re.compile(r"\b(developer|god|jailbreak)\s+mode\b", re.I), "asks for a jailbreak mode"),
]


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1


def pii(text: str) -> list[Finding]:
    found = [Finding("pii", "email address", m.span(), "[EMAIL]") for m in EMAIL.finditer(text)]
    found += [
        Finding("pii", "IBAN", m.span(), "[IBAN]")
        for m in IBAN.finditer(text)
        if iban_valid(m.group())
    ]
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(Finding("pii", "card number", match.span(), "[CARD]"))
    taken = [f.span for f in found if f.span]
    for match in PHONE.finditer(text):
        start, end = match.span()
        digits = re.sub(r"\D", "", match.group())
        overlaps = any(start < b and a < end for a, b in taken)
        if 9 <= len(digits) <= 15 and not overlaps:
            found.append(Finding("pii", "phone number", match.span(), "[PHONE]"))
    return found


def secrets(text: str, values: Iterable[str]) -> Iterator[Finding]:
    for value in values:
        if len(value) >= 4:
            for match in re.finditer(re.escape(value), text):
                yield Finding("secrets", "a workspace secret", match.span(), "[SECRET]")
    for match in SECRET_SHAPES.finditer(text):
        yield Finding("secrets", "something shaped like an API key", match.span(), "[SECRET]")


def prompt_injection(text: str) -> Iterator[Finding]:
    for pattern, reason in INJECTION:
        match = pattern.search(text)
        if match:
            yield Finding("prompt_injection", reason, match.span(), "[REMOVED]")


def _simple(check: Check, text: str) -> Iterator[Finding]:
    if check.check == "regex" and check.pattern:
        for match in re.finditer(check.pattern, text):
            yield Finding("regex", f"matches {check.pattern}", match.span(), "[REDACTED]")
    elif check.check == "max_length" and check.max and len(text) > check.max:
        yield Finding("max_length", f"{len(text)} characters, more than {check.max}")
    elif check.check == "json_schema" and check.schema_ is not None:
        from jsonschema import Draft202012Validator

        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Finding("json_schema", f"not JSON: {exc.msg}")
            return
        problem = next(Draft202012Validator(check.schema_).iter_errors(value), None)
        if problem is not None:
            yield Finding("json_schema", f"{problem.json_path}: {problem.message}")


def redact(text: str, findings: list[Finding]) -> str:
    """Replace each finding's span with its label, the earliest and longest first."""
    spans = sorted(
        ((f.span, f.label) for f in findings if f.span is not None),
        key=lambda item: (item[0][0], -item[0][1]),
    )
    out, position = [], 0
    for (start, end), label in spans:
        if start < position:
            continue
        out += [text[position:start], label]
        position = end
    out.append(text[position:])
    return "".join(out)


async def _secret_values(ctx: NodeContext) -> list[str]:
    """Every value in the workspace vault, when the vault can list them."""
    lookup = ctx.services.secrets
    values = getattr(lookup, "secret_values", None)
    if values is None:
        return []
    return [str(v) for v in await values(ctx.workspace)]


@executor("guardrail")
async def run_guardrail(ctx: NodeContext, config: GuardrailConfig) -> Outcome:
    text = str(ctx.render(config.input))
    findings: list[Finding] = []
    for check in config.checks:
        if check.check == "pii":
            findings.extend(pii(text))
        elif check.check == "secrets":
            findings.extend(secrets(text, await _secret_values(ctx)))
        elif check.check == "prompt_injection":
            findings.extend(prompt_injection(text))
        elif check.check == "llm_policy":
            findings.extend(await _policy(ctx, config, check, text))
        else:
            findings.extend(_simple(check, text))
    violations = [{"check": f.check, "detail": f.detail} for f in findings]
    if not findings:
        return Outcome("pass", {"passed": True, "text": text, "violations": []})
    if config.on_violation == "block":
        return Outcome("blocked", {"passed": False, "text": "", "violations": violations})
    shown = redact(text, findings) if config.on_violation == "redact" else text
    return Outcome("pass", {"passed": False, "text": shown, "violations": violations})


async def _policy(
    ctx: NodeContext, config: GuardrailConfig, check: Check, text: str
) -> list[Finding]:
    from engine.llm import LlmError, check_policy
    from engine.run.ai_executors import LlmNodeError

    try:
        llm = await ctx.services.llm_registry().resolve(
            provider=config.provider,
            model=config.model,
            flow_llm=ctx.flow_llm,
            workspace=ctx.workspace,
        )
        verdict = await check_policy(llm, text, check.policy or "")
    except LlmError as exc:
        raise LlmNodeError(exc) from None
    return [Finding("llm_policy", verdict.reason)] if verdict.violates else []
