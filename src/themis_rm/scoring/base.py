"""The scorer contract and its one registry.

A scorer is named by a spec string, `NAME` or `NAME:ARGUMENT` (`length`, `random`,
`hf:Qwen/Qwen3-0.6B`, `judge:model@http://127.0.0.1:8000/v1`, `lite:weights.json`).
Three ways in, as in lm-evaluation-harness:

1. `@register_scorer("name")` on a class in an imported module;
2. the lazy map `_LAZY` from name to `"module:Class"`, so heavy imports (torch) happen on use;
3. out-of-tree plug-ins through the `themis_rm.scorers` entry-point group
   (`name = "package.module:Class"` in the plug-in's pyproject).

Scores are plain floats where higher means better. A scorer that could not produce a
score returns NaN; the metrics count those rows, they never turn them into zeros.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

from themis_rm.schema import PairRequest, ScoreRequest

ENTRY_POINT_GROUP = "themis_rm.scorers"


class ScorerError(ValueError):
    """A scorer cannot be built or cannot run with what it was given; the message says why."""


@dataclass(frozen=True)
class Scored:
    """One score. `value` is NaN when no score could be had; `detail` is cached with it (JSON)."""

    value: float
    detail: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return not math.isnan(self.value)

    @staticmethod
    def many(values: Iterable[float]) -> list[Scored]:
        return [Scored(float(v)) for v in values]


class Scorer:
    """What every scorer has. Subclass `PointwiseScorer` or `PairwiseScorer`, not this."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    #: Which `ScoreRequest` context fields (`aspect`, `language`) the scorer reads; they join the cache key.
    context_fields: ClassVar[frozenset[str]] = frozenset()
    #: Option names the scorer accepts from the command line (`max_length`, `dtype`, ...).
    options: ClassVar[frozenset[str]] = frozenset()
    #: The criteria prompt mode a run uses when the user names none; `none` suits RMs that were
    #: not trained with criteria prompts, which is most of them.
    default_prompt_mode: ClassVar[str] = "none"
    #: Set by the engine while a progress bar is shown. A scorer whose chunks take long (a remote
    #: judge) calls it with how many of the current chunk's requests are done; others ignore it.
    progress: Callable[[int], None] | None = None

    @classmethod
    def from_spec(cls, argument: str, options: dict[str, Any]) -> Scorer:
        """Build from the part of the spec after `NAME:` and the options the user set."""
        if argument:
            raise ScorerError(f"scorer {cls.name!r} takes no argument, got {argument!r}")
        return cls(**options)

    def fingerprint(self) -> dict[str, Any]:
        """Everything besides the request that changes a score (model, dtype, weights, ...)."""
        return {"scorer": self.name}

    def stats(self) -> dict[str, Any]:
        """Run-level counters for the manifest (truncations, tokens, padding efficiency, ...)."""
        return {}

    def close(self) -> None:
        """Release models, sessions or servers."""


class PointwiseScorer(Scorer):
    """Scores each response on its own; the engine deduplicates and caches requests."""

    kind = "pointwise"

    def cost(self, request: ScoreRequest) -> int:
        """A size used to sort requests so that similar lengths are scored together."""
        return len(request.response) + (len(request.prompt) if isinstance(request.prompt, str) else 0)

    def score(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        raise NotImplementedError


class PairwiseScorer(Scorer):
    """Judges both responses of a pair at once (e.g. an A/B judge); returns (chosen, rejected) scores."""

    kind = "pairwise"

    def cost(self, request: PairRequest) -> int:
        return len(request.chosen) + len(request.rejected)

    def compare(self, requests: Sequence[PairRequest]) -> list[tuple[Scored, Scored]]:
        raise NotImplementedError


_REGISTRY: dict[str, type[Scorer]] = {}
_LAZY: dict[str, str] = {
    "length": "themis_rm.scoring.baselines:LengthScorer",
    "random": "themis_rm.scoring.baselines:RandomScorer",
    "hf": "themis_rm.scoring.hf:HFScorer",
    "judge": "themis_rm.scoring.judge:JudgeScorer",
    "lite": "themis_rm.scoring.lite:LiteScorer",
}


def register_scorer(name: str):
    """Class decorator: make a scorer available under `name` in spec strings."""

    def decorate(cls: type[Scorer]) -> type[Scorer]:
        if not (isinstance(cls, type) and issubclass(cls, (PointwiseScorer, PairwiseScorer))):
            raise TypeError(f"{cls!r} must subclass PointwiseScorer or PairwiseScorer")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def load_target(target: str) -> Any:
    """The object an entry-point style `module:attribute` string names, importing the module."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _plugin_targets() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_scorers() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY) | set(_plugin_targets()))


def resolve_scorer(name: str) -> type[Scorer]:
    if name in _REGISTRY:
        return _REGISTRY[name]
    target = _LAZY.get(name) or _plugin_targets().get(name)
    if target is None:
        raise ScorerError(f"unknown scorer {name!r}; available: {', '.join(available_scorers())}")
    try:
        found = load_target(target)
    except ImportError as err:
        raise ScorerError(
            f"scorer {name!r} needs a package that is not installed ({err.name or err}); "
            "see the README for the extra to install"
        ) from err
    if name not in _REGISTRY:  # plug-in classes need not use the decorator
        register_scorer(name)(found)
    return _REGISTRY[name]


def load_scorer(spec: str, options: dict[str, Any] | None = None) -> Scorer:
    """Build the scorer a spec string names, with the options the user set (unset ones omitted)."""
    name, _, argument = spec.partition(":")
    cls = resolve_scorer(name.strip())
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = set(options) - cls.options
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(unknown))
        raise ScorerError(f"{flags} does not apply to scorer {name!r}")
    return cls.from_spec(argument, options)
