"""The `anthropic` provider: the Messages API through the official SDK (over httpx2).

The SDK's own retries are off; `engine.llm.Llm` retries the same way for every provider.
`temperature` is not sent: the Messages API (2026-10-21, SDK 2.x) refuses sampling parameters.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from engine.llm.errors import LlmApiError, redact, retry_after
from engine.llm.types import (
    DeltaCallback,
    LlmRequest,
    LlmResponse,
    Message,
    StopReason,
    ToolCall,
    Usage,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
_RETRYABLE_TYPES = {"rate_limit_error", "overloaded_error", "api_error"}
_STOP_REASONS: dict[str | None, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
}


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, base_url: str | None = None, timeout_s: float = 300) -> None:
        url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._key = api_key
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=url.removesuffix("/v1"),
            max_retries=0,
            http_client=httpx2.AsyncClient(timeout=httpx2.Timeout(timeout_s, connect=10)),
        )

    async def complete(
        self, model: str, request: LlmRequest, on_delta: DeltaCallback | None = None
    ) -> LlmResponse:
        params = _params(model, request)
        try:
            if request.stream:
                async with self._client.messages.stream(**params) as stream:
                    async for event in stream:
                        if event.type == "text" and on_delta is not None:
                            on_delta(event.text)
                    message = await stream.get_final_message()
            else:
                message = await self._client.messages.create(**params)
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc) from None
        except anthropic.APIConnectionError as exc:
            raise LlmApiError(
                f"anthropic could not be reached at {self._client.base_url}: "
                f"{redact(exc.message, [self._key])}",
                provider=self.name,
                retryable=True,
            ) from None
        except (anthropic.APIError, ValueError) as exc:
            raise LlmApiError(
                f"anthropic sent an answer that could not be read: "
                f"{redact(str(exc), [self._key])[:200]}",
                provider=self.name,
            ) from None
        return _response(message)

    async def aclose(self) -> None:
        await self._client.close()

    def _status_error(self, exc: anthropic.APIStatusError) -> LlmApiError:
        status = exc.status_code
        kind = exc.type or "error"
        detail = redact(exc.api_message or str(exc.body or exc.message)[:300], [self._key])
        hint = ""
        if status in (401, 403):
            hint = " (check the ANTHROPIC_API_KEY secret in the workspace vault)"
        elif status == 404:
            hint = " (check the model name and the base URL)"
        said = f"answered {status}" if status >= 400 else "broke off its stream with"
        return LlmApiError(
            f"anthropic {said} {kind}: {detail}{hint}",
            provider=self.name,
            status=status,
            retryable=status == 429 or status >= 500 or kind in _RETRYABLE_TYPES,
            retry_after_s=retry_after(exc.response.headers.get("retry-after")),
        )


def _params(model: str, request: LlmRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [_message(m) for m in request.messages],
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [t.model_dump() for t in request.tools]
    return params


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": out.call_id,
                    "content": out.text,
                    "is_error": out.is_error,
                }
                for out in message.tool_outputs
            ],
        }
    if message.role == "user" or not message.tool_calls:
        return {"role": message.role, "content": message.text}
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.text}] if message.text else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in message.tool_calls
    ]
    return {"role": "assistant", "content": blocks}


def _response(message: Any) -> LlmResponse:
    text = "".join(block.text for block in message.content if block.type == "text")
    calls = tuple(
        ToolCall(id=block.id, name=block.name, arguments=dict(block.input or {}))
        for block in message.content
        if block.type == "tool_use"
    )
    return LlmResponse(
        text=text,
        tool_calls=calls,
        model=message.model,
        usage=Usage(
            input_tokens=message.usage.input_tokens or 0,
            output_tokens=message.usage.output_tokens or 0,
        ),
        stop_reason=_STOP_REASONS.get(message.stop_reason, "other"),
    )
