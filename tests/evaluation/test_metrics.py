import math

import numpy as np
import pandas as pd
import pytest

from themis_rm.evaluation.compare import mcnemar_exact
from themis_rm.evaluation.metrics import bootstrap_interval, correctness, summarize


def frame(rows):
    df = pd.DataFrame(rows, columns=["id", "chosen_score", "rejected_score", "aspect", "language", "subset"])
    return df.set_index("id")


ROWS = [
    ("a", 2.0, 1.0, "Security_Hardness", "C", "S1"),
    ("b", 1.0, 1.0, "Security_Hardness", "Go", "S1"),  # tie
    ("c", 0.0, 3.0, "Memory_Efficiency", "C", "S2"),
    ("d", math.nan, 1.0, "Memory_Efficiency", "Go", "S2"),  # invalid
    ("e", 5.0, -1.0, "Memory_Efficiency", "C", "S2"),
]


def test_hand_computed_accuracy_ties_and_invalid_rows():
    results = summarize(frame(ROWS), ties="wrong", resamples=200)
    overall = results["overall"]
    assert overall["accuracy"] == 0.4 and overall["correct_predictions"] == 2 and overall["total_examples"] == 5
    diffs = [1.0, 0.0, -3.0, 6.0]  # the invalid row is left out
    assert overall["mean_score_difference"] == round(np.mean(diffs), 4)
    assert overall["median_score_difference"] == round(float(np.median(diffs)), 4)
    assert overall["std_score_difference"] == round(float(np.std(diffs, ddof=1)), 4)
    assert overall["accuracy_valid_only"] == 0.5 and overall["valid_pairs"] == 4
    assert results["by_aspect"] == {"Memory_Efficiency": {"accuracy": 0.3333, "count": 3},
                                    "Security_Hardness": {"accuracy": 0.5, "count": 2}}
    assert results["ties"]["overall"] == 1 and results["invalid_pairs"]["overall"] == 1
    assert results["accuracy_by_policy"]["half"]["overall"] == 0.5
    assert results["accuracy_by_policy"]["valid_only"]["overall"] == 0.5
    assert results["macro_accuracy"]["over_aspects"] == round((1 / 3 + 0.5) / 2, 4)
    half = summarize(frame(ROWS), ties="half", resamples=200)
    assert half["overall"]["accuracy"] == 0.5 and half["overall"]["correct_predictions"] == 2.5


def test_per_prompt_macro_weighs_each_prompt_once():
    df = frame(ROWS[:3] + ROWS[4:])
    df["prompt_id"] = ["p1", "p1", "p1", "p2"]  # p1: 1/3 correct, p2: 1/1
    results = summarize(df, resamples=100)
    assert results["per_prompt_macro"]["accuracy"] == round((1 / 3 + 1) / 2, 4)
    assert results["per_prompt_macro"]["prompts"] == 2


def test_flags_are_counted_per_group():
    df = frame(ROWS)
    df["parse_failed"] = [False, False, False, True, False]
    df["chosen_parse_failed"] = [False, False, False, True, False]
    df["rejected_parse_failed"] = [False, False, True, False, False]
    results = summarize(df, resamples=100)
    assert results["flags"]["parse_failed"]["overall"] == 1
    assert results["flags"]["parse_failed"]["by_language"] == {"C": 0, "Go": 1}
    assert results["parse_failures"] == 2  # responses, not pairs


def test_bootstrap_interval_matches_resampling_rows():
    rng = np.random.default_rng(0)
    values = rng.choice([0.0, 0.5, 1.0], size=300, p=[0.3, 0.1, 0.6])
    fast = bootstrap_interval(values, np.random.default_rng(1), resamples=4000)
    index = np.random.default_rng(2).integers(0, len(values), size=(4000, len(values)))
    slow = np.quantile(values[index].mean(axis=1), [0.025, 0.975])
    assert fast[0] == pytest.approx(slow[0], abs=0.01) and fast[1] == pytest.approx(slow[1], abs=0.01)
    assert fast[0] < values.mean() < fast[1]


def test_correctness_policy_validation():
    with pytest.raises(ValueError):
        correctness(frame(ROWS), "coin-flip")


def test_mcnemar_exact_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # two-sided exact binomial: P(X <= 1 | n=10, p=1/2) * 2 = 22/1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(0, 20) == pytest.approx(2 / 2**20)
