"""Why an LLM call failed, as specific exceptions whose messages say what and how to fix.

`kind` is what a node reports as `error.type`. Messages never carry secrets: providers pass
their key to `redact` before any server text reaches a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.llm.types import Usage


class LlmError(Exception):
    kind = "llm_error"


class LlmConfigError(LlmError):
    """The provider, model, settings or demo rules are not usable as configured."""

    kind = "llm_config"


class UnknownProviderError(LlmConfigError):
    pass


class MissingApiKeyError(LlmConfigError):
    kind = "llm_missing_key"


class LlmApiError(LlmError):
    """The provider answered with an error, or could not be reached."""

    kind = "llm_api"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class LlmUnavailableError(LlmApiError):
    """Every attempt failed with a retryable error (rate limit, server error, connection)."""

    kind = "llm_unavailable"


class StructuredOutputError(LlmError):
    """The answer still did not fit `output_schema` after the one repair attempt."""

    kind = "llm_invalid_output"

    def __init__(self, message: str, *, usage: Usage, text: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.text = text


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in its delta-seconds form (dates are ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
