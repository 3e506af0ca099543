"""`LiteScorer`: the CPU multi-criteria scorer, registered as `lite`.

Spec `lite` uses the weights shipped in this package; `lite:PATH` uses a file written by
`themis lite fit`. A response's score is its standardised features times the weights the
prompt mode picks: the pair's aspect model in mode `aspect`, the combined model otherwise.

Every response gets a score: broken, empty or unknown-language code is scored from what
can be read (a syntax error is itself evidence). What the scorer could not do fully is
reported as flags: `syntax_error`, `language_unknown`, `truncated`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import PointwiseScorer, Scored, ScorerError, register_scorer
from themis_rm.scoring.lite.features import FEATURE_NAMES, FEATURE_VERSION, Extracted, extract
from themis_rm.scoring.lite.model import LiteModel, WeightsError

SHIPPED = "weights.json"


@lru_cache(maxsize=1)
def shipped_model() -> tuple[LiteModel, str]:
    """The package's own weights and their content hash."""
    raw = resources.files("themis_rm.scoring.lite").joinpath(SHIPPED).read_text(encoding="utf-8")
    return LiteModel.from_json(json.loads(raw), f"themis_rm/scoring/lite/{SHIPPED}"), _digest(raw)


def load_model(path: str | None) -> tuple[LiteModel, str]:
    """(model, content hash) for a weights path, or the shipped weights when `path` is None."""
    try:
        if path is None:
            model, digest = shipped_model()
        else:
            model, text = LiteModel.load_with_text(Path(path).expanduser())
            digest = _digest(text)
    except WeightsError as err:
        raise ScorerError(str(err)) from None
    if tuple(model.features) != FEATURE_NAMES or model.feature_version != FEATURE_VERSION:
        where = path or SHIPPED
        raise ScorerError(
            f"{where}: fitted for feature set {model.feature_version!r} ({len(model.features)} features); this "
            f"Themis computes {FEATURE_VERSION!r} ({len(FEATURE_NAMES)}): refit with `themis lite fit`"
        )
    return model, digest


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@register_scorer("lite")
class LiteScorer(PointwiseScorer):
    """Static-analysis features and per-aspect linear weights; thousands of responses per second on one core."""

    context_fields = frozenset({"aspect", "language", "mode"})
    default_prompt_mode = "aspect"  # each pair is judged by its own aspect's model

    def __init__(self, weights: str | None = None) -> None:
        self.weights_path = weights
        self.model, self.digest = load_model(weights)
        self._flags: dict[str, int] = {}

    @classmethod
    def from_spec(cls, argument: str, options: dict[str, Any]) -> LiteScorer:
        return cls(weights=argument or None, **options)

    def fingerprint(self) -> dict[str, Any]:
        return {"scorer": self.name, "weights": self.digest, "features": FEATURE_VERSION}

    def stats(self) -> dict[str, Any]:
        return {"weights": self.weights_path or "shipped", "weights_sha256": self.digest,
                "fitted_on": self.model.meta.get("fitted_on", {}).get("subsets"), "flags": dict(self._flags)}

    def cost(self, request: ScoreRequest) -> int:
        return len(request.response)

    def score(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        out = []
        for request in requests:
            found = extract(request.response, request.language, request.prompt)
            key = self.model.key_for(request.aspect, request.mode)
            out.append(Scored(self.model.score(found.values, key), self._detail(found)))
        return out

    def _detail(self, found: Extracted) -> dict[str, Any] | None:
        flags = {}
        if found.syntax_error:
            flags["syntax_error"] = True
        if found.language is None:
            flags["language_unknown"] = True
        if found.truncated:
            flags["truncated"] = True
        for flag in flags:
            self._flags[flag] = self._flags.get(flag, 0) + 1
        return {"flags": flags} if flags else None
