"""LLM providers behind one interface: `anthropic`, `openai` (any compatible server) and `demo`.

An executor resolves a model with `LlmRegistry.resolve(...)`, builds an `LlmRequest`, and calls
`llm.complete(request, on_delta)` or `complete_json(llm, request, schema, on_delta)`.
"""

from engine.llm.errors import (
    LlmApiError,
    LlmConfigError,
    LlmError,
    LlmUnavailableError,
    MissingApiKeyError,
    StructuredOutputError,
    UnknownProviderError,
)
from engine.llm.model import Llm, RetryPolicy
from engine.llm.resolve import LlmRegistry, choose, load_user_settings
from engine.llm.structured import complete_json, parse_json
from engine.llm.types import (
    DeltaCallback,
    LlmRequest,
    LlmResponse,
    Message,
    Provider,
    ToolCall,
    ToolOutput,
    ToolSpec,
    Usage,
    messages_from_history,
)

__all__ = [
    "DeltaCallback",
    "Llm",
    "LlmApiError",
    "LlmConfigError",
    "LlmError",
    "LlmRegistry",
    "LlmRequest",
    "LlmResponse",
    "LlmUnavailableError",
    "Message",
    "MissingApiKeyError",
    "Provider",
    "RetryPolicy",
    "StructuredOutputError",
    "ToolCall",
    "ToolOutput",
    "ToolSpec",
    "UnknownProviderError",
    "Usage",
    "choose",
    "complete_json",
    "load_user_settings",
    "messages_from_history",
    "parse_json",
]
