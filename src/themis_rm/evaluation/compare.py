"""Paired comparison of two runs on the pairs they share.

The accuracy difference gets a paired bootstrap interval (resampling pairs, so the two runs'
errors stay matched) and McNemar's exact test on the discordant pairs (strict correctness:
a tie is not a win for either run).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from themis_rm.evaluation.metrics import correctness, level_bootstrap
from themis_rm.evaluation.runs import Run


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of min(b, c) out of b + c at p = ½."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(log_terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return min(1.0, 2 * tail)


def paired_interval(diff: np.ndarray, rng: np.random.Generator, resamples: int, confidence: float) -> list[float]:
    """Percentile bootstrap of the mean per-pair difference (which takes few values)."""
    levels, counts = np.unique(diff, return_counts=True)
    return level_bootstrap(levels, counts, rng, resamples, confidence)


def _block(a: pd.DataFrame, b: pd.DataFrame, ties: str, rng: np.random.Generator, resamples: int,
           confidence: float) -> dict[str, Any]:
    acc_a, acc_b = correctness(a, ties), correctness(b, ties)
    strict_a, strict_b = correctness(a, "wrong") == 1, correctness(b, "wrong") == 1
    diff = acc_a - acc_b
    only_a, only_b = int((strict_a & ~strict_b).sum()), int((~strict_a & strict_b).sum())
    return {
        "pairs": len(a),
        "accuracy_a": round(float(acc_a.mean()), 4),
        "accuracy_b": round(float(acc_b.mean()), 4),
        "difference": round(float(diff.mean()), 4),
        "difference_ci": paired_interval(diff, rng, resamples, confidence),
        "only_a_correct": only_a,
        "only_b_correct": only_b,
        "mcnemar_p": round(mcnemar_exact(only_a, only_b), 6),
    }


def compare_runs(run_a: Run, run_b: Run, ties: str = "wrong", resamples: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> dict[str, Any]:
    shared = run_a.scores.index.intersection(run_b.scores.index)
    if len(shared) == 0:
        raise ValueError(f"{run_a.name} and {run_b.name} share no pair ids")
    a, b = run_a.scores.loc[shared], run_b.scores.loc[shared]
    mismatch = int((a["aspect"] != b["aspect"]).sum())
    if mismatch:
        raise ValueError(f"{mismatch} shared id(s) carry different aspects in the two runs; are they the same benchmark?")
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {
        "run_a": run_a.name, "run_b": run_b.name, "tie_policy": ties, "confidence": confidence,
        "only_in_a": int(len(run_a.scores) - len(shared)), "only_in_b": int(len(run_b.scores) - len(shared)),
        "overall": _block(a, b, ties, rng, resamples, confidence),
        "by_aspect": {},
    }
    for aspect in sorted(a["aspect"].unique()):
        mask = (a["aspect"] == aspect).to_numpy()
        result["by_aspect"][aspect] = _block(a[mask], b[mask], ties, rng, resamples, confidence)
    return result
