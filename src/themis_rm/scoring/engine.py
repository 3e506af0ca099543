"""The scoring engine: unique requests, cache look-up, length-sorted chunks, progress.

Backends see only requests that still need a score, sorted by their `cost` so that
neighbours have similar lengths; a backend batches within a chunk as it likes (the `hf`
scorer packs under a token budget). A backend with a `prefetch(requests)` method is handed
the next chunk before it scores the current one, so it can tokenise while the device works.
Each chunk's scores are written to the cache before the next starts, which is what makes a
killed run resumable.

Under `accelerate launch` (several ranks, see `distributed.Shard`) each rank scores a strided
share of the pending requests and writes it to the shared cache; then every rank reads the
others' scores back from that cache, so each returns complete results.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from themis_rm.schema import PairRequest, ScoreRequest
from themis_rm.scoring.base import PairwiseScorer, PointwiseScorer, Scored, Scorer
from themis_rm.scoring.cache import ScoreCache
from themis_rm.scoring.distributed import Shard

Request = ScoreRequest | PairRequest
Result = Scored | tuple[Scored, Scored]


def scorer_namespace(scorer: Scorer) -> str:
    """A short hash of the scorer's fingerprint; it prefixes every cache key."""
    blob = json.dumps(scorer.fingerprint(), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class EngineStats:
    requests_total: int = 0
    requests_unique: int = 0
    requests_from_cache: int = 0
    requests_scored: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "requests_unique": self.requests_unique,
            "requests_from_cache": self.requests_from_cache,
            "requests_scored": self.requests_scored,
            "scoring_seconds": round(self.seconds, 3),
            "requests_per_second": round(self.requests_scored / self.seconds, 2) if self.seconds > 0 else None,
        }


class ScoringEngine:
    def __init__(
        self,
        scorer: Scorer,
        cache: ScoreCache | None = None,
        chunk_size: int = 256,
        show_progress: bool = True,
        shard: Shard | None = None,
        poll_seconds: float = 1.0,
        wait_timeout: float = 24 * 3600.0,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self.scorer = scorer
        self.cache = cache
        self.chunk_size = chunk_size
        self.shard = shard or Shard()
        if self.shard.active and cache is None:
            raise ValueError("data-parallel scoring needs a cache: the ranks share their scores through it")
        self.show_progress = show_progress and self.shard.is_main
        self.poll_seconds = poll_seconds
        self.wait_timeout = wait_timeout
        self.namespace = scorer_namespace(scorer)

    def key(self, request: Request) -> str:
        return f"{self.namespace}:{request.key(self.scorer.context_fields)}"

    def run(self, requests: Sequence[Request]) -> tuple[list[Result], EngineStats]:
        """Results in the order of `requests`; duplicates are scored once."""
        started = time.perf_counter()
        stats = EngineStats(requests_total=len(requests))
        keys = [self.key(r) for r in requests]
        unique: dict[str, Request] = {}
        for key, request in zip(keys, requests):
            unique.setdefault(key, request)
        stats.requests_unique = len(unique)

        results: dict[str, Result] = self._cached(list(unique))
        stats.requests_from_cache = len(results)
        if self.shard.active:  # share out all unique keys, so ranks agree whatever each found cached
            everything = sorted(unique, key=lambda k: (self.scorer.cost(unique[k]), k))
            mine = [k for k in self.shard.take(everything) if k not in results]
        else:
            mine = sorted((k for k in unique if k not in results), key=lambda k: self.scorer.cost(unique[k]))

        with self._progress(len(results) + len(mine), len(results)) as (progress, task):
            prefetch = getattr(self.scorer, "prefetch", None)  # optional: prepare the next chunk meanwhile
            for start in range(0, len(mine), self.chunk_size):
                chunk_keys = mine[start : start + self.chunk_size]
                following = mine[start + self.chunk_size : start + 2 * self.chunk_size]
                if prefetch is not None and following:
                    prefetch([unique[k] for k in following])
                within = _ChunkProgress(progress, task, len(chunk_keys), stats.requests_scored, started, self._rates)
                self.scorer.progress = within if progress is not None else None
                try:
                    scored = self._score([unique[k] for k in chunk_keys])
                finally:
                    self.scorer.progress = None
                fresh = dict(zip(chunk_keys, scored))
                self._store(fresh)
                results.update(fresh)
                stats.requests_scored += len(chunk_keys)
                within(len(chunk_keys))
        if self.shard.active:
            results.update(self._collect([k for k in unique if k not in results]))
        stats.seconds = time.perf_counter() - started
        stats.extra = self.scorer.stats()
        return [results[k] for k in keys], stats

    def _score(self, chunk: list[Request]) -> list[Result]:
        scorer = self.scorer
        if isinstance(scorer, PointwiseScorer):
            out: list[Result] = list(scorer.score(chunk))  # type: ignore[arg-type]
        elif isinstance(scorer, PairwiseScorer):
            out = list(scorer.compare(chunk))  # type: ignore[arg-type]
        else:
            raise TypeError(f"{type(scorer).__name__} is neither a pointwise nor a pairwise scorer")
        if len(out) != len(chunk):
            raise RuntimeError(f"scorer {scorer.name!r} returned {len(out)} scores for {len(chunk)} requests")
        return out

    def _collect(self, keys: list[str]) -> dict[str, Result]:
        """Wait until the other ranks have written their shares of `keys` to the cache."""
        found: dict[str, Result] = {}
        deadline = time.monotonic() + self.wait_timeout
        while True:
            found.update(self._cached([k for k in keys if k not in found]))
            if len(found) == len(keys):
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"rank {self.shard.rank}: {len(keys) - len(found)} scores from other ranks "
                                   f"did not arrive within {self.wait_timeout:.0f} s")
            time.sleep(self.poll_seconds)

    def _cached(self, keys: list[str]) -> dict[str, Result]:
        if self.cache is None:
            return {}
        if isinstance(self.scorer, PairwiseScorer):
            sides = self.cache.get_many([f"{k}:{side}" for k in keys for side in ("chosen", "rejected")])
            return {
                k: (sides[f"{k}:chosen"], sides[f"{k}:rejected"])
                for k in keys
                if f"{k}:chosen" in sides and f"{k}:rejected" in sides
            }
        return dict(self.cache.get_many(keys))

    def _store(self, fresh: dict[str, Result]) -> None:
        if self.cache is None:
            return
        flat: dict[str, Scored] = {}
        for key, result in fresh.items():
            if isinstance(result, tuple):
                flat[f"{key}:chosen"], flat[f"{key}:rejected"] = result
            else:
                flat[key] = result
        self.cache.put_many(flat)

    def _rates(self, scored: int, started: float) -> str:
        elapsed = max(time.perf_counter() - started, 1e-9)
        text = f"{scored / elapsed:,.1f} req/s"
        stats_now = self.scorer.stats()
        if stats_now.get("tokens"):
            text += f" · {stats_now['tokens'] / elapsed:,.0f} tok/s"
        if stats_now.get("error_rate"):
            text += f" · {100 * stats_now['error_rate']:.1f}% errors"
        return text

    def _progress(self, total: int, done: int):
        return _ProgressContext(total, done, self.show_progress, self.scorer.name or "scoring")


class _ChunkProgress:
    """Advances the bar as a chunk's requests finish: `done` counts within the chunk, may come from
    another thread (a judge's event loop), and only ever moves the bar forward."""

    def __init__(self, progress: Progress | None, task: Any, size: int, scored_before: int, started: float,
                 rates: Callable[[int, float], str]) -> None:
        self.progress, self.task, self.size = progress, task, size
        self.scored_before, self.started, self.rates = scored_before, started, rates
        self.shown = 0
        self.lock = threading.Lock()

    def __call__(self, done: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            step = min(done, self.size) - self.shown
            if step <= 0:
                return
            self.shown += step
            self.progress.update(self.task, advance=step, rate=self.rates(self.scored_before + self.shown, self.started))


class _ProgressContext:
    """A rich progress bar that shows requests/s and, where the backend counts them, tokens/s."""

    def __init__(self, total: int, done: int, enabled: bool, label: str) -> None:
        self.total, self.done, self.enabled, self.label = total, done, enabled, label
        self.progress: Progress | None = None

    def __enter__(self):
        if not self.enabled or self.done >= self.total:
            return None, None
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.progress.start()
        task = self.progress.add_task(self.label, total=self.total, completed=self.done, rate="")
        return self.progress, task

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
