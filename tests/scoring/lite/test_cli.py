"""`themis lite fit` and `themis lite explain` end to end, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parents[2] / "data" / "fixtures" / "lite_pairs.jsonl"


def themis(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "themis_rm", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_fit_then_explain_then_eval(tmp_path):
    out = tmp_path / "weights.json"
    result = themis("lite", "fit", "--data", FIXTURE, "--out", out, "--holdout-subset", "TINY_C", "--l2", "1",
                    "--no-progress")
    assert result.returncode == 0, result.stderr
    raw = json.loads(out.read_text())
    assert raw["fitted_on"]["subsets"] == {"TINY_A": 3, "TINY_B": 4}
    assert raw["holdout"]["pairs"] == 5 and raw["holdout_subsets"] == ["TINY_C"]
    assert raw["command"].startswith("themis lite fit --data ")
    assert "held out TINY_C" in result.stdout and "wrote" in result.stdout

    result = themis("lite", "explain", "--data", FIXTURE, "--id", "sec-py-1", "--weights", out)
    assert result.returncode == 0, result.stderr
    assert "Security_Hardness" in result.stdout and "sec_deser" in result.stdout and "P(chosen better)" in result.stdout

    result = themis("eval", "--data", FIXTURE, "--scorer", f"lite:{out}", "--prompt-mode", "aspect", "--no-progress",
                    "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["overall"]["total_examples"] == 12


def test_explain_two_files(tmp_path):
    (tmp_path / "a.c").write_text("void f(char *d, const char *s, size_t n) { snprintf(d, n, \"%s\", s); }\n")
    (tmp_path / "b.c").write_text("void f(char *d, const char *s, size_t n) { strcpy(d, s); }\n")
    result = themis("lite", "explain", "--chosen", tmp_path / "a.c", "--rejected", tmp_path / "b.c",
                    "--language", "c", "--aspect", "security", "--top", "5")
    assert result.returncode == 0, result.stderr
    assert "sec_memory" in result.stdout and "chosen wins" in result.stdout


def test_user_errors_are_one_line(tmp_path):
    result = themis("lite", "explain", "--data", FIXTURE, "--id", "nope")
    assert result.returncode == 2 and result.stderr.strip().endswith("no pair with id 'nope'")
    assert len(result.stderr.strip().splitlines()) == 1
    result = themis("lite", "fit", "--data", "builtin", "--out", tmp_path / "w.json")
    assert result.returncode == 2 and "refusing to fit on `builtin`" in result.stderr
    result = themis("lite", "fit", "--data", FIXTURE, "--out", tmp_path / "w.json", "--holdout-subset", "NOPE")
    assert result.returncode == 2 and "no such subset" in result.stderr
    result = themis("lite", "explain", "--chosen", tmp_path / "missing.py", "--rejected", tmp_path / "missing.py")
    assert result.returncode == 2 and "cannot read" in result.stderr
