"""The `openai` provider: any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM,
LM Studio) over httpx2, JSON or SSE streaming.

`base_url` is the server's OpenAI root, e.g. `http://localhost:11434/v1` for Ollama; requests go
to `{base_url}/chat/completions`. Without a key no Authorization header is sent (local servers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_STOP_REASONS: dict[str | None, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, api_key: str | None, base_url: str | None = None, timeout_s: float = 300
    ) -> None:
        self._key = api_key
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(timeout_s, connect=10)
        )

    async def complete(
        self, model: str, request: LlmRequest, on_delta: DeltaCallback | None = None
    ) -> LlmResponse:
        body = _body(model, request)
        try:
            async with self._client.stream("POST", self._url, json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                kind = response.headers.get("content-type", "")
                if request.stream and kind.startswith("text/event-stream"):
                    return await self._read_stream(response, model, on_delta)
                await response.aread()
                return _response(response.json(), model)
        except httpx2.TransportError as exc:
            raise LlmApiError(
                f"openai could not be reached at {self._url}: "
                f"{redact(str(exc) or type(exc).__name__, [self._key])}",
                provider=self.name,
                retryable=True,
            ) from None
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmApiError(
                f"openai server at {self._url} sent an answer that is not a chat completion: "
                f"{redact(str(exc), [self._key])[:200]}",
                provider=self.name,
            ) from None

    async def aclose(self) -> None:
        await self._client.aclose()

    def _status_error(self, response: httpx2.Response) -> LlmApiError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = response.text[:300]
        error = body.get("error") if isinstance(body, dict) else body
        detail = error.get("message") if isinstance(error, dict) else error
        detail = redact(str(detail or response.reason_phrase), [self._key])
        hint = ""
        if status in (401, 403):
            hint = " (check the OPENAI_API_KEY secret in the workspace vault)"
        elif status == 404:
            hint = " (check the model name and the base URL, which should end in /v1)"
        return LlmApiError(
            f"openai answered {status}: {detail}{hint}",
            provider=self.name,
            status=status,
            retryable=status in (408, 409, 429) or status >= 500,
            retry_after_s=retry_after(response.headers.get("retry-after")),
        )

    async def _read_stream(
        self, response: httpx2.Response, model: str, on_delta: DeltaCallback | None
    ) -> LlmResponse:
        """Accumulate `data:` chunks until `[DONE]`: text, tool-call deltas by index, usage."""
        text: list[str] = []
        calls: dict[int, _PartialCall] = {}
        finish: str | None = None
        usage = Usage()
        async for event in httpx2.EventSource(response):
            if event.data.strip() == "[DONE]":
                break
            chunk = json.loads(event.data)
            if chunk.get("error"):
                raise self._stream_error(chunk["error"])
            model = chunk.get("model") or model
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    text.append(delta["content"])
                    if on_delta is not None:
                        on_delta(delta["content"])
                for part in delta.get("tool_calls") or []:
                    call = calls.setdefault(part.get("index", 0), _PartialCall())
                    call.id = part.get("id") or call.id
                    function = part.get("function") or {}
                    call.name = function.get("name") or call.name
                    call.arguments.append(function.get("arguments") or "")
                finish = choice.get("finish_reason") or finish
        return LlmResponse(
            text="".join(text),
            tool_calls=tuple(
                ToolCall(id=c.id, name=c.name, arguments=_arguments(c.name, "".join(c.arguments)))
                for _, c in sorted(calls.items())
            ),
            model=model,
            usage=usage,
            stop_reason=_STOP_REASONS.get(finish, "other"),
        )

    def _stream_error(self, error: Any) -> LlmApiError:
        detail = error.get("message") if isinstance(error, dict) else error
        return LlmApiError(
            f"openai broke off its stream: {redact(str(detail), [self._key])}",
            provider=self.name,
            retryable=True,
        )


def _body(model: str, request: LlmRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.extend(_messages(message))
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": request.max_tokens}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _messages(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"role": "tool", "tool_call_id": out.call_id, "content": out.text}
            for out in message.tool_outputs
        ]
    if message.role == "user" or not message.tool_calls:
        return [{"role": message.role, "content": message.text}]
    return [
        {
            "role": "assistant",
            "content": message.text or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in message.tool_calls
            ],
        }
    ]


def _arguments(name: str, raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """Arguments as JSON text (the standard) or, as some servers send them, an object."""
    value = json.loads(raw) if isinstance(raw, str) and raw else raw or {}
    if not isinstance(value, dict):
        raise ValueError(f"the arguments of tool call '{name}' are not a JSON object")
    return value


def _usage(data: dict[str, Any] | None) -> Usage:
    data = data or {}
    return Usage(
        input_tokens=data.get("prompt_tokens") or 0,
        output_tokens=data.get("completion_tokens") or 0,
    )


def _response(data: dict[str, Any], model: str) -> LlmResponse:
    choice = data["choices"][0]
    message = choice["message"]
    calls = tuple(
        ToolCall(
            id=c["id"],
            name=c["function"]["name"],
            arguments=_arguments(c["function"]["name"], c["function"].get("arguments")),
        )
        for c in message.get("tool_calls") or []
    )
    return LlmResponse(
        text=message.get("content") or "",
        tool_calls=calls,
        model=data.get("model") or model,
        usage=_usage(data.get("usage")),
        stop_reason=_STOP_REASONS.get(choice.get("finish_reason"), "other"),
    )


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
