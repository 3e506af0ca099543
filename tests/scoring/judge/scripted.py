"""A scripted judge for the loopback server: answers depend on the responses shown in the prompt."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.llm.openai_server import Reply, completion, token_logprobs

_SECTION = re.compile(r"<(response(?:_[AB])?)[^>]*>\n(.*?)\n</\1>", re.DOTALL)


def shown(body: dict[str, Any]) -> dict[str, str]:
    """The response slots of the judge prompt: {"response": ...} or {"response_A": ..., "response_B": ...}."""
    return dict(_SECTION.findall(body["messages"][-1]["content"]))


def too_long() -> Reply:
    return Reply(400, {"error": {"message": "This model's maximum context length is 32 tokens."}})


def yes_no_reply(p_yes_top: dict[str, float], sampled: str | None = None) -> Reply:
    sampled = sampled or max(p_yes_top, key=p_yes_top.get)
    return Reply(body=completion(sampled, logprobs=[token_logprobs(sampled, p_yes_top[sampled], p_yes_top)]))


def judge(answer: Callable[[dict[str, str], dict[str, Any]], Reply | str]) -> Callable[[dict[str, Any]], Reply]:
    """Wrap `answer(slots, body)`; a plain string becomes a normal completion."""

    def handler(body: dict[str, Any]) -> Reply:
        reply = answer(shown(body), body)
        return Reply(body=completion(reply)) if isinstance(reply, str) else reply

    return handler
