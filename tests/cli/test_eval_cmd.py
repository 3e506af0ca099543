"""End to end: `themis eval` as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "data" / "fixtures"


def themis(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "themis_rm", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_eval_writes_a_run_under_runs_by_default(tmp_path):
    result = themis("eval", "--data", FIXTURES / "good.jsonl", "--scorer", "length", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    results = json.loads((run / "results.json").read_text())
    assert results["overall"]["total_examples"] == 3
    assert "Accuracy" in result.stdout and "wrote" in result.stdout


def test_eval_rejects_options_of_other_scorers(tmp_path):
    result = themis("eval", "--data", FIXTURES / "good.jsonl", "--scorer", "length", "--dtype", "bfloat16", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "themis: error: --dtype does not apply to scorer 'length'"


def test_data_show_counts_cells():
    result = themis("data", "show", FIXTURES / "good.jsonl")
    assert result.returncode == 0
    assert "3 pairs" in result.stdout and "TINY 3" in result.stdout


def test_eval_with_no_arguments_scores_the_builtin_benchmark_with_lite(tmp_path):
    result = themis("eval", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    results = json.loads((run / "results.json").read_text())
    manifest = results["manifest"]
    assert manifest["scorer"]["spec"] == "lite" and manifest["prompt_mode"] == "aspect"
    assert manifest["data"]["source"] == "builtin" and results["overall"]["total_examples"] >= 120
    assert len(results["by_aspect"]) == 5 and len(results["by_language"]) == 8
    length = themis("eval", "--scorer", "length", "--out", tmp_path / "length", "--no-progress", cwd=tmp_path)
    assert length.returncode == 0
    baseline = json.loads((tmp_path / "length" / "results.json").read_text())
    assert results["overall"]["accuracy"] > baseline["overall"]["accuracy"] + 0.1
