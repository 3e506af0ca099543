"""What goes to and comes back from a chat-completions server, as plain frozen values.

Requests hash to a content key, so a store can answer a repeated request without the
server; responses keep only what callers read (text, finish reason, log-probs, token
counts) and round-trip through JSON, so a stored answer reads back exactly as it came.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Message = Mapping[str, str]


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion. `top_logprobs` > 0 asks for that many alternatives per generated token."""

    messages: tuple[Mapping[str, str], ...]
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    top_logprobs: int = 0
    stop: tuple[str, ...] = ()
    #: Any further body fields a server understands (e.g. `{"top_k": 1}`); they join the key.
    extra: tuple[tuple[str, Any], ...] = ()

    @staticmethod
    def of(messages: Sequence[Message], **fields: Any) -> ChatRequest:
        frozen = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in messages)
        extra = fields.pop("extra", None) or {}
        return ChatRequest(messages=frozen, extra=tuple(sorted(extra.items())), **fields)

    def body(self, model: str) -> dict[str, Any]:
        """The JSON body of `POST /chat/completions`; unset fields are left out for the server's default."""
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in self.messages]}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.seed is not None:
            body["seed"] = self.seed
        if self.top_logprobs > 0:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        if self.stop:
            body["stop"] = list(self.stop)
        body.update(dict(self.extra))
        return body

    def key(self, model: str) -> str:
        """A content hash of the body: the same model asked the same thing gets the same key."""
        blob = json.dumps(self.body(model), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability, and the alternatives the server listed there."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> list[Any]:
        return [self.token, self.logprob, [list(t) for t in self.top]]

    @staticmethod
    def from_json(raw: Sequence[Any]) -> TokenLogprob:
        token, logprob, top = raw
        return TokenLogprob(str(token), float(logprob), tuple((str(t), float(lp)) for t, lp in top))


@dataclass(frozen=True)
class ChatResponse:
    """The first choice of a completion. `logprobs` is None when the server sent none."""

    text: str
    finish_reason: str | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: True when the answer came from the response store instead of the server.
    from_store: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "logprobs": None if self.logprobs is None else [t.to_json() for t in self.logprobs],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    @staticmethod
    def from_json(raw: Mapping[str, Any], from_store: bool = False) -> ChatResponse:
        logprobs = raw.get("logprobs")
        return ChatResponse(
            text=str(raw.get("text") or ""),
            finish_reason=raw.get("finish_reason"),
            logprobs=None if logprobs is None else tuple(TokenLogprob.from_json(t) for t in logprobs),
            prompt_tokens=int(raw.get("prompt_tokens") or 0),
            completion_tokens=int(raw.get("completion_tokens") or 0),
            from_store=from_store,
        )

    @staticmethod
    def from_openai(payload: Mapping[str, Any]) -> ChatResponse:
        """Read an OpenAI chat-completions response body; raises ValueError when it has no choice."""
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            raise ValueError("response has no choices")
        choice = choices[0]
        message = choice.get("message") or {}
        text = message.get("content") if isinstance(message, Mapping) else None
        usage = payload.get("usage") or {}
        return ChatResponse(
            text=text if isinstance(text, str) else "",
            finish_reason=choice.get("finish_reason"),
            logprobs=_read_logprobs(choice.get("logprobs")),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )


def _read_logprobs(raw: Any) -> tuple[TokenLogprob, ...] | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("content"), list):
        return None
    tokens = []
    for item in raw["content"]:
        top = tuple(
            (str(alt["token"]), float(alt["logprob"]))
            for alt in item.get("top_logprobs") or ()
            if alt.get("logprob") is not None
        )
        tokens.append(TokenLogprob(str(item.get("token", "")), float(item.get("logprob", float("-inf"))), top))
    return tuple(tokens)
