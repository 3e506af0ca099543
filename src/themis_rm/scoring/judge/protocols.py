"""Judging protocols: how to ask a judge, and how to turn its answers into scores. One registry.

A protocol builds one chat per *view* of a request (a pointwise protocol has the single
view `response`; the pairwise protocol has `chosen_first` and `rejected_first`), and
`settle` turns the raw answers of every view into `Scored` values. `settle` reads only
the raw fields of each sample (`raw`, `finish`, `logprobs`, `error`) and rebuilds all
the rest, which is what makes a stored run re-parseable without the server.

    @register_protocol("mine")
    class Mine(PointwiseProtocol): ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from themis_rm.schema import Message, PairRequest, ScoreRequest
from themis_rm.scoring.base import Scored, ScorerError
from themis_rm.scoring.judge import templates as T
from themis_rm.scoring.judge.extract import Extraction, is_refusal, read_score, read_verdict, read_yes_no

Sample = dict[str, Any]
Views = Mapping[str, Sequence[Mapping[str, Any]]]
RAW_FIELDS = ("raw", "finish", "logprobs", "error")


class JudgeProtocol:
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "pointwise"
    templates: ClassVar[T.TemplateSet]
    default_max_tokens: ClassVar[int] = 1024
    needs_logprobs: ClassVar[bool] = False
    #: Whether hitting `max_tokens` is news (`truncated`): not for a one-word answer read from log-probs.
    flags_truncation: ClassVar[bool] = True

    def params(self) -> dict[str, Any]:
        """What besides the templates shapes a score; stored in every detail for re-parsing."""
        return {}

    def digest(self) -> str:
        return self.templates.digest()

    def views(self, request: Any) -> dict[str, list[Message]]:
        raise NotImplementedError

    def settle(self, views: Views) -> Scored | tuple[Scored, Scored]:
        raise NotImplementedError

    def read(self, sample: Mapping[str, Any]) -> Extraction:
        raise NotImplementedError

    def annotate(self, sample: Mapping[str, Any]) -> Sample:
        """The sample's raw fields plus what this protocol reads from them."""
        out: Sample = {k: sample[k] for k in RAW_FIELDS if k in sample}
        if "error" in out:
            out.update(value=None, parse_path=None, trace=[out["error"]])
            return out
        found = self.read(out)
        out.update(value=found.value, parse_path=found.path, trace=list(found.trace))
        if found.floored:
            out["floored"] = found.floored
        if not found.ok and is_refusal(str(out.get("raw") or "")):
            out["refusal"] = True
        return out


class PointwiseProtocol(JudgeProtocol):
    """Scores one response; with several samples, the mean of those that yielded a score."""

    def views(self, request: ScoreRequest) -> dict[str, list[Message]]:
        return {"response": T.render(self.templates, request, response=request.response)}

    def settle(self, views: Views) -> Scored:
        samples = [self.annotate(s) for s in views["response"]]
        values = [float(s["value"]) for s in samples if s["value"] is not None]
        flags = _flags(samples, failed=not values, truncation=self.flags_truncation)
        if any(s.get("floored") for s in samples if s["value"] is not None):
            flags["logprob_floor"] = True
        detail = {
            "protocol": self.name,
            "params": self.params(),
            "views": {"response": samples},
            "failed_samples": len(samples) - len(values),
            "flags": flags,
        }
        return Scored(sum(values) / len(values) if values else math.nan, detail)


_PROTOCOLS: dict[str, type[JudgeProtocol]] = {}


def register_protocol(name: str):
    def decorate(cls: type[JudgeProtocol]) -> type[JudgeProtocol]:
        cls.name = name
        _PROTOCOLS[name] = cls
        return cls

    return decorate


def available_protocols() -> list[str]:
    return sorted(_PROTOCOLS)


def protocol_class(name: str) -> type[JudgeProtocol]:
    try:
        return _PROTOCOLS[name]
    except KeyError:
        raise ScorerError(f"unknown judge protocol {name!r}; available: {', '.join(available_protocols())}") from None


def make_protocol(name: str, **params: Any) -> JudgeProtocol:
    return protocol_class(name)(**params)


@register_protocol("rating")
class Rating(PointwiseProtocol):
    """Criteria, then a score on a stated scale (1–10 by default), read by the `read_score` cascade."""

    templates = T.RATING

    def __init__(self, scale: Sequence[float] = (1, 10)) -> None:
        low, high = (float(v) for v in scale)
        if not low < high:
            raise ScorerError(f"rating scale must be low < high, got {list(scale)}")
        self.low, self.high = low, high

    def params(self) -> dict[str, Any]:
        return {"scale": [self.low, self.high]}

    def read(self, sample: Mapping[str, Any]) -> Extraction:
        return read_score(str(sample.get("raw") or ""), self.low, self.high)


@register_protocol("yesno")
class YesNo(PointwiseProtocol):
    """Reward = log P(yes) − log P(no) from the top log-probs of a one-word answer (see `read_yes_no`)."""

    templates = T.YES_NO
    default_max_tokens = 4
    needs_logprobs = True
    flags_truncation = False

    def read(self, sample: Mapping[str, Any]) -> Extraction:
        return read_yes_no(sample.get("logprobs"))


ORDERS = ("chosen_first", "rejected_first")
_PREFERENCE = {  # what the judge's pick (a position) says about the benchmark's chosen side
    "chosen_first": {"A": 1, "B": -1, "tie": 0},
    "rejected_first": {"A": -1, "B": 1, "tie": 0},
}


@register_protocol("pairwise")
class Pairwise(JudgeProtocol):
    """A/B in both orders. A preference counts only when both orders agree; otherwise the pair is a tie.

    Scores are (1, 0) when chosen wins, (0, 1) when rejected wins, (0.5, 0.5) for a tie. Flags:
    `inconsistent` (the orders disagree) and `position_bias` (the judge picked the same
    position both times); both go on the chosen side's detail, which carries the pair's record.
    """

    kind = "pairwise"
    templates = T.PAIRWISE

    def views(self, request: PairRequest) -> dict[str, list[Message]]:
        return {
            "chosen_first": T.render(self.templates, request, a=request.chosen, b=request.rejected),
            "rejected_first": T.render(self.templates, request, a=request.rejected, b=request.chosen),
        }

    def read(self, sample: Mapping[str, Any]) -> Extraction:
        return read_verdict(str(sample.get("raw") or ""))

    def settle(self, views: Views) -> tuple[Scored, Scored]:
        annotated = {order: [self.annotate(s) for s in views[order]] for order in ORDERS}
        preference: dict[str, float | None] = {}
        for order, samples in annotated.items():
            picks = [_PREFERENCE[order][s["value"]] for s in samples if s["value"] is not None]
            preference[order] = sum(picks) / len(picks) if picks else None
        every = [s for samples in annotated.values() for s in samples]
        failed = sum(s["value"] is None for s in every)
        flags = _flags(every, failed=any(p is None for p in preference.values()))
        detail: dict[str, Any] = {
            "protocol": self.name,
            "params": self.params(),
            "views": annotated,
            "preference": preference,
            "failed_samples": failed,
            "flags": flags,
        }
        if flags.get("parse_failed") or flags.get("dropped"):
            detail["verdict"] = None
            return Scored(math.nan, detail), Scored(math.nan)
        first, second = (_sign(preference[o]) for o in ORDERS)
        verdict = first if first == second else 0
        if first != second:
            flags["inconsistent"] = True
        if first * second < 0:
            flags["position_bias"] = True
        detail["verdict"] = {1: "chosen", -1: "rejected", 0: "tie"}[verdict]
        chosen = {1: 1.0, 0: 0.5, -1: 0.0}[verdict]
        return Scored(chosen, detail), Scored(1.0 - chosen)


def _sign(value: float | None) -> int:
    return 0 if not value else (1 if value > 0 else -1)


def _flags(samples: Sequence[Mapping[str, Any]], failed: bool, truncation: bool = True) -> dict[str, bool]:
    """Row flags for the accounting contract; a request the server refused as too long is `dropped`, not a parse failure."""
    flags: dict[str, bool] = {}
    if any("error" in s for s in samples):
        flags["dropped"] = flags["too_long"] = True
    elif failed:
        flags["parse_failed"] = True
        if any(s.get("refusal") for s in samples):
            flags["refusal"] = True
    if truncation and any(s.get("finish") == "length" for s in samples):
        flags["truncated"] = True
    return flags
