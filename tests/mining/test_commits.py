"""Hostile repositories: each oddity is handled and counted, and never ends the run."""

from __future__ import annotations

import os
import zlib
from collections import Counter

import pytest

from tests.mining.gitrepo import RepoBuilder
from themis_rm.mining import MineConfig, commits, mine, repos

SIMPLE_PY = "def helper(values):\n    out = []\n    for value in values:\n        out.append(value * 2)\n    return out\n"


def numbered(i: int) -> str:
    return SIMPLE_PY.replace("value * 2", f"value * {i + 2}")


def _config(tmp_path, *repos, **overrides) -> MineConfig:
    return MineConfig(repos=[str(r) for r in repos], out=str(tmp_path / "out"), progress=False, **overrides)


def _linear(path, count: int) -> RepoBuilder:
    builder = RepoBuilder(path)
    builder.commit("Initial commit", {"m.py": SIMPLE_PY})
    for i in range(1, count):
        builder.commit(f"Fix bug number {i} in the helper", {"m.py": numbered(i)})
    return builder


def test_empty_repository_is_reported_not_fatal(tmp_path):
    RepoBuilder(tmp_path / "empty")
    result = mine(_config(tmp_path, tmp_path / "empty"))
    assert result.report["repositories"]["status"] == {"empty": 1}
    assert result.rows == [] and result.report["commits"]["walked"] == 0


def test_shallow_history_stops_at_the_boundary(tmp_path):
    builder = _linear(tmp_path / "shallow", 5)
    walk = repos._walk(builder.repo, builder.repo.head.target, None, Counter())
    (builder.path / "shallow").write_text(walk[2] + "\n")  # as `git clone --depth 3` leaves it
    result = mine(_config(tmp_path, tmp_path / "shallow"))
    assert result.report["commits"]["walked"] == 3
    assert result.report["drop_reasons"] == {"shallow_boundary": 1}
    assert len(result.rows) == 2
    assert result.report["repositories"]["list"][0]["shallow"] is True


def test_missing_commit_object_ends_the_walk_and_is_counted(tmp_path):
    builder = _linear(tmp_path / "holes", 5)
    walk = repos._walk(builder.repo, builder.repo.head.target, None, Counter())
    builder.object_file(walk[1]).unlink()
    result = mine(_config(tmp_path, tmp_path / "holes"))
    notes = result.report["repositories"]["list"][0]["notes"]
    assert notes["walk_error"] == 1 and notes["missing_commit"] == 1
    # the commits above the hole are still read (history below it is unreachable); the one
    # right above it has no parent to diff against
    assert result.report["commits"]["walked"] == 3
    assert result.report["drop_reasons"] == {"missing_parent": 1}
    assert len(result.rows) == 2


def test_garbage_object_file_is_a_corrupt_blob(tmp_path):
    builder = _linear(tmp_path / "garbage", 3)
    target = builder.object_file(builder.blob_id("m.py"))
    os.chmod(target, 0o644)
    target.write_bytes(zlib.compress(b"blob 99\x00short") + b"trailing junk")
    result = mine(_config(tmp_path, tmp_path / "garbage"))
    assert result.report["drop_reasons"]["corrupt_blob"] == 1
    assert result.report["errors"] == []


def test_unreadable_head_is_reported(tmp_path):
    builder = _linear(tmp_path / "nohead", 2)
    builder.object_file(builder.head).unlink()
    result = mine(_config(tmp_path, tmp_path / "nohead"))
    assert result.report["repositories"]["status"] == {"unreadable": 1}
    assert result.report["errors"] and "nohead" in result.report["errors"][0]


def test_discovery_skips_symlinks_and_gitlinks(tmp_path):
    folder = tmp_path / "repos"
    _linear(folder / "real", 2)
    (folder / "link").symlink_to(folder / "real")
    (folder / "worktree").mkdir()
    (folder / "worktree" / ".git").write_text("gitdir: /elsewhere\n")
    (folder / "plain").mkdir()
    (folder / "notes.txt").write_text("not a repository")
    found, counts, problems = repos.discover([str(folder)])
    assert [p.parent.name for p in found] == ["real"]
    assert counts["symlink_skipped"] == 1 and counts["gitlink_skipped"] == 1 and counts["repositories"] == 1
    assert problems == []


def test_no_repository_at_all_is_a_clear_error(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="no git repository found"):
        mine(_config(tmp_path, tmp_path / "nothing"))


def test_time_budget_counts_the_skipped_commits_and_is_not_checkpointed(tmp_path):
    _linear(tmp_path / "slow", 4)
    config = _config(tmp_path, tmp_path / "slow", repo_time_budget_s=0.0)
    result = mine(config)
    assert result.report["drop_reasons"] == {"time_budget": 4}
    assert not list((tmp_path / "out" / ".cache" / "shards").glob("*.json.gz"))


def test_an_unexpected_failure_on_one_commit_is_counted(tmp_path, monkeypatch):
    _linear(tmp_path / "boom", 3)
    calls = []

    def explode(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(commits, "cut", explode)
    result = mine(_config(tmp_path, tmp_path / "boom"))
    assert result.report["drop_reasons"] == {"root_commit": 1, "internal_error": 2}
    assert len(calls) == 2
    assert "RuntimeError: parser exploded" in result.report["errors"][0]


def test_repo_names_are_readable_and_unique(tmp_path):
    taken: set[str] = set()
    first = repos.repo_name(tmp_path / "psf+requests" / "repo", taken)
    taken.add(first)
    second = repos.repo_name(tmp_path / "x" / "psf+requests" / ".git", taken)
    assert first == "psf+requests"
    assert second.startswith("psf+requests-") and second != first
    assert repos.repo_name(tmp_path / "tool.git", set()) == "tool"
