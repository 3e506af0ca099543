"""Load run folders — ours or the published Themis runs — and recompute their metrics from scores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from themis_rm.evaluation.metrics import summarize

REQUIRED = ("chosen_score", "rejected_score", "aspect", "language", "subset")
PUBLISHED_OVERALL_KEYS = ("accuracy", "total_examples", "correct_predictions", "mean_score_difference",
                          "median_score_difference", "std_score_difference", "accuracy_valid_only",
                          "valid_pairs", "total_parse_failures", "parse_failure_rate")


class RunError(ValueError):
    """A folder is not a readable run."""


@dataclass
class Run:
    name: str
    path: Path
    scores: pd.DataFrame
    stored: dict[str, Any] | None

    @property
    def tie_policy(self) -> str:
        return (self.stored or {}).get("tie_policy", "wrong")


def load_run(path: str | Path) -> Run:
    path = Path(path)
    scores_path = path / "scores.parquet"
    if not scores_path.is_file():
        raise RunError(f"{path}: not a run folder (no scores.parquet)")
    try:
        scores = pd.read_parquet(scores_path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise RunError(f"{scores_path}: cannot read: {err}") from None
    missing = [c for c in REQUIRED if c not in scores.columns]
    if missing:
        raise RunError(f"{scores_path}: missing column(s) {', '.join(missing)}")
    if scores.index.name != "id" and "id" in scores.columns:
        scores = scores.set_index("id")
    stored = None
    results_path = path / "results.json"
    if results_path.is_file():
        try:
            stored = json.loads(results_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise RunError(f"{results_path}:{err.lineno}: invalid JSON: {err.msg}") from None
    return Run(path.resolve().name, path, scores, stored)


def recompute(run: Run, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    return summarize(run.scores, ties=run.tie_policy, resamples=resamples, seed=seed)


def discrepancies(run: Run, recomputed: dict[str, Any]) -> list[str]:
    """Where the stored results.json disagrees with its own scores (4 decimals), one line each."""
    if run.stored is None:
        return []
    lines = []
    stored_overall, ours = run.stored.get("overall", {}), recomputed["overall"]
    for key in PUBLISHED_OVERALL_KEYS:
        if key in stored_overall and key in ours and stored_overall[key] != ours[key]:
            lines.append(f"overall.{key}: stored {stored_overall[key]}, recomputed {ours[key]}")
    stored_failures = stored_overall.get("parse_failures", stored_overall.get("total_parse_failures"))
    if stored_failures and "total_parse_failures" not in ours and "parse_failures" not in recomputed:
        lines.append(
            f"overall.parse_failures: stored {stored_failures}, but scores.parquet marks no failure "
            "(no missing scores, no parse flags): those responses were given numeric scores and counted as valid"
        )
    for group in ("by_aspect", "by_language", "by_subset"):
        stored_group, our_group = run.stored.get(group, {}), recomputed[group]
        for name in sorted(set(stored_group) | set(our_group)):
            a, b = stored_group.get(name), our_group.get(name)
            if a is None or b is None or a.get("accuracy") != b["accuracy"] or a.get("count") != b["count"]:
                lines.append(f"{group}.{name}: stored {a}, recomputed {b}")
    if "correct" in run.scores.columns and run.tie_policy == "wrong":
        recorded = run.scores["correct"].astype(bool)
        derived = run.scores["chosen_score"] > run.scores["rejected_score"]
        mismatched = int((recorded != derived).sum())
        if mismatched:
            lines.append(f"scores.parquet: {mismatched} row(s) whose `correct` disagrees with chosen_score > rejected_score")
    return lines
