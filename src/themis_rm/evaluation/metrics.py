"""Accuracy and its uncertainty, from a table of per-pair scores.

Input: a DataFrame with `chosen_score`, `rejected_score`, `aspect`, `language`, `subset`
and optionally `prompt_id` and flag columns (`parse_failed`, `refusal`, ...).

Definitions, matching the published Themis runs:
- a pair is correct when score(chosen) > score(rejected); a tie counts as wrong under the
  `wrong` policy (the published default) and as half under `half`;
- a pair with a missing (NaN) score on either side is *invalid*: wrong under both policies,
  excluded from the `valid_only` figure and from the score-difference statistics;
- `std_score_difference` uses the sample standard deviation (ddof=1).

Intervals are percentile bootstraps. Accuracy is a mean of values in {0, ½, 1}, so resampling
n rows is a multinomial draw over those three values: exact, and O(resamples) per group.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

GROUPS = {"by_aspect": "aspect", "by_language": "language", "by_subset": "subset"}
TIE_POLICIES = ("wrong", "half")


def correctness(frame: pd.DataFrame, ties: str = "wrong") -> np.ndarray:
    """1 for a win, 0 for a loss or invalid row, 0 or ½ for a tie depending on the policy."""
    if ties not in TIE_POLICIES:
        raise ValueError(f"ties must be one of {TIE_POLICIES}, got {ties!r}")
    chosen = frame["chosen_score"].to_numpy(dtype=float)
    rejected = frame["rejected_score"].to_numpy(dtype=float)
    values = (chosen > rejected).astype(float)
    if ties == "half":
        values[chosen == rejected] = 0.5
    return values


def valid_mask(frame: pd.DataFrame) -> np.ndarray:
    return ~(frame["chosen_score"].isna() | frame["rejected_score"].isna()).to_numpy()


def tie_mask(frame: pd.DataFrame) -> np.ndarray:
    return (frame["chosen_score"] == frame["rejected_score"]).to_numpy()


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, resamples: int = 1000,
                       confidence: float = 0.95) -> list[float] | None:
    """Percentile interval of the mean of values in {0, ½, 1}."""
    n = len(values)
    if n == 0:
        return None
    levels = np.array([0.0, 0.5, 1.0])
    counts = np.array([(values == level).sum() for level in levels])
    return level_bootstrap(levels, counts, rng, resamples, confidence)


def level_bootstrap(levels: np.ndarray, counts: np.ndarray, rng: np.random.Generator, resamples: int,
                    confidence: float) -> list[float]:
    """Percentile interval of the mean of a sample that takes few values (`levels`, seen `counts`
    times): a multinomial draw over the levels is the exact resampling distribution."""
    n = int(counts.sum())
    draws = rng.multinomial(n, counts / n, size=resamples)
    means = draws @ levels / n
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def _r4(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def overall_block(frame: pd.DataFrame, correct: np.ndarray) -> dict[str, Any]:
    """The published `overall` object, plus the published parse-failure keys when rows are invalid."""
    valid = valid_mask(frame)
    diff = (frame["chosen_score"] - frame["rejected_score"]).to_numpy(dtype=float)[valid]
    total = correct.sum()
    block: dict[str, Any] = {
        "accuracy": _r4(correct.mean()) if len(correct) else None,
        "total_examples": len(frame),
        "correct_predictions": int(total) if float(total).is_integer() else float(total),
        "mean_score_difference": _r4(diff.mean()) if len(diff) else None,
        "median_score_difference": _r4(np.median(diff)) if len(diff) else None,
        "std_score_difference": _r4(diff.std(ddof=1)) if len(diff) > 1 else None,
    }
    invalid = int((~valid).sum())
    if invalid:
        block["accuracy_valid_only"] = _r4(correct[valid].mean()) if valid.any() else None
        block["valid_pairs"] = int(valid.sum())
        block["total_parse_failures"] = invalid
        block["parse_failure_rate"] = _r4(invalid / len(frame))
    return block


def group_accuracy(frame: pd.DataFrame, correct: np.ndarray, column: str) -> dict[str, dict[str, Any]]:
    series = pd.Series(correct, index=frame.index)
    grouped = series.groupby(frame[column].to_numpy()).agg(["mean", "count"])
    return {str(name): {"accuracy": _r4(row["mean"]), "count": int(row["count"])} for name, row in grouped.iterrows()}


def _counts(frame: pd.DataFrame, mask: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"overall": int(mask.sum())}
    for key, column in GROUPS.items():
        sums = pd.Series(mask.astype(int), index=frame.index).groupby(frame[column].to_numpy()).sum()
        out[key] = {str(k): int(v) for k, v in sums.items()}
    return out


def flag_columns(frame: pd.DataFrame) -> list[str]:
    """Boolean per-pair flags (`parse_failed`, `truncated`, ...); per-side copies are not counted twice."""
    return [
        c for c in frame.columns
        if frame[c].dtype == bool and c != "correct" and not c.startswith(("chosen_", "rejected_"))
    ]


def per_prompt_macro(frame: pd.DataFrame, correct: np.ndarray) -> dict[str, Any] | None:
    """Mean over prompts of each prompt's accuracy, so a prompt repeated 50 times weighs as one."""
    if "prompt_id" not in frame.columns:
        return None
    series = pd.Series(correct, index=frame.index)
    per_prompt = series.groupby(frame["prompt_id"].to_numpy()).mean()
    out: dict[str, Any] = {"accuracy": _r4(per_prompt.mean()), "prompts": len(per_prompt)}
    for key, column in GROUPS.items():
        by = series.groupby([frame[column].to_numpy(), frame["prompt_id"].to_numpy()]).mean()
        out[key] = {str(name): _r4(values.mean()) for name, values in by.groupby(level=0)}
    return out


def summarize(frame: pd.DataFrame, ties: str = "wrong", resamples: int = 1000, seed: int = 0,
              confidence: float = 0.95) -> dict[str, Any]:
    """The full results object: the published structure first, our additions under new keys."""
    correct = correctness(frame, ties)
    results: dict[str, Any] = {"overall": overall_block(frame, correct)}
    for key, column in GROUPS.items():
        results[key] = group_accuracy(frame, correct, column)

    rng = np.random.default_rng(seed)
    intervals: dict[str, Any] = {"overall": bootstrap_interval(correct, rng, resamples, confidence)}
    for key, column in GROUPS.items():
        labels = frame[column].to_numpy()
        intervals[key] = {
            str(name): bootstrap_interval(correct[labels == name], rng, resamples, confidence)
            for name in sorted(set(labels))
        }
    valid = valid_mask(frame)
    results["tie_policy"] = ties
    results["confidence_intervals"] = {"level": confidence, "method": "percentile bootstrap",
                                       "resamples": resamples, **intervals}
    results["ties"] = _counts(frame, tie_mask(frame) & valid)
    results["invalid_pairs"] = _counts(frame, ~valid)
    results["accuracy_by_policy"] = _policies(frame, valid)
    series = pd.Series(correct, index=frame.index)
    results["macro_accuracy"] = {
        f"over_{column}s": _r4(series.groupby(frame[column].to_numpy()).mean().mean()) for column in GROUPS.values()
    }
    prompt_macro = per_prompt_macro(frame, correct)
    if prompt_macro is not None:
        results["per_prompt_macro"] = prompt_macro
    flags = flag_columns(frame)
    if flags:
        results["flags"] = {flag: _counts(frame, frame[flag].fillna(False).to_numpy(dtype=bool)) for flag in flags}
    side_flags = [c for c in ("chosen_parse_failed", "rejected_parse_failed") if c in frame.columns]
    if side_flags:
        results["parse_failures"] = int(sum(frame[c].fillna(False).astype(bool).sum() for c in side_flags))
    return results


def _policies(frame: pd.DataFrame, valid: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for policy in TIE_POLICIES:
        correct = correctness(frame, policy)
        out[policy] = {"overall": _r4(correct.mean()),
                       **{k: {n: v["accuracy"] for n, v in group_accuracy(frame, correct, c).items()} for k, c in GROUPS.items()}}
    strict = correctness(frame, "wrong")
    subset = frame[valid]
    out["valid_only"] = {"overall": _r4(strict[valid].mean()) if valid.any() else None,
                         **{k: {n: v["accuracy"] for n, v in group_accuracy(subset, strict[valid], c).items()}
                            for k, c in GROUPS.items()}}
    return out
