"""The `demo` provider: a scripted model for offline use, named `demo:<model>` wherever it shows.

Rules come from the flow's `settings.llm.demo_rules` and then a rules file, each
`{"match", "text", "json", "tool_calls", "after_tool"}`; the first eligible rule that matches
answers. The scheme, deterministic so a scripted agent can call tools and then finish:

- A turn answers either a user message or tool results (the conversation ends in `tool` results).
- A rule without `after_tool` is eligible only for a user message; a rule with `after_tool: T`
  only when the results just returned include one of tool `T`. So a rule never fires twice in a
  row, and an agent moves on: rule 1 calls a tool, rule 2 (`after_tool`) answers with text.
- `match` is tested against the last user message's text, and after tools also against the
  results just returned (each written `tool_name: result text`). A plain string matches as a
  case-insensitive substring; `/regex/` (or `/regex/i`) as a regular expression; no `match`
  matches everything.
- An answer is `text`, or `json` (sent as JSON text), and/or `tool_calls`
  [{name, arguments}] (ids `demo_call_<n>`, numbered through the conversation).
- With no matching rule the model says it is the demo model and how to choose a real one.

Usage is an estimate (words), so runs show plausible, repeatable numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.llm.errors import LlmConfigError
from engine.llm.types import DeltaCallback, LlmRequest, LlmResponse, ToolCall, Usage

_RULE_KEYS = {"match", "text", "json", "tool_calls", "after_tool"}


@dataclass(frozen=True)
class DemoRule:
    pattern: re.Pattern[str] | None
    text: str
    tool_calls: tuple[tuple[str, dict[str, Any]], ...]
    after_tool: str | None

    @classmethod
    def parse(cls, raw: Any, where: str) -> DemoRule:
        if not isinstance(raw, dict):
            raise LlmConfigError(f"{where} must be an object like {{match, text}}")
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise LlmConfigError(
                f"{where} has unknown key(s) {sorted(unknown)}; use {sorted(_RULE_KEYS)}"
            )
        if not {"text", "json", "tool_calls"} & set(raw):
            raise LlmConfigError(f"{where} needs an answer: 'text', 'json' or 'tool_calls'")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise LlmConfigError(f"{where}.text must be a string")
        if "json" in raw:
            text = json.dumps(raw["json"], ensure_ascii=False)
        after_tool = raw.get("after_tool")
        if after_tool is not None and not isinstance(after_tool, str):
            raise LlmConfigError(f"{where}.after_tool must be a tool name")
        return cls(
            _pattern(raw.get("match"), f"{where}.match"),
            text,
            _tool_calls(raw.get("tool_calls", []), where),
            after_tool,
        )

    def matches(self, subject: str) -> bool:
        return self.pattern is None or self.pattern.search(subject) is not None


def _pattern(match: Any, where: str) -> re.Pattern[str] | None:
    if match is None or match == "":
        return None
    if not isinstance(match, str):
        raise LlmConfigError(f"{where} must be a string (a substring, or /regex/)")
    regex = re.fullmatch(r"/(.*)/(i?)", match, flags=re.DOTALL)
    if regex is None:
        return re.compile(re.escape(match), re.IGNORECASE)
    try:
        return re.compile(regex.group(1), re.IGNORECASE if regex.group(2) else 0)
    except re.error as exc:
        problem = f"{where}: {match} is not a valid regular expression ({exc})"
        raise LlmConfigError(problem) from None


def _tool_calls(raw: Any, where: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    if not isinstance(raw, list):
        raise LlmConfigError(f"{where}.tool_calls must be a list of {{name, arguments}}")
    calls = []
    for index, call in enumerate(raw):
        name = call.get("name") if isinstance(call, dict) else None
        arguments = call.get("arguments", {}) if isinstance(call, dict) else None
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise LlmConfigError(
                f"{where}.tool_calls[{index}] must be {{name: server__tool, arguments: {{...}}}}"
            )
        calls.append((name, arguments))
    return tuple(calls)


def parse_rules(raw: Any, where: str) -> list[DemoRule]:
    """Check a rules list; errors name the rule, e.g. `settings.llm.demo_rules[2].match`."""
    if isinstance(raw, dict) and "rules" in raw:
        raw = raw["rules"]
    if not isinstance(raw, list):
        raise LlmConfigError(f"{where} must be a list of rules")
    return [DemoRule.parse(rule, f"{where}[{index}]") for index, rule in enumerate(raw)]


def load_rules(path: Path) -> list[DemoRule]:
    """Rules from a JSON file: a list of rules, or {"rules": [...]}."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LlmConfigError(f"demo rules file {path} cannot be read: {exc}") from None
    return parse_rules(raw, str(path))


class DemoProvider:
    name = "demo"

    def __init__(self, rules: Sequence[DemoRule] = ()) -> None:
        self.rules = tuple(rules)

    async def complete(
        self, model: str, request: LlmRequest, on_delta: DeltaCallback | None = None
    ) -> LlmResponse:
        rule = self._rule(request)
        calls: tuple[ToolCall, ...]
        if rule is None:
            text, calls = _canned(model, _user_text(request)), ()
        else:
            text = rule.text
            calls = _numbered(rule.tool_calls, request)
        if request.stream and on_delta is not None:
            for piece in re.findall(r"\S*\s*", text):
                if piece:
                    on_delta(piece)
        return LlmResponse(
            text=text,
            tool_calls=calls,
            model=f"demo:{model}",
            usage=Usage(input_tokens=_words(request), output_tokens=len(text.split())),
            stop_reason="tool_use" if calls else "end_turn",
        )

    async def aclose(self) -> None:
        return None

    def _rule(self, request: LlmRequest) -> DemoRule | None:
        last = request.messages[-1] if request.messages else None
        returned = last.tool_outputs if last is not None and last.role == "tool" else ()
        subject = "\n".join([_user_text(request)] + [f"{out.name}: {out.text}" for out in returned])
        names = {out.name for out in returned}
        for rule in self.rules:
            eligible = rule.after_tool in names if returned else rule.after_tool is None
            if eligible and rule.matches(subject):
                return rule
        return None


def _user_text(request: LlmRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return ""


def _numbered(
    calls: tuple[tuple[str, dict[str, Any]], ...], request: LlmRequest
) -> tuple[ToolCall, ...]:
    earlier = sum(len(m.tool_calls) for m in request.messages)
    return tuple(
        ToolCall(id=f"demo_call_{earlier + index + 1}", name=name, arguments=arguments)
        for index, (name, arguments) in enumerate(calls)
    )


def _words(request: LlmRequest) -> int:
    texts = [request.system] + [m.text for m in request.messages]
    texts += [out.text for m in request.messages for out in m.tool_outputs]
    return sum(len(text.split()) for text in texts)


def _canned(model: str, prompt: str) -> str:
    quoted = prompt if len(prompt) <= 80 else prompt[:77] + "..."
    return (
        f"This is the demo model (demo:{model}), a scripted stand-in for offline use, and no "
        f"demo rule matched {quoted!r}. Add a rule to the flow's settings.llm.demo_rules, or "
        "choose a real provider (anthropic or openai) on the node, in the flow's settings or in "
        "settings.json."
    )
