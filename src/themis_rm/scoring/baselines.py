"""Reference scorers that read no meaning: they set the floor any real scorer must clear."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import PointwiseScorer, Scored, register_scorer


@register_scorer("length")
class LengthScorer(PointwiseScorer):
    """Score = number of characters of the response as given (fences and whitespace included)."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        return Scored.many(len(r.response) for r in requests)


@register_scorer("random")
class RandomScorer(PointwiseScorer):
    """A uniform score in [0, 1) derived from the seed and the request's content.

    Deriving it from content (not from draw order) keeps scores identical across batch
    sizes, orders and resumed runs.
    """

    options = frozenset({"seed"})

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def fingerprint(self) -> dict[str, Any]:
        return {"scorer": self.name, "seed": self.seed}

    def score(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        out = []
        for request in requests:
            digest = hashlib.sha256(f"{self.seed}:{request.key()}".encode()).digest()
            out.append(Scored(int.from_bytes(digest[:8], "big") / 2**64))
        return out
