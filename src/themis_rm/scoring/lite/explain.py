"""Why `lite` preferred one response: the feature terms of score(chosen) - score(rejected).

The score is linear, so the difference splits exactly into one term per feature,
(f_chosen - f_rejected) / scale * weight; the terms sum to the margin, and the largest
ones are the explanation.
"""

from __future__ import annotations

from dataclasses import dataclass

from themis_rm.schema import Aspect, Language, Prompt
from themis_rm.scoring.lite.features import FEATURES, extract
from themis_rm.scoring.lite.model import LiteModel, pair_probability


@dataclass(frozen=True)
class Term:
    feature: str
    doc: str
    chosen: float
    rejected: float
    contribution: float


@dataclass(frozen=True)
class Explanation:
    weights: str
    margin: float
    probability: float
    terms: list[Term]  # every feature, largest |contribution| first
    chosen_language: Language | None
    rejected_language: Language | None

    def top(self, k: int) -> list[Term]:
        return [t for t in self.terms[:k] if t.contribution != 0.0]


def explain_pair(model: LiteModel, chosen: str, rejected: str, language: Language | None,
                 aspect: Aspect | None, mode: str = "aspect", prompt: Prompt = "") -> Explanation:
    key = model.key_for(aspect, mode)
    first = extract(chosen, language, prompt)
    second = extract(rejected, language, prompt)
    terms_array = model.contributions(first.values, second.values, key)
    terms = [Term(f.name, f.doc, float(a), float(b), float(c))
             for f, a, b, c in zip(FEATURES, first.values, second.values, terms_array)]
    terms.sort(key=lambda t: -abs(t.contribution))
    margin = float(terms_array.sum())
    return Explanation(key, margin, pair_probability(margin), terms, first.language, second.language)
