"""The standardised linear model behind `lite`, its JSON file, and the logistic fit.

A response's score for a weight vector w is `w · (f - mean) / scale`, so the probability
that the chosen side wins is sigma(w · (f_c - f_r) / scale): logistic regression on feature
differences, with no intercept (swapping the two sides must flip the prediction).

The fit is Newton's method on the weighted, L2-penalised log-loss, with the penalty pulling
towards a prior vector instead of towards zero; with no data for an aspect the weights are
the prior. numpy only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from themis_rm.schema import Aspect

WEIGHTS_FORMAT = "themis-lite-weights"
WEIGHTS_VERSION = 1
COMBINED = "combined"


class WeightsError(ValueError):
    """A weights file cannot be used; the message names the file and the reason."""


@dataclass
class LiteModel:
    """Feature names, standardisation, one weight vector per aspect plus a combined one, and provenance."""

    features: tuple[str, ...]
    feature_version: str
    mean: np.ndarray
    scale: np.ndarray
    weights: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def key_for(self, aspect: Aspect | None, mode: str | None) -> str:
        """`aspect` mode reads the pair's own aspect model; `none`, `full` (and no aspect) read the combined one."""
        if mode == "aspect" and aspect is not None and aspect.value in self.weights:
            return aspect.value
        return COMBINED

    def score(self, values: np.ndarray, key: str) -> float:
        """The score of one feature row under the weights named `key`.

        One row at a time on purpose: a matrix product may sum in a different order for a
        different batch, and a score must not depend on what it was batched with.
        """
        return float(np.dot((values - self.mean) / self.scale, self.weights[key]))

    def contributions(self, chosen: np.ndarray, rejected: np.ndarray, key: str) -> np.ndarray:
        """Per-feature terms of score(chosen) - score(rejected); they sum to the score difference."""
        return (chosen - rejected) / self.scale * self.weights[key]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": WEIGHTS_FORMAT,
            "version": WEIGHTS_VERSION,
            "feature_version": self.feature_version,
            "features": list(self.features),
            "mean": _rounded(self.mean),
            "scale": _rounded(self.scale),
            "weights": {key: _rounded(w) for key, w in self.weights.items()},
            **self.meta,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str = "weights") -> LiteModel:
        if not isinstance(raw, Mapping) or raw.get("format") != WEIGHTS_FORMAT:
            raise WeightsError(f"{where}: not a lite weights file (expected \"format\": \"{WEIGHTS_FORMAT}\")")
        if raw.get("version") != WEIGHTS_VERSION:
            raise WeightsError(f"{where}: weights version {raw.get('version')!r}; this Themis reads {WEIGHTS_VERSION}")
        try:
            features = tuple(str(n) for n in raw["features"])
            mean = np.asarray(raw["mean"], dtype=np.float64)
            scale = np.asarray(raw["scale"], dtype=np.float64)
            weights = {str(k): np.asarray(v, dtype=np.float64) for k, v in raw["weights"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise WeightsError(f"{where}: malformed weights file ({err})") from None
        size = len(features)
        if mean.shape != (size,) or scale.shape != (size,) or any(w.shape != (size,) for w in weights.values()):
            raise WeightsError(f"{where}: every vector must have one entry per feature ({size})")
        if COMBINED not in weights:
            raise WeightsError(f"{where}: no {COMBINED!r} weights")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()
                and all(np.isfinite(w).all() for w in weights.values())):
            raise WeightsError(f"{where}: weights must be finite and scales positive")
        for key in weights:
            if key != COMBINED:
                try:
                    Aspect.parse(key)
                except ValueError:
                    raise WeightsError(f"{where}: unknown weights key {key!r}") from None
        known = {"format", "version", "feature_version", "features", "mean", "scale", "weights"}
        meta = {k: v for k, v in raw.items() if k not in known}
        return cls(features, str(raw.get("feature_version", "")), mean, scale,
                   {(k if k == COMBINED else Aspect.parse(k).value): w for k, w in weights.items()}, meta)

    @classmethod
    def load(cls, path: str | Path) -> LiteModel:
        return cls.load_with_text(path)[0]

    @classmethod
    def load_with_text(cls, path: str | Path) -> tuple[LiteModel, str]:
        """The model and the exact text it was read from (one read, so a hash of it matches)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            raw = json.loads(text)
        except FileNotFoundError:
            raise WeightsError(f"{path}: no such weights file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise WeightsError(f"{path}: cannot read weights: {err}") from None
        return cls.from_json(raw, str(path)), text


def _rounded(vector: np.ndarray) -> list[float]:
    return [float(f"{x:.6g}") for x in vector]


def fit_logistic(
    diffs: np.ndarray,
    l2: float,
    prior: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 50,
    tol: float = 1e-12,
) -> np.ndarray:
    """argmin_w  sum_i c_i log(1 + exp(-w·d_i)) + l2/2 |w - prior|^2, by damped Newton steps.

    Every row is a (chosen - rejected) difference, so every label is "first side wins".
    """
    n, d = diffs.shape
    prior = np.zeros(d) if prior is None else np.asarray(prior, dtype=np.float64)
    if l2 <= 0:
        raise ValueError("l2 must be > 0 (it keeps the problem strictly convex)")
    if n == 0:
        return prior.copy()
    c = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = prior.copy()

    def objective(v: np.ndarray) -> float:
        return float(c @ np.logaddexp(0.0, -(diffs @ v)) + 0.5 * l2 * np.sum((v - prior) ** 2))

    value = objective(w)
    for _ in range(max_iter):
        margin = diffs @ w
        p = _sigmoid(-margin)  # probability of the wrong side, per row
        grad = -(diffs.T @ (c * p)) + l2 * (w - prior)
        hess = (diffs.T * (c * p * (1.0 - p))) @ diffs + l2 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        decrement = float(grad @ step)
        if decrement / 2.0 < tol:
            break
        t = 1.0
        while True:  # backtracking keeps every step a descent step
            candidate = w - t * step
            new_value = objective(candidate)
            if new_value <= value - 0.25 * t * decrement or t < 1e-10:
                break
            t *= 0.5
        w, value = candidate, new_value
    return w


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def pair_probability(margin: float) -> float:
    """P(chosen better) for a score difference."""
    return 1.0 / (1.0 + math.exp(-max(min(margin, 700.0), -700.0)))
