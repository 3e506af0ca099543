"""Why a chat request did not produce an answer, split by what the caller should do about it."""

from __future__ import annotations

import re

_OVERFLOW = re.compile(
    r"context length|context window|maximum context|too many tokens|"
    r"exceeds? the (?:model'?s? )?(?:max|maximum)|max_model_len|too long",
    re.IGNORECASE,
)


class LLMError(RuntimeError):
    """Base of every error the chat client raises."""


class ServerUnavailable(LLMError):
    """The server did not answer after retries, or the circuit breaker opened. Transient: rerun to resume."""


class RequestRejected(LLMError):
    """The server refused this request (HTTP 4xx other than 429); retrying the same request will not help."""

    def __init__(self, status: int, message: str, url: str = "") -> None:
        self.status = status
        self.server_message = message
        hint = {
            401: "; check the API key (name its environment variable with --api-key-env)",
            403: "; check the API key and its permissions",
            404: "; check the model name and that the base URL ends with /v1",
        }.get(status, "")
        super().__init__(f"{url or 'server'} answered HTTP {status}: {message[:300]}{hint}")

    @property
    def context_overflow(self) -> bool:
        """The prompt does not fit the model: a property of this row, not of the run."""
        return self.status in (400, 413, 422) and bool(_OVERFLOW.search(self.server_message))
