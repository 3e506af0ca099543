"""`themis eval --scorer length` agrees exactly with an independent ten-line computation."""

import json
from collections import defaultdict

from themis_rm.evaluation.run import EvalConfig, evaluate


def independent_length_accuracy(files):
    wins, totals = defaultdict(int), defaultdict(int)
    for file in files:
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            win = len(row["chosen"]) > len(row["rejected"])
            for key in ("overall", row["aspect"], row["subset"], row["language"]):
                wins[key] += win
                totals[key] += 1
    return {key: round(wins[key] / totals[key], 4) for key in totals}, totals


def test_length_baseline_matches_independent_computation(shared_data, tmp_path):
    expected, totals = independent_length_accuracy(sorted((shared_data / "benchmarks").glob("*.jsonl")))
    result = evaluate(EvalConfig(data=str(shared_data / "benchmarks"), scorer="length", out=str(tmp_path), progress=False, resamples=50))
    r = result.results
    assert r["overall"]["accuracy"] == expected["overall"]
    assert r["overall"]["total_examples"] == totals["overall"]
    for group in ("by_aspect", "by_subset", "by_language"):
        for name, block in r[group].items():
            assert block["accuracy"] == expected[name], (group, name)
            assert block["count"] == totals[name]
