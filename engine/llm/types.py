"""The one request/response shape every provider speaks (docs/nodes.md: llm_call, agent_loop).

Messages are provider-neutral: a `tool` message carries the results of the tool calls the
previous assistant message made; each provider maps them to its wire format. Everything is a
frozen pydantic model so a response can be checkpointed (`model_dump`) and replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from engine.llm.errors import LlmConfigError

DeltaCallback = Callable[[str], None]
"""Receives each piece of streamed answer text, in order."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Frozen):
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ToolSpec(_Frozen):
    """A tool the model may call, MCP-style: `name` is the workspace's `server__tool` name."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    @classmethod
    def from_info(cls, info: Any) -> ToolSpec:
        """From an `engine.tools.ToolInfo` (an empty schema becomes an empty object schema)."""
        return cls(
            name=info.name,
            description=info.description,
            input_schema=info.input_schema or {"type": "object", "properties": {}},
        )


class ToolCall(_Frozen):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolOutput(_Frozen):
    """The result of one tool call, sent back to the model."""

    call_id: str
    name: str
    text: str
    is_error: bool = False

    @classmethod
    def from_result(cls, call: ToolCall, result: Any) -> ToolOutput:
        """From the call and its `engine.tools.ToolResult`."""
        return cls(call_id=call.id, name=call.name, text=result.text, is_error=result.is_error)


class Message(_Frozen):
    """One turn: `user` text, `assistant` text and tool calls, or `tool` results."""

    role: Literal["user", "assistant", "tool"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_outputs: tuple[ToolOutput, ...] = ()

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", text=text)

    @classmethod
    def assistant(cls, text: str, tool_calls: Sequence[ToolCall] = ()) -> Message:
        return cls(role="assistant", text=text, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, outputs: Sequence[ToolOutput]) -> Message:
        return cls(role="tool", tool_outputs=tuple(outputs))


class LlmRequest(_Frozen):
    """What to ask. `temperature` applies where the provider accepts it (not anthropic)."""

    system: str = ""
    messages: tuple[Message, ...] = Field(min_length=1)
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int = Field(1024, ge=1)
    stream: bool = False


StopReason = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence", "other"]


class LlmResponse(_Frozen):
    """A model's answer. `json` is set by structured output (`complete_json`), else None.

    `stop_reason` is normalised across providers: end_turn, max_tokens, tool_use, stop_sequence,
    or other.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    model: str
    usage: Usage = Usage()
    stop_reason: StopReason = "end_turn"
    json_value: Any = Field(None, alias="json")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_message(self) -> Message:
        """The assistant turn to append to the conversation before sending tool results."""
        return Message.assistant(self.text, self.tool_calls)

    def output(self) -> dict[str, Any]:
        """The `llm_call` node's output: {text, json, model, usage, stop_reason}."""
        return {
            "text": self.text,
            "json": self.json_value,
            "model": self.model,
            "usage": self.usage.model_dump(),
            "stop_reason": self.stop_reason,
        }


class Provider(Protocol):
    """One LLM service. `complete` makes one attempt; retries live in `engine.llm.Llm`."""

    name: str

    async def complete(
        self, model: str, request: LlmRequest, on_delta: DeltaCallback | None = None
    ) -> LlmResponse: ...

    async def aclose(self) -> None: ...


def messages_from_history(history: Any, where: str = "history") -> list[Message]:
    """Earlier turns given as [{role: user|assistant, content: text}] (llm_call's `history`)."""
    if history is None:
        return []
    if not isinstance(history, list):
        kind = type(history).__name__
        raise LlmConfigError(f"{where} must be a list of {{role, content}}, not {kind}")
    messages = []
    for index, item in enumerate(history):
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content") if isinstance(item, dict) else None
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise LlmConfigError(
                f"{where}[{index}] must be {{role: user or assistant, content: text}}"
            )
        messages.append(Message(role=role, text=content))
    return messages
