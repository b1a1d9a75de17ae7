"""LLM providers behind one interface: `anthropic`, `openai` (any compatible server) and `demo`.

An executor resolves a model with `LlmRegistry.resolve(...)`, then calls `ask` (llm_call),
`classify` (confidence_router), `check_policy` (guardrail), or, for an agent's turns,
`llm.complete(request, on_delta)` with tools.
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
from engine.llm.tasks import Classification, PolicyVerdict, ask, check_policy, classify
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
    "Classification",
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
    "PolicyVerdict",
    "Provider",
    "RetryPolicy",
    "StructuredOutputError",
    "ToolCall",
    "ToolOutput",
    "ToolSpec",
    "UnknownProviderError",
    "Usage",
    "ask",
    "check_policy",
    "choose",
    "classify",
    "complete_json",
    "load_user_settings",
    "messages_from_history",
    "parse_json",
]
