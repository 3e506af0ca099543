"""`themis mine` as a user runs it, and the flags <-> MineConfig contract."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from tests.mining.conftest import LANGUAGES
from tests.mining.histories import EXPECTED_DROPS, GOOD
from themis_rm.cli.mine_cmd import config_from_flags, mine_command
from themis_rm.mining.config import FIELDS, MineConfig


def themis(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "themis_rm", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_every_config_field_is_a_flag_and_back():
    params = inspect.signature(mine_command).parameters
    assert set(params) == set(FIELDS) | {"config_file"}
    config = config_from_flags({"repos": ["r"], "max_diff_lines": 7, "dedup": False, "languages": ["py,go"],
                                "split_fractions": None, "config_file": None})
    assert config == MineConfig(repos=["r"], max_diff_lines=7, dedup=False, languages=["py", "go"])


def test_config_file_and_flags(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("max-diff-lines: 9\nout: from-file\nlabels: all\n")
    config = config_from_flags({"repos": ["r"], "out": "from-flag", "config_file": str(path)})
    assert (config.max_diff_lines, config.out, config.labels) == (9, "from-flag", "all")
    path.write_text("max_dif_lines: 9\n")
    with pytest.raises(ValueError, match="unknown field"):
        config_from_flags({"repos": ["r"], "config_file": str(path)})


@pytest.mark.parametrize("overrides, message", [
    ({"vote_k": 4}, "--vote-k"), ({"labels": "some"}, "--labels"), ({"dedup_threshold": 0}, "--dedup-threshold"),
])
def test_bad_settings_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        MineConfig(**overrides)


def test_mine_end_to_end(histories, tmp_path):
    out = tmp_path / "mined"
    args = ["mine", histories["root"], "--out", out, "--max-file-bytes", 20000, "--max-diff-lines", 60,
            "--max-side-chars", 1500, "--until", "2030-01-01", "--exclude-authors", "bot", "--no-progress"]
    for language in LANGUAGES:
        args += ["--languages", language]
    result = themis(*args)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "mining_report.json").read_text())
    assert report["drop_reasons"] == EXPECTED_DROPS
    assert report["config"]["languages"] == LANGUAGES and report["config"]["max_diff_lines"] == 60
    rows = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == len(GOOD)
    assert "Stages" in result.stdout and "near_duplicate: 1" in result.stdout and "wrote 8 rows" in result.stdout


def test_mine_reports_user_errors_in_one_line(tmp_path):
    result = themis("mine", tmp_path / "missing", "--out", tmp_path / "o", "--no-progress")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("themis: error: no git repository found")
    assert len(result.stderr.strip().splitlines()) == 1
    bad = themis("mine", tmp_path, "--time-split", "train", "--no-progress")
    assert bad.returncode == 2 and "NAME=START..END" in bad.stderr
