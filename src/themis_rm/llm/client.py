"""An async client for any OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp, TGI, hosted).

Requests run concurrently up to a bound. Rate limits (429), server errors (5xx), time-outs
and dropped connections are retried with exponential back-off and jitter (a `Retry-After`
header wins). A circuit breaker counts failed attempts in a row across all requests; when
it opens, every waiting request fails at once with one message, instead of each request
retrying against a server that is down. Other 4xx answers are raised at once: the same
request would be refused again. With a `ResponseStore`, each answer is kept as it
arrives, and a rerun sends only what is missing.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from themis_rm.llm.errors import LLMError, RequestRejected, ServerUnavailable
from themis_rm.llm.store import ResponseStore
from themis_rm.llm.types import ChatRequest, ChatResponse

_POOL_SIZE = 8  # connections per httpx pool


def normalize_base_url(url: str) -> str:
    """`http://host:8000` → `http://host:8000/v1`; a URL that already has a path is kept as given."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must look like http://host:port/v1, got {url!r}")
    return url if parts.path else url + "/v1"


@dataclass(frozen=True)
class ClientConfig:
    """How to reach the server and how hard to try. `breaker_threshold` defaults to max(8, 2 × concurrency)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 16
    timeout: float = 120.0
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    breaker_threshold: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    @property
    def threshold(self) -> int:
        return self.breaker_threshold or max(8, 2 * self.concurrency)


@dataclass
class ClientStats:
    """Counters for progress lines and run manifests."""

    answered: int = 0
    from_store: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    rate_limited: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def error_rate(self) -> float:
        return self.failed_attempts / self.attempts if self.attempts else 0.0

    def as_dict(self) -> dict[str, Any]:
        def per_second(count: int) -> float | None:
            return round(count / self.seconds, 2) if self.seconds > 0 else None

        return {
            "requests_answered": self.answered,
            "requests_from_store": self.from_store,
            "http_attempts": self.attempts,
            "http_failed_attempts": self.failed_attempts,
            "http_rate_limited": self.rate_limited,
            "http_retries": self.retries,
            "error_rate": round(self.error_rate, 4),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.tokens,
            "requests_per_second": per_second(self.answered),
            "tokens_per_second": per_second(self.tokens),
        }


class CircuitBreaker:
    """Opens after `threshold` failed attempts in a row; any success closes the count again."""

    def __init__(self, threshold: int, url: str) -> None:
        self.threshold, self.url = threshold, url
        self.failures = 0
        self.last_error = ""
        self.open = False

    def success(self) -> None:
        self.failures = 0

    def failure(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.failures >= self.threshold:
            self.open = True

    def message(self, completed: int) -> str:
        return (
            f"the server at {self.url} is not answering ({self.failures} failed attempts in a row; last: "
            f"{self.last_error}). Stopped after {completed} completed requests; rerunning the same command "
            "resumes from what was cached. Check that the server is up, or lower --concurrency."
        )


class _Retry(Exception):
    """One attempt failed in a way worth another try."""

    def __init__(self, error: str, after: float | None = None, counts_for_breaker: bool = True) -> None:
        super().__init__(error)
        self.error, self.after, self.counts_for_breaker = error, after, counts_for_breaker


class ChatClient:
    """Use inside one event loop; `BlockingChatClient` wraps it for synchronous callers."""

    def __init__(
        self,
        config: ClientConfig,
        store: ResponseStore | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.stats = ClientStats()
        self.breaker = CircuitBreaker(config.threshold, config.base_url)
        # Connections are split into small pools, one per group of slots: httpcore scans (and polls)
        # every connection of a pool on each request, so one pool of 64 costs far more CPU than 8 of 8.
        shards = -(-config.concurrency // _POOL_SIZE)
        self._free_slots: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(config.concurrency):
            self._free_slots.put_nowait(slot)
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._pools = [
            httpx.AsyncClient(
                base_url=config.base_url,
                headers=headers,
                timeout=httpx.Timeout(config.timeout, pool=None),
                limits=httpx.Limits(max_connections=_POOL_SIZE, max_keepalive_connections=_POOL_SIZE),
            )
            for _ in range(shards)
        ]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        key = request.key(self.config.model) if self.store is not None else ""
        if self.store is not None:
            stored = self.store.get(key)
            if stored is not None:
                self.stats.from_store += 1
                return stored
        slot = await self._free_slots.get()
        try:
            response = await self._send(request.body(self.config.model), self._pools[slot // _POOL_SIZE])
        finally:
            self._free_slots.put_nowait(slot)
        self.stats.answered += 1
        self.stats.prompt_tokens += response.prompt_tokens
        self.stats.completion_tokens += response.completion_tokens
        if self.store is not None and (request.top_logprobs == 0 or response.logprobs is not None):
            self.store.put(key, response)  # an answer without the log-probs asked for may come right elsewhere
        return response

    async def complete_all(
        self,
        requests: Sequence[ChatRequest],
        tolerate: Callable[[LLMError], bool] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[ChatResponse | LLMError]:
        """Answers in request order. Errors for which `tolerate` is true are returned in place;
        any other error cancels the rest and is raised."""
        started = time.perf_counter()
        done = 0

        async def one(request: ChatRequest) -> ChatResponse | LLMError:
            nonlocal done
            try:
                result: ChatResponse | LLMError = await self.complete(request)
            except LLMError as err:
                if tolerate is None or not tolerate(err):
                    raise
                result = err
            done += 1
            if on_done is not None:
                on_done(done)
            return result

        tasks = [asyncio.ensure_future(one(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.stats.seconds += time.perf_counter() - started

    async def _send(self, body: dict[str, Any], http: httpx.AsyncClient) -> ChatResponse:
        last = ""
        for attempt in range(self.config.max_retries + 1):
            if self.breaker.open:
                raise ServerUnavailable(self.breaker.message(self.stats.answered))
            if attempt:
                self.stats.retries += 1
            try:
                response = await self._attempt(body, http)
            except _Retry as retry:
                self.stats.failed_attempts += 1
                last = retry.error
                if retry.counts_for_breaker:
                    self.breaker.failure(retry.error)
                if attempt < self.config.max_retries and not self.breaker.open:
                    await asyncio.sleep(self._delay(attempt, retry.after))
                continue
            self.breaker.success()
            return response
        if self.breaker.open:
            raise ServerUnavailable(self.breaker.message(self.stats.answered))
        raise ServerUnavailable(
            f"gave up on a request to {self.config.base_url} after {self.config.max_retries + 1} attempts "
            f"(last: {last}). Rerunning the same command resumes from what was cached; lower --concurrency "
            "if the server is rate-limiting."
        )

    async def _attempt(self, body: dict[str, Any], http: httpx.AsyncClient) -> ChatResponse:
        self.stats.attempts += 1
        try:
            reply = await http.post("chat/completions", json=body)
        except httpx.TimeoutException:
            raise _Retry(f"no answer within {self.config.timeout:g}s (raise --timeout for slow servers)") from None
        except httpx.TransportError as err:
            raise _Retry(f"{type(err).__name__}: {err}") from None
        status = reply.status_code
        if status == 429:
            self.stats.rate_limited += 1
            raise _Retry("HTTP 429 (rate limited)", _retry_after(reply), counts_for_breaker=False)
        if status >= 500:
            raise _Retry(f"HTTP {status}: {reply.text[:200]}", _retry_after(reply))
        if status >= 400:
            raise RequestRejected(status, _error_message(reply), self.config.base_url)
        try:
            return ChatResponse.from_openai(reply.json())
        except (ValueError, TypeError, AttributeError) as err:  # garbled JSON, a proxy glitch: worth another try
            raise _Retry(f"unreadable response ({err}): {reply.text[:200]}") from None

    def _delay(self, attempt: int, after: float | None) -> float:
        if after is not None:
            return min(after, self.config.backoff_max)
        delay = min(self.config.backoff_max, self.config.backoff_base * 2**attempt)
        return delay * random.uniform(0.5, 1.0)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def _retry_after(reply: httpx.Response) -> float | None:
    value = reply.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(reply: httpx.Response) -> str:
    try:
        payload = reply.json()
    except ValueError:
        return reply.text.strip()
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if error:
        return str(error)
    return str(payload.get("detail") or payload.get("message") or payload) if isinstance(payload, dict) else str(payload)
