import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from themis_rm.evaluation.run import EvalConfig, evaluate
from themis_rm.scoring.base import PointwiseScorer, Scored, register_scorer

FIXTURES = Path(__file__).parents[1] / "data" / "fixtures"


@register_scorer("test-flaky-judge")
class FlakyJudge(PointwiseScorer):
    """Fails to score responses that mention `data =` and keeps a raw text for every response."""

    def score(self, requests):
        out = []
        for r in requests:
            failed = "data =" in r.response and "with" not in r.response
            out.append(Scored(float("nan") if failed else float(len(r.response)),
                              {"flags": {"parse_failed": failed}, "raw": f"len={len(r.response)}"}))
        return out


def test_run_writes_published_columns_flags_and_details(tmp_path):
    result = evaluate(EvalConfig(data=str(FIXTURES / "good.jsonl"), scorer="test-flaky-judge", out=str(tmp_path),
                                 progress=False, resamples=50))
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert scores.index.name == "id"
    assert list(scores.columns[:7]) == ["chosen_score", "rejected_score", "correct", "score_diff", "language", "aspect", "subset"]
    assert scores.loc["g3", "rejected_parse_failed"] and not scores.loc["g3", "chosen_parse_failed"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["parse_failures"] == 1 and results["flags"]["parse_failed"]["overall"] == 1
    assert results["overall"]["accuracy_valid_only"] == 1.0 and results["overall"]["accuracy"] == round(2 / 3, 4)
    manifest = results["manifest"]
    assert manifest["prompt_mode"] == "none" and len(manifest["criteria_digest"]) == 16
    assert manifest["data"]["digest"] and manifest["engine"]["requests_total"] == 6
    with gzip.open(tmp_path / "details.jsonl.gz", "rt") as handle:
        details = [json.loads(line) for line in handle]
    assert {d["id"] for d in details} == {"g1", "g2", "g3"} and details[0]["chosen"]["raw"].startswith("len=")
    assert result.scores.equals(scores)


def test_prompt_mode_changes_the_requests_not_the_pairs(tmp_path):
    seen = []

    @register_scorer("test-system-recorder")
    class Recorder(PointwiseScorer):
        def score(self, requests):
            seen.extend(r.system for r in requests)
            return [Scored(1.0) for _ in requests]

    evaluate(EvalConfig(data=str(FIXTURES / "good.jsonl"), scorer="test-system-recorder", prompt_mode="aspect",
                        out=str(tmp_path / "a"), progress=False, resamples=10))
    assert all(s and "Criteria:" in s for s in seen)
    seen.clear()
    evaluate(EvalConfig(data=str(FIXTURES / "good.jsonl"), scorer="test-system-recorder", prompt_mode="none",
                        out=str(tmp_path / "b"), progress=False, resamples=10))
    assert seen and all(s is None for s in seen)


def test_limit_takes_a_seeded_sample_and_chunk_size_changes_nothing(shared_data, tmp_path):
    bench = str(shared_data / "benchmarks" / "NOFUNEVAL_MAINTAIN.jsonl")
    a = evaluate(EvalConfig(data=bench, scorer="random", limit=40, seed=7, chunk_size=3, out=str(tmp_path / "a"), progress=False, resamples=10))
    b = evaluate(EvalConfig(data=bench, scorer="random", limit=40, seed=7, chunk_size=500, out=str(tmp_path / "b"), progress=False, resamples=10))
    assert len(a.scores) == 40
    pd.testing.assert_frame_equal(a.scores, b.scores)


SLOW_PLUGIN = textwrap.dedent("""
    import time
    from themis_rm.scoring.base import PointwiseScorer, Scored

    class Slow(PointwiseScorer):
        def score(self, requests):
            time.sleep(0.15)
            return [Scored(float(sum(map(ord, r.response)) % 997)) for r in requests]
""")


def _plugin_env(tmp_path):
    (tmp_path / "slowplugin.py").write_text(SLOW_PLUGIN)
    dist = tmp_path / "slowplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: slowplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[themis_rm.scorers]\nslow = slowplugin:Slow\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def _cached_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_run_resumes_to_identical_scores_without_rescoring(shared_data, tmp_path):
    env = _plugin_env(tmp_path)
    bench = str(shared_data / "benchmarks" / "NOFUNEVAL_SECURITY.jsonl")
    command = [sys.executable, "-m", "themis_rm", "eval", "--data", bench, "--scorer", "slow", "--chunk-size", "4",
               "--no-progress", "--resamples", "20"]
    run_dir = tmp_path / "killed"
    process = subprocess.Popen([*command, "--out", str(run_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while _cached_rows(run_dir / "cache.sqlite") < 12 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before_kill = _cached_rows(run_dir / "cache.sqlite")
    assert done_before_kill >= 12 and not (run_dir / "scores.parquet").exists()

    subprocess.run([*command, "--out", str(run_dir)], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([*command, "--out", str(tmp_path / "clean")], env=env, check=True, capture_output=True, timeout=120)
    resumed = pd.read_parquet(run_dir / "scores.parquet")
    clean = pd.read_parquet(tmp_path / "clean" / "scores.parquet")
    pd.testing.assert_frame_equal(resumed, clean)
    engine = json.loads((run_dir / "results.json").read_text())["manifest"]["engine"]
    assert engine["requests_from_cache"] == done_before_kill
    assert engine["requests_scored"] == engine["requests_unique"] - done_before_kill


def test_skipped_rows_are_counted_in_results(tmp_path):
    bad = tmp_path / "mixed.jsonl"
    lines = (FIXTURES / "good.jsonl").read_text().splitlines()
    bad.write_text("\n".join([*lines, '{"id": "x", "prompt": "p"}', "not json"]) + "\n")
    result = evaluate(EvalConfig(data=str(bad), scorer="length", on_invalid="skip", out=str(tmp_path / "run"),
                                 progress=False, resamples=10))
    assert result.results["skipped_rows"] == {"total": 2, "by_reason": {"invalid_json": 1, "missing_column": 1}}
    assert result.results["manifest"]["data"]["rows_skipped"] == 2


def test_bad_config_values_are_rejected():
    with pytest.raises(ValueError):
        EvalConfig(prompt_mode="sometimes")
    with pytest.raises(ValueError):
        EvalConfig(ties="coin")
