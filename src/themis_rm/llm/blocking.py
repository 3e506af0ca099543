"""A synchronous face for `ChatClient`, for callers that are not async (scorers, the mining vote).

The client lives on a private event loop in a daemon thread, so it works the same from a
script, from inside a running loop (a notebook) and across many calls, which keep their
pooled connections. Interrupting a call (Ctrl-C) cancels its requests on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from themis_rm.llm.client import ChatClient, ClientConfig, ClientStats
from themis_rm.llm.errors import LLMError
from themis_rm.llm.store import ResponseStore
from themis_rm.llm.types import ChatRequest, ChatResponse

T = TypeVar("T")


class BlockingChatClient:
    def __init__(self, config: ClientConfig, store: ResponseStore | None = None) -> None:
        self.config = config
        self.store = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="themis-llm", daemon=True)
        self._thread.start()
        self._client: ChatClient = self._run(self._open())
        self._closed = False

    async def _open(self) -> ChatClient:
        return ChatClient(self.config, self.store)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    @property
    def stats(self) -> ClientStats:
        return self._client.stats

    def complete(self, request: ChatRequest) -> ChatResponse:
        return self._run(self._client.complete(request))

    def complete_all(
        self,
        requests: Sequence[ChatRequest],
        tolerate: Callable[[LLMError], bool] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[ChatResponse | LLMError]:
        """See `ChatClient.complete_all`; `on_done` runs on the loop thread."""
        return self._run(self._client.complete_all(requests, tolerate, on_done))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> BlockingChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
