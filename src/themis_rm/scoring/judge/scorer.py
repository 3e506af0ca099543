"""`judge:<model>@<base_url>`: a generative judge behind any OpenAI-compatible server, as a scorer.

The engine calls the scorer synchronously, one chunk at a time; inside a chunk every chat
(requests × views × samples) runs concurrently on the client's event loop. Per-row
problems come back as flags in `Scored.detail` (see `protocols.py`); problems with the
run itself (server down, wrong key, no log-probs where needed) raise `ScorerError`, so
nothing transient is ever cached as a NaN.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, ClassVar

from themis_rm.llm import (
    BlockingChatClient,
    ChatRequest,
    ChatResponse,
    LLMError,
    RequestRejected,
    ResponseStore,
)
from themis_rm.schema import PairRequest, ScoreRequest
from themis_rm.scoring.base import (
    PairwiseScorer,
    PointwiseScorer,
    Scored,
    Scorer,
    ScorerError,
    register_scorer,
)
from themis_rm.scoring.judge.config import JUDGE_OPTIONS, JudgeConfig
from themis_rm.scoring.judge.protocols import JudgeProtocol, make_protocol


class JudgeServerError(ScorerError):
    """The judge server is unreachable or refuses the run's requests; rerunning resumes from the cache."""


def _too_long(err: LLMError) -> bool:
    return isinstance(err, RequestRejected) and err.context_overflow


class JudgeRunner:
    """What both judge scorers share: the protocol, the client, and the counters."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.protocol: JudgeProtocol = make_protocol(config.judge_protocol)
        self.client_config = config.client_config()  # fails now, not mid-run, on a bad URL or a missing key
        self.max_tokens = config.max_tokens or self.protocol.default_max_tokens
        self._client: BlockingChatClient | None = None
        self._store: ResponseStore | None = None
        self.judged = 0
        self.valid = 0
        self.flags: Counter[str] = Counter()

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes an answer; the server address, key and concurrency do not."""
        return {
            "scorer": "judge",
            "model": self.config.model,
            "protocol": self.protocol.name,
            "params": self.protocol.params(),
            "templates": self.protocol.digest(),
            "temperature": self.config.temperature,
            "seed": self.config.judge_seed,
            "max_tokens": self.max_tokens,
            "samples": self.config.samples,
            "top_logprobs": self.config.top_logprobs if self.protocol.needs_logprobs else 0,
        }

    def judge(self, requests: Sequence[ScoreRequest | PairRequest],
              progress: Callable[[int], None] | None = None) -> list[Any]:
        """`progress`, if given, hears how many of `requests` are done (in proportion to the calls
        answered: a request may need several, one per view and sample)."""
        plan: list[tuple[int, str]] = []
        chats: list[ChatRequest] = []
        for index, request in enumerate(requests):
            for view, messages in self.protocol.views(request).items():
                for sample in range(self.config.samples):
                    plan.append((index, view))
                    chats.append(self._chat(messages, sample))

        def on_done(answered: int) -> None:
            if progress is not None:
                progress(answered * len(requests) // len(chats))

        answers = self._ask(chats, on_done)
        views: list[dict[str, list[dict[str, Any]]]] = [defaultdict(list) for _ in requests]
        for (index, view), answer in zip(plan, answers):
            views[index][view].append(self._record(answer))
        results = [self.protocol.settle(v) for v in views]
        for result in results:
            scored = result[0] if isinstance(result, tuple) else result
            self.flags.update(k for k, on in (scored.detail or {}).get("flags", {}).items() if on)
            self.valid += scored.valid
        self.judged += len(results)
        return results

    def _chat(self, messages: list[dict[str, str]], sample: int) -> ChatRequest:
        return ChatRequest.of(
            messages,
            max_tokens=self.max_tokens,
            temperature=self.config.temperature,
            seed=self.config.judge_seed + sample,
            top_logprobs=self.config.top_logprobs if self.protocol.needs_logprobs else 0,
        )

    def _ask(self, chats: list[ChatRequest],
             on_done: Callable[[int], None] | None = None) -> list[ChatResponse | LLMError]:
        if self._client is None:
            if self.config.request_cache:
                self._store = ResponseStore(self.config.request_cache)
            self._client = BlockingChatClient(self.client_config, self._store)
        try:
            return self._client.complete_all(chats, tolerate=_too_long, on_done=on_done)
        except LLMError as err:
            raise JudgeServerError(f"judge {self.config.model}: {err}") from err

    def _record(self, answer: ChatResponse | LLMError) -> dict[str, Any]:
        """A sample's raw fields: exactly what re-parsing needs."""
        if isinstance(answer, LLMError):
            return {"error": f"request refused as too long: {answer}"}
        record: dict[str, Any] = {"raw": answer.text, "finish": answer.finish_reason}
        if self.protocol.needs_logprobs:
            if answer.logprobs is None:
                raise JudgeServerError(
                    f"the server at {self.client_config.base_url} sent no log-probabilities; the "
                    f"{self.protocol.name!r} protocol needs a server that honours `logprobs`/`top_logprobs`"
                )
            record["logprobs"] = [t.to_json() for t in answer.logprobs]
        return record

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "judge": {**self.config.manifest(), "max_tokens": self.max_tokens, "protocol": self.protocol.name,
                      "templates": self.protocol.digest()},
            "judged": self.judged,
            "judge_flags": dict(self.flags),
        }
        if self.protocol.kind == "pairwise" and self.valid:
            # Over the pairs judged by this process with both orders read (cached pairs are not re-counted;
            # the run's flag counts cover every pair).
            out["position_bias_rate"] = round(self.flags["position_bias"] / self.valid, 4)
            out["inconsistent_rate"] = round(self.flags["inconsistent"] / self.valid, 4)
        if self._client is not None:
            out.update(self._client.stats.as_dict())
        return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._store is not None:
            self._store.close()
            self._store = None


class _JudgeFace:
    """The scorer surface both judge scorers share; holds a `JudgeRunner`."""

    runner: JudgeRunner
    options: ClassVar[frozenset[str]] = JUDGE_OPTIONS
    context_fields: ClassVar[frozenset[str]] = frozenset({"aspect", "language", "mode"})
    #: The engine may use larger chunks for judges: more requests in flight, and the request
    #: cache keeps answers that arrive before a chunk ends. Instances raise it with concurrency.
    preferred_chunk_size: ClassVar[int] = 256

    def _setup(self, config: JudgeConfig, kind: str) -> None:
        self.config = config
        self.runner = JudgeRunner(config)
        if self.runner.protocol.kind != kind:
            raise ScorerError(
                f"judge protocol {config.judge_protocol!r} is {self.runner.protocol.kind}; build the scorer with "
                "JudgeScorer.from_spec (or load_scorer), which picks the right kind"
            )
        self.preferred_chunk_size = max(type(self).preferred_chunk_size, 8 * config.concurrency)  # type: ignore[misc]

    def fingerprint(self) -> dict[str, Any]:
        return self.runner.fingerprint()

    def stats(self) -> dict[str, Any]:
        return self.runner.stats()

    def close(self) -> None:
        self.runner.close()


@register_scorer("judge")
class JudgeScorer(_JudgeFace, PointwiseScorer):
    """A pointwise judge (`rating`, `yesno`). `from_spec` returns a `JudgePairScorer` for `pairwise`."""

    def __init__(self, model: str, base_url: str, **settings: Any) -> None:
        self._setup(JudgeConfig(model=model, base_url=base_url, **settings), "pointwise")

    @classmethod
    def from_spec(cls, argument: str, options: dict[str, Any]) -> Scorer:
        config = JudgeConfig.from_spec(argument, options)
        if make_protocol(config.judge_protocol).kind == "pairwise":
            return JudgePairScorer.from_config(config)
        return cls.from_config(config)

    @classmethod
    def from_config(cls, config: JudgeConfig) -> JudgeScorer:
        return cls(**asdict(config))

    def score(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        return self.runner.judge(requests, self.progress)


class JudgePairScorer(_JudgeFace, PairwiseScorer):
    """A pairwise judge: each pair is asked in both orders (see `protocols.Pairwise`)."""

    name = "judge"

    def __init__(self, model: str, base_url: str, **settings: Any) -> None:
        settings.setdefault("judge_protocol", "pairwise")
        self._setup(JudgeConfig(model=model, base_url=base_url, **settings), "pairwise")

    @classmethod
    def from_spec(cls, argument: str, options: dict[str, Any]) -> Scorer:
        return JudgeScorer.from_spec(argument, {"judge_protocol": "pairwise", **options})

    @classmethod
    def from_config(cls, config: JudgeConfig) -> JudgePairScorer:
        return cls(**asdict(config))

    def compare(self, requests: Sequence[PairRequest]) -> list[tuple[Scored, Scored]]:
        return self.runner.judge(requests, self.progress)
