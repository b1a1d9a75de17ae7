"""A provider bound to a model, with bounded retries and exponential backoff."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from engine.llm.errors import LlmApiError, LlmUnavailableError
from engine.llm.types import DeltaCallback, LlmRequest, LlmResponse, Provider


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in all (the first included) and the waits between them.

    A server's Retry-After is honoured, capped at `max_delay_s`.
    """

    attempts: int = 3
    delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 20.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        wait = self.delay_s * self.factor ** (attempt - 1)
        if retry_after_s is not None:
            wait = retry_after_s
        return min(wait, self.max_delay_s)


@dataclass(frozen=True)
class Llm:
    """What an executor calls: `name` ("anthropic:claude-sonnet-4-5") identifies the model."""

    provider: Provider
    model: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def name(self) -> str:
        return f"{self.provider.name}:{self.model}"

    async def complete(
        self, request: LlmRequest, on_delta: DeltaCallback | None = None
    ) -> LlmResponse:
        """One answer. Retries 429, 5xx and connection errors, unless text was already streamed
        (a retry would repeat it), and raises `LlmUnavailableError` when attempts run out."""
        streamed = False

        def forward(text: str) -> None:
            nonlocal streamed
            streamed = True
            if on_delta is not None:
                on_delta(text)

        attempt = 1
        while True:
            try:
                return await self.provider.complete(self.model, request, forward)
            except LlmApiError as exc:
                if not exc.retryable or streamed:
                    raise
                if attempt >= self.retry.attempts:
                    raise LlmUnavailableError(
                        f"{exc} (gave up after {attempt} attempts)",
                        provider=exc.provider,
                        status=exc.status,
                    ) from None
                await asyncio.sleep(self.retry.delay(attempt, exc.retry_after_s))
                attempt += 1
