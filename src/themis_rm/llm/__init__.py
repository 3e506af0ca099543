"""A small client for OpenAI-compatible chat-completions servers, shared by the judges and the mining vote.

    from themis_rm.llm import BlockingChatClient, ChatRequest, ClientConfig

    config = ClientConfig(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-8B", concurrency=32)
    with BlockingChatClient(config) as client:
        answers = client.complete_all([ChatRequest.of([{"role": "user", "content": "Hi"}], max_tokens=8)])

It knows nothing about reward models: callers build the messages and read the text or log-probs.
"""

from themis_rm.llm.blocking import BlockingChatClient
from themis_rm.llm.client import ChatClient, CircuitBreaker, ClientConfig, ClientStats, normalize_base_url
from themis_rm.llm.errors import LLMError, RequestRejected, ServerUnavailable
from themis_rm.llm.store import ResponseStore
from themis_rm.llm.types import ChatRequest, ChatResponse, TokenLogprob

__all__ = [
    "BlockingChatClient",
    "ChatClient",
    "ChatRequest",
    "ChatResponse",
    "CircuitBreaker",
    "ClientConfig",
    "ClientStats",
    "LLMError",
    "RequestRejected",
    "ResponseStore",
    "ServerUnavailable",
    "TokenLogprob",
    "normalize_base_url",
]
