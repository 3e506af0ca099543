"""End to end: `themis eval --scorer judge:...` against a scripted loopback judge, then `themis judge`."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pandas as pd
import pytest
from tests.llm.openai_server import OpenAIServer
from tests.scoring.judge.scripted import judge

PAIRS = [
    ("p1", "GOOD a", "BAD a", "Functional_Correctness", "py", "S1"),
    ("p2", "GOOD b", "GARBLE b", "Runtime_Efficiency", "c", "S1"),
    ("p3", "TIE c", "TIE d", "Security_Hardness", "go", "S2"),
    ("p4", "BAD e", "GOOD e", "Functional_Correctness", "java", "S2"),
    ("p5", "REFUSE f", "GOOD f", "Functional_Correctness", "py", "S2"),
]
RATING = {"GOOD": "Fine.\nScore: 9", "BAD": "Wrong.\nScore: 2", "TIE": "Score: 5", "GARBLE": "hmm",
          "REFUSE": "I'm sorry, but I can't help with that.", "def": "Score: 8"}


def answer(slots, body):
    if "response" in slots:
        return RATING[slots["response"].split()[0]]
    a, b = slots["response_A"], slots["response_B"]
    if a.startswith("GOOD") or b.startswith("GOOD"):
        return "Winner: A" if a.startswith("GOOD") else "Winner: B"
    return "Winner: A"  # no good side: always the first position


@pytest.fixture()
def pairs(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [dict(id=i, prompt="Do it.", chosen=c, rejected=r, aspect=a, language=lang, subset=s)
            for i, c, r, a, lang, s in PAIRS]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def themis(*args):
    return subprocess.run([sys.executable, "-m", "themis_rm", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_eval_with_a_rating_judge_counts_every_failure_and_reparses(pairs, tmp_path):
    run = tmp_path / "run"
    with OpenAIServer(judge(answer)) as server:
        result = themis("eval", "--data", pairs, "--scorer", f"judge:tiny@{server.url}", "--prompt-mode", "aspect",
                        "--no-progress", "--out", run, "--concurrency", "4")
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    overall = results["overall"]
    assert overall["total_parse_failures"] == 2 and overall["valid_pairs"] == 3
    assert overall["accuracy"] == 0.2 and overall["accuracy_valid_only"] == 0.3333
    assert results["accuracy_by_policy"]["half"]["overall"] == 0.3 and results["ties"]["overall"] == 1
    assert results["flags"]["refusal"]["by_subset"] == {"S1": 0, "S2": 1}
    assert results["manifest"]["scorer"]["fingerprint"]["protocol"] == "rating"
    scores = pd.read_parquet(run / "scores.parquet")
    assert scores.loc["p2", "rejected_parse_failed"] and not scores.loc["p2", "chosen_parse_failed"]
    with gzip.open(run / "details.jsonl.gz", "rt") as handle:
        details = {row["id"]: row for row in map(json.loads, handle)}
    assert details["p2"]["rejected"]["views"]["response"][0]["raw"] == "hmm"

    # An unchanged run re-parses to the same numbers, without a server.
    again = themis("judge", "reparse", run, "--out", tmp_path / "same")
    assert again.returncode == 0, again.stderr
    assert "0 changed" in again.stdout, again.stdout
    assert json.loads((tmp_path / "same" / "results.json").read_text())["overall"] == overall

    # Edit one stored output, as a better parser would read it: the score and the counts follow.
    details["p2"]["rejected"]["views"]["response"][0]["raw"] = "hmm, 3/10"
    with gzip.open(run / "details.jsonl.gz", "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in details.values())
    edited = themis("judge", "reparse", run)
    assert edited.returncode == 0, edited.stderr
    assert "1 changed" in edited.stdout
    reparsed = json.loads((tmp_path / "run-reparsed" / "results.json").read_text())["overall"]
    assert reparsed["total_parse_failures"] == 1 and reparsed["accuracy"] == 0.4
    rescored = pd.read_parquet(tmp_path / "run-reparsed" / "scores.parquet")
    assert rescored.loc["p2", "rejected_score"] == 3.0 and not rescored.loc["p2", "parse_failed"]


def test_eval_with_a_pairwise_judge_counts_inconsistency_and_position_bias(pairs, tmp_path):
    run = tmp_path / "run"
    with OpenAIServer(judge(answer)) as server:
        result = themis("eval", "--data", pairs, "--scorer", f"judge:tiny@{server.url}",
                        "--judge-protocol", "pairwise", "--no-progress", "--out", run)
        assert server.calls == 10
    assert result.returncode == 0, result.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["overall"]["accuracy"] == 0.4  # p1 and p2 won; p4 and p5 lost; p3 a tie
    assert results["ties"]["overall"] == 1 and results["flags"]["position_bias"]["overall"] == 1  # p3: "A" twice
    assert results["flags"]["inconsistent"]["by_subset"] == {"S1": 0, "S2": 1}
    assert results["manifest"]["scorer_stats"]["position_bias_rate"] == 0.2
    again = themis("judge", "reparse", run, "--out", tmp_path / "same")
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "same" / "results.json").read_text())["overall"] == results["overall"]


def test_judge_check_shows_the_answer_and_its_parse():
    with OpenAIServer(judge(answer)) as server:
        result = themis("judge", "check", f"judge:tiny@{server.url}")
    assert result.returncode == 0, result.stderr
    assert "parse=label value=8.0" in result.stdout and "score 8;" in result.stdout


def test_judge_errors_are_one_line():
    server = OpenAIServer(judge(answer)).start()
    server.stop()
    result = themis("judge", "check", f"judge:tiny@{server.url}", "--timeout", "2")
    assert result.returncode == 2
    assert result.stderr.startswith("themis: error: judge tiny:") and result.stderr.count("\n") == 1
    assert themis("judge", "reparse", "/nonexistent/run").returncode == 2
