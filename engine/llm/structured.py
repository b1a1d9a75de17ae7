"""Structured output: an answer that fits a JSON Schema, with exactly one repair attempt.

The schema goes in the system prompt (this works the same on every provider, the demo model
included); an answer that is not JSON or does not fit is sent back once with the problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.llm.errors import LlmConfigError, StructuredOutputError
from engine.llm.model import Llm
from engine.llm.types import DeltaCallback, LlmRequest, LlmResponse, Message

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


async def complete_json(
    llm: Llm,
    request: LlmRequest,
    schema: dict[str, Any],
    on_delta: DeltaCallback | None = None,
) -> LlmResponse:
    """The answer with `json` set to the validated value; usage is summed over both attempts.

    Deltas of the repair attempt follow those of the first. Raises `StructuredOutputError`.
    """
    validator = _validator(schema)
    instruction = (
        "Answer with one JSON value that satisfies this JSON Schema, and nothing else:\n"
        + json.dumps(schema, sort_keys=True)
    )
    system = f"{request.system}\n\n{instruction}" if request.system else instruction
    asked = request.model_copy(update={"system": system, "tools": ()})
    first = await llm.complete(asked, on_delta)
    value, problem = _check(first.text, validator)
    if problem is None:
        return first.model_copy(update={"json_value": value})
    repair = asked.model_copy(
        update={
            "messages": (
                *asked.messages,
                Message.assistant(first.text),
                Message.user(
                    f"That answer does not fit the schema: {problem}. Answer again with only "
                    "the JSON value."
                ),
            )
        }
    )
    second = await llm.complete(repair, on_delta)
    usage = first.usage + second.usage
    value, problem = _check(second.text, validator)
    if problem is not None:
        shown = second.text if len(second.text) <= 200 else second.text[:197] + "..."
        raise StructuredOutputError(
            f"the answer of {llm.name} does not fit output_schema after one repair attempt: "
            f"{problem} (answer: {shown!r})",
            usage=usage,
            text=second.text,
        )
    return second.model_copy(update={"json_value": value, "usage": usage})


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise LlmConfigError(f"output_schema is not a valid JSON Schema: {exc.message}") from None
    return cls(schema)


def parse_json(text: str) -> Any:
    """The JSON value in an answer: the whole text, a ```json fence, or the first {...}/[...]."""
    stripped = text.strip()
    fenced = _FENCE.search(stripped)
    candidates = [stripped] + ([fenced.group(1).strip()] if fenced else [])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    starts = [i for i in (stripped.find("{"), stripped.find("[")) if i >= 0]
    if starts:
        try:
            return json.JSONDecoder().raw_decode(stripped[min(starts) :])[0]
        except ValueError:
            pass
    raise ValueError("the answer is not JSON")


def _check(text: str, validator: Any) -> tuple[Any, str | None]:
    try:
        value = parse_json(text)
    except ValueError as exc:
        return None, str(exc)
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(value))
    if error is None:
        return value, None
    where = error.json_path.replace("$", "answer", 1)
    return value, f"{where}: {error.message}"
