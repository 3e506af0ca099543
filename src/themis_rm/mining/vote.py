"""LLM A/B judging of mined pairs, and the cache that makes it resumable.

Each pair gets `n` votes. For every vote the two sides are shown as "A" and "B" in an order
drawn from the seed, the pair and the vote number, so position bias cancels out over votes
and a rerun asks the same questions. A pair is kept when at least `k` votes pick the side the
commit produced. A call that raises is retried `retries` times; one that still fails is a
failed vote (not cached, so the next run asks again). A reply with no A/B verdict is a parse
failure: it counts as a vote against and is cached as final, like any other answer.

The client is anything with `async def chat(messages, **params) -> str`: the shared
OpenAI-compatible client in `themis_rm.llm`, or a fake in the tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from themis_rm.criteria import CriteriaTexts
from themis_rm.schema import Aspect


class ChatClient(Protocol):
    async def chat(self, messages: list[dict[str, str]], **params: Any) -> str: ...


_VERDICT = re.compile(r"(?:answer|verdict|better|choice)\W{0,5}\**\s*\(?([AB])\b", re.IGNORECASE)
_LONE = re.compile(r"^\W*([AB])\W*$")


def parse_verdict(reply: str) -> str | None:
    """'A' or 'B' from a judge's reply: an explicit "Answer: X", else a reply that is only the letter."""
    explicit = _VERDICT.findall(reply)
    if explicit:
        return explicit[-1].upper()
    lone = _LONE.match(reply.strip())
    return lone.group(1).upper() if lone else None


class Cache:
    """A small SQLite table of final LLM answers, keyed by a content hash of the request."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> Any | None:
        row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)", (key, json.dumps(value)))
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def request_key(kind: str, model: str | None, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "model": model, "messages": messages, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class CallStats:
    """What the LLM steps did: calls made, answers from the cache, retries, failures, parse failures."""

    counts: Counter[str] = field(default_factory=Counter)


async def ask(client: ChatClient, messages: list[dict[str, str]], params: dict[str, Any], retries: int,
              counts: Counter[str], prefix: str) -> str | None:
    """One answer, retrying a raising call; None (and a counted failure) when every try raised."""
    for attempt in range(retries + 1):
        counts[f"{prefix}_calls"] += 1
        try:
            return await client.chat(messages, **params)
        except Exception as err:  # any transport or server error: counted, retried, then reported
            counts[f"{prefix}_call_errors"] += 1
            counts[f"{prefix}_error_{type(err).__name__}"] += 1
            if attempt < retries:
                counts[f"{prefix}_retries"] += 1
    counts[f"{prefix}_failed"] += 1
    return None


@dataclass(frozen=True)
class VotePair:
    key: str
    prompt: str
    chosen: str
    rejected: str
    aspect: Aspect


@dataclass(frozen=True)
class Verdict:
    agree: int
    disagree: int
    invalid: int
    failed: int

    def decision(self, k: int) -> str:
        """'keep', 'vote_rejected', or 'vote_failed' when failed calls left the outcome open."""
        if self.agree >= k:
            return "keep"
        if self.agree + self.failed >= k:
            return "vote_failed"
        return "vote_rejected"


JUDGE_INSTRUCTION = (
    "Compare the two responses to the request below on this criterion only:\n{criterion}\n\n"
    "Request:\n{prompt}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\n"
    "Which response is better on the criterion? End your reply with 'Answer: A' or 'Answer: B'."
)


def judge_messages(pair: VotePair, first: str, second: str, criteria: CriteriaTexts) -> list[dict[str, str]]:
    text = JUDGE_INSTRUCTION.format(criterion=criteria.aspects.get(pair.aspect, pair.aspect.value),
                                    prompt=pair.prompt, a=first, b=second)
    return [{"role": "user", "content": text}]


def chosen_first(seed: int, pair_key: str, vote: int) -> bool:
    digest = hashlib.sha256(f"{seed}\x00{pair_key}\x00{vote}".encode()).digest()
    return random.Random(digest).random() < 0.5


async def vote_pairs(pairs: Sequence[VotePair], client: ChatClient, cache: Cache, *, n: int, retries: int,
                     seed: int, model: str | None, concurrency: int = 8, params: dict[str, Any] | None = None,
                     criteria: CriteriaTexts | None = None, on_done: Any = None) -> tuple[dict[str, Verdict], CallStats]:
    """A verdict per pair key. Every (pair, vote) is one cached request."""
    criteria = criteria or CriteriaTexts()
    params = dict(params or {})  # the model is the client's; it enters only the cache key
    stats = CallStats()
    gate = asyncio.Semaphore(max(concurrency, 1))

    async def one_vote(pair: VotePair, vote: int) -> str:
        first_is_chosen = chosen_first(seed, pair.key, vote)
        first, second = (pair.chosen, pair.rejected) if first_is_chosen else (pair.rejected, pair.chosen)
        messages = judge_messages(pair, first, second, criteria)
        key = request_key("vote", model, messages, {**params, "vote": vote})
        cached = cache.get(key)
        if cached is not None:
            stats.counts["vote_cached"] += 1
            letter = cached.get("letter")
        else:
            async with gate:
                reply = await ask(client, messages, params, retries, stats.counts, "vote")
            if reply is None:
                return "failed"
            letter = parse_verdict(reply)
            if letter is None:
                stats.counts["vote_parse_failures"] += 1
            cache.put(key, {"letter": letter, "reply": reply[:2000]})
        if letter is None:
            return "invalid"
        return "agree" if (letter == "A") == first_is_chosen else "disagree"

    async def one_pair(pair: VotePair) -> tuple[str, Verdict]:
        outcomes = Counter(await asyncio.gather(*(one_vote(pair, i) for i in range(n))))
        if on_done is not None:
            on_done()
        return pair.key, Verdict(outcomes["agree"], outcomes["disagree"], outcomes["invalid"], outcomes["failed"])

    results = await asyncio.gather(*(one_pair(pair) for pair in pairs))
    return dict(results), stats
