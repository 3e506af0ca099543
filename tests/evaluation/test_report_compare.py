import json
import subprocess
import sys

import pytest

from themis_rm.evaluation.compare import compare_runs
from themis_rm.evaluation.runs import RunError, load_run


def themis(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "themis_rm", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_report_on_published_runs_writes_md_html_plots_and_json(shared_data, tmp_path):
    runs = [shared_data / "published_runs" / name for name in ("Themis-RM-0.6B", "LMUnit-qwen2.5-72b")]
    result = themis("report", *runs, "--out", tmp_path / "rep", "--json", tmp_path / "all.json", "--resamples", "100")
    assert result.returncode == 0, result.stderr
    recomputed = json.loads((tmp_path / "all.json").read_text())
    stored = json.loads((runs[0] / "results.json").read_text())
    assert recomputed["Themis-RM-0.6B"]["by_subset"] == stored["by_subset"]
    assert recomputed["Themis-RM-0.6B"]["overall"]["accuracy"] == stored["overall"]["accuracy"]
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "## Leaderboard" in markdown and "| Themis-RM-0.6B | 8866 | 79.4 |" in markdown
    assert "disagrees with its own scores" in markdown  # LMUnit
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("<svg") == 6 and "<img" not in html  # self-contained
    assert len(list((tmp_path / "rep" / "figures").glob("*.svg"))) == 6
    assert "LMUnit-qwen2.5-72b" in result.stdout


def test_compare_published_runs(shared_data, tmp_path):
    a = load_run(shared_data / "published_runs" / "Themis-RM-8B")
    b = load_run(shared_data / "published_runs" / "internlm2-20b-reward")
    result = compare_runs(a, b, resamples=500)
    assert result["overall"]["pairs"] == 8862 and result["only_in_a"] == 4
    overall = result["overall"]
    low, high = overall["difference_ci"]
    assert low < overall["difference"] < high
    assert overall["difference"] == pytest.approx(overall["accuracy_a"] - overall["accuracy_b"], abs=1e-4)
    assert overall["mcnemar_p"] < 1e-10
    assert set(result["by_aspect"]) == {"Functional_Correctness", "Memory_Efficiency", "Readability_Maintainability",
                                        "Runtime_Efficiency", "Security_Hardness"}
    cli = themis("compare", a.path, b.path, "--json", tmp_path / "cmp.json", "--resamples", "200")
    assert cli.returncode == 0 and "McNemar" in cli.stdout
    assert json.loads((tmp_path / "cmp.json").read_text())["overall"]["pairs"] == 8862


def test_not_a_run_folder(tmp_path):
    with pytest.raises(RunError, match="not a run folder"):
        load_run(tmp_path)
    result = themis("report", tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("themis: error:") and "Traceback" not in result.stderr
