"""Fitting `lite` weights from preference pairs.

Recipe (`fit_model`):

1. features of every response (`featurize`), standardised by the training responses' mean
   and standard deviation (floored at `SCALE_FLOOR`, so a rare feature is not blown up);
2. pair weights: every subset counts in proportion to the square root of its size, so one
   large subset does not drown the others;
3. a shared model: logistic regression on all pairs, pulled towards the mean prior;
4. one model per aspect: logistic regression on that aspect's pairs, pulled towards the
   aspect's prior plus `transfer` times what the shared model learnt beyond its prior;
   the combined model (prompt modes `none` and `full`: every criterion at once) is the
   mean of the five code-aspect models, so each criterion counts equally;
5. the L2 strength and the transfer: given, or chosen together by leave-one-subset-out
   inside the training data (K folds over prompts when there is a single subset),
   maximising the macro accuracy over the held-out folds.

Everything that shaped the weights is recorded in the model's `fitted_on` and `config`.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from themis_rm.schema import CODE_ASPECTS, Aspect, PreferencePair
from themis_rm.scoring.lite.features import FEATURE_NAMES, FEATURE_VERSION, extract, prompt_text
from themis_rm.scoring.lite.model import COMBINED, LiteModel, fit_logistic
from themis_rm.scoring.lite.priors import prior_vector

SCALE_FLOOR = 0.25


@dataclass
class FeatureTable:
    """Feature rows of both sides of every pair, with the labels the fit groups by."""

    chosen: np.ndarray
    rejected: np.ndarray
    aspects: list[Aspect]
    subsets: list[str]
    prompts: list[str]

    def __len__(self) -> int:
        return len(self.aspects)

    def take(self, mask: np.ndarray) -> FeatureTable:
        index = np.flatnonzero(mask)
        return FeatureTable(self.chosen[index], self.rejected[index], [self.aspects[i] for i in index],
                            [self.subsets[i] for i in index], [self.prompts[i] for i in index])


@dataclass
class FitConfig:
    """How `themis lite fit` fits. `l2=None` / `transfer=None` choose them from the grids by inner cross-validation."""

    l2: float | None = None
    l2_grid: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
    transfer: float | None = None
    transfer_grid: tuple[float, ...] = (0.0, 0.5, 1.0)
    folds: int = 5
    seed: int = 0
    balance: str = "sqrt"  # subset weights: "sqrt" (of subset size) or "none"

    def __post_init__(self) -> None:
        if self.l2 is not None and self.l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {self.l2}")
        if self.balance not in ("sqrt", "none"):
            raise ValueError(f"balance must be 'sqrt' or 'none', got {self.balance!r}")
        if self.transfer is not None and not 0.0 <= self.transfer <= 1.0:
            raise ValueError(f"transfer must be in [0, 1], got {self.transfer}")


def featurize(pairs: Sequence[PreferencePair], progress: Callable[[int], None] | None = None) -> FeatureTable:
    """Features of both sides of every pair; `progress(n)` is called after each pair."""
    d = len(FEATURE_NAMES)
    chosen = np.zeros((len(pairs), d))
    rejected = np.zeros((len(pairs), d))
    for i, pair in enumerate(pairs):
        chosen[i] = extract(pair.chosen, pair.language, pair.prompt).values
        rejected[i] = extract(pair.rejected, pair.language, pair.prompt).values
        if progress is not None:
            progress(1)
    return FeatureTable(chosen, rejected, [p.aspect for p in pairs], [p.subset for p in pairs],
                        [prompt_text(p.prompt) for p in pairs])


def standardisation(table: FeatureTable) -> tuple[np.ndarray, np.ndarray]:
    both = np.vstack([table.chosen, table.rejected])
    return both.mean(axis=0), np.maximum(both.std(axis=0), SCALE_FLOOR)


def pair_weights(table: FeatureTable, balance: str) -> np.ndarray:
    """Each subset's total weight is sqrt(its size) (or its size with `none`); the mean weight is 1."""
    if balance == "none" or not len(table):
        return np.ones(len(table))
    sizes = Counter(table.subsets)
    weights = np.array([1.0 / np.sqrt(sizes[s]) for s in table.subsets])
    return weights * len(weights) / weights.sum()


def fit_shared(table: FeatureTable, scale: np.ndarray, l2: float, config: FitConfig) -> np.ndarray:
    """Logistic regression on every pair, pulled towards the mean prior: what all aspects have in common."""
    diffs = (table.chosen - table.rejected) / scale
    return fit_logistic(diffs, l2, prior_vector(None), pair_weights(table, config.balance))


def fit_aspects(table: FeatureTable, scale: np.ndarray, l2: float, transfer: float | dict[str, float],
                shared: np.ndarray, config: FitConfig) -> dict[str, np.ndarray]:
    """One vector per aspect (every code aspect, plus any other in the data), and the combined one.

    `transfer` is one value for every aspect, or a value per aspect name.
    """
    diffs = (table.chosen - table.rejected) / scale
    omega = pair_weights(table, config.balance)
    learnt = shared - prior_vector(None)
    weights = {}
    aspects = list(CODE_ASPECTS) + sorted({a for a in table.aspects if a not in CODE_ASPECTS}, key=str)
    labels = np.array([a.value for a in table.aspects])
    for aspect in aspects:
        share = transfer if isinstance(transfer, float | int) else transfer[aspect.value]
        mask = labels == aspect.value
        weights[aspect.value] = fit_logistic(diffs[mask], l2, prior_vector(aspect) + share * learnt, omega[mask])
    weights[COMBINED] = np.mean([weights[a.value] for a in CODE_ASPECTS], axis=0)
    return weights


def fit_weights(table: FeatureTable, scale: np.ndarray, l2: float, transfer: float | dict[str, float],
                config: FitConfig) -> dict[str, np.ndarray]:
    return fit_aspects(table, scale, l2, transfer, fit_shared(table, scale, l2, config), config)


def aspect_margins(table: FeatureTable, weights: dict[str, np.ndarray], scale: np.ndarray,
                   key: str | None = None) -> np.ndarray:
    """score(chosen) - score(rejected) per pair, with its aspect's weights (or all with `key`)."""
    diffs = (table.chosen - table.rejected) / scale
    keys = [key or (a.value if a.value in weights else COMBINED) for a in table.aspects]
    return np.array([diffs[i] @ weights[k] for i, k in enumerate(keys)])


def _folds(table: FeatureTable, config: FitConfig) -> list[np.ndarray]:
    """Held-out masks: one per subset, or K folds over prompts when there is one subset."""
    subsets = sorted(set(table.subsets))
    labels = np.array(table.subsets)
    if len(subsets) >= 2:
        return [labels == s for s in subsets]
    prompts = sorted({hashlib.sha256(p.encode()).hexdigest() for p in table.prompts})
    random.Random(config.seed).shuffle(prompts)
    fold_of = {p: i % config.folds for i, p in enumerate(prompts)}
    keys = np.array([fold_of[hashlib.sha256(p.encode()).hexdigest()] for p in table.prompts])
    return [keys == k for k in range(min(config.folds, len(prompts)))]


@dataclass
class Selection:
    """What inner cross-validation chose, and the held-out accuracies behind the choice."""

    l2: float
    transfer: float
    per_aspect: dict[str, float]
    scores: dict[str, float]


def select_hyper(table: FeatureTable, config: FitConfig) -> Selection:
    """Choose by leave-one-subset-out inside `table`.

    `l2` and one `transfer` maximise the macro held-out accuracy over folds (ties go to the
    stronger prior, then to less transfer). Then each aspect whose pairs some fold held out
    gets the transfer that scored best on those pairs; an aspect no fold held out keeps the
    common value.
    """
    fixed = config.l2 is not None and config.transfer is not None  # nothing to choose
    folds = [] if fixed else [m for m in _folds(table, config) if m.any() and (~m).any()]
    l2_grid = config.l2_grid if config.l2 is None else (config.l2,)
    transfer_grid = config.transfer_grid if config.transfer is None else (config.transfer,)
    aspects = sorted({a.value for a in table.aspects} | {a.value for a in CODE_ASPECTS})
    if not folds:
        l2, transfer = l2_grid[len(l2_grid) // 2], transfer_grid[0]
        return Selection(l2, transfer, dict.fromkeys(aspects, transfer), {})
    per_fold: dict[tuple[float, float], list[float]] = {}
    by_aspect: dict[tuple[float, float, str], list[int]] = {}
    for held in folds:
        train, test = table.take(~held), table.take(held)
        _, scale = standardisation(train)
        labels = [a.value for a in test.aspects]
        for l2 in l2_grid:
            shared = fit_shared(train, scale, l2, config)
            for transfer in transfer_grid:
                weights = fit_aspects(train, scale, l2, transfer, shared, config)
                correct = aspect_margins(test, weights, scale) > 0
                per_fold.setdefault((l2, transfer), []).append(float(np.mean(correct)))
                for label, ok in zip(labels, correct):
                    tally = by_aspect.setdefault((l2, transfer, label), [0, 0])
                    tally[0] += int(ok)
                    tally[1] += 1
    scores = {key: float(np.mean(v)) for key, v in per_fold.items()}
    l2, transfer = max(scores, key=lambda k: (round(scores[k], 6), k[0], -k[1]))
    per_aspect = {}
    for aspect in aspects:
        seen = {t: by_aspect[(l2, t, aspect)] for t in transfer_grid if (l2, t, aspect) in by_aspect}
        if not seen:
            per_aspect[aspect] = transfer
            continue
        rate = {t: c / n for t, (c, n) in seen.items()}
        per_aspect[aspect] = max(rate, key=lambda t: (round(rate[t], 6), t == transfer, -t))
    return Selection(l2, transfer, per_aspect,
                     {f"l2={k[0]:g},transfer={k[1]:g}": round(v, 4) for k, v in scores.items()})


def fit_model(table: FeatureTable, config: FitConfig, sources: Sequence[str] = (),
              extra_meta: dict[str, Any] | None = None) -> LiteModel:
    """Fit on every pair of `table`; the model records what it was fitted on and how."""
    if not len(table):
        raise ValueError("no pairs to fit on")
    chosen = select_hyper(table, config)
    mean, scale = standardisation(table)
    weights = fit_weights(table, scale, chosen.l2, chosen.per_aspect, config)
    train_acc = float(np.mean(aspect_margins(table, weights, scale) > 0))
    meta: dict[str, Any] = {
        "fitted_on": {
            "sources": list(sources),
            "pairs": len(table),
            "subsets": dict(sorted(Counter(table.subsets).items())),
            "aspects": dict(sorted(Counter(a.value for a in table.aspects).items())),
        },
        "config": {**asdict(config), "l2_selected": chosen.l2, "transfer_selected": chosen.transfer,
                   "transfer_by_aspect": chosen.per_aspect, "cv_macro_accuracy": chosen.scores,
                   "scale_floor": SCALE_FLOOR},
        "training_accuracy": round(train_acc, 4),
        **(extra_meta or {}),
    }
    return LiteModel(FEATURE_NAMES, FEATURE_VERSION, mean, scale, weights, meta)


