"""The whole recipe on the crafted histories: every stage count, the rows, reruns and engines."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.mining.histories import EXPECTED_DROPS, GOOD, WALKED
from themis_rm.data import read_pairs
from themis_rm.mining import mine
from themis_rm.mining.commits import STAGES
from themis_rm.mining.prompt import code_lines, leaks
from themis_rm.schema import Aspect


@pytest.fixture
def mined(make_config):
    return mine(make_config())


def _good_ids(histories) -> dict[str, str]:
    ids = {}
    for name in GOOD:
        repo, _, key = name.rpartition(":")
        ids[histories[repo or "alpha"]["ids"][key]] = name
    return ids


def test_every_stage_is_counted(mined, histories):
    report = mined.report
    assert report["commits"]["walked"] == WALKED
    assert report["drop_reasons"] == EXPECTED_DROPS
    assert report["pairs"]["kept"] == len(GOOD) == WALKED - sum(EXPECTED_DROPS.values())
    # the funnel is consistent: each stage starts where the previous one ended
    stages = report["stages"]
    assert [s["stage"] for s in stages][:len(STAGES)] == [name for name, _ in STAGES]
    assert stages[0]["in"] == WALKED and stages[-1]["out"] == len(GOOD)
    for previous, current in itertools.pairwise(stages):
        assert current["in"] == previous["out"]
        assert current["out"] == current["in"] - sum(current["dropped"].values())
    by_stage = {s["stage"]: s for s in stages}
    assert by_stage["commit"]["dropped"] == {"root_commit": 2, "merge": 1, "author_filtered": 1,
                                             "out_of_time_range": 1}
    assert by_stage["dedup"]["dropped"] == {"exact_duplicate": 1, "near_duplicate": 1}
    assert report["notes"] == {"author_decode_replaced": 1, "message_decode_replaced": 1, "multi_label": 2}
    assert report["errors"] == []
    assert report["repositories"]["status"] == {"ok": 2}
    licences = {repo["name"]: repo["license"] for repo in report["repositories"]["list"]}
    assert licences == {"alpha": "MIT", "beta": "Apache-2.0"}


def test_rows_are_the_good_commits_in_the_training_schema(mined, histories):
    expected = _good_ids(histories)
    rows = {row["commit"]: row for row in mined.rows}
    assert set(rows) == set(expected)
    for commit, name in expected.items():
        row = rows[commit]
        assert (row["aspect"], row["language"]) == GOOD[name], name
        assert row["chosen"].startswith(f"```{row['language'].lower()}\n") and row["chosen"].endswith("\n```")
        assert row["split"] == "train" and row["subset"] == "git-commits"
        assert row["matched_terms"] and row["aspects"][0] == row["aspect"]
        assert row["time"].endswith("+00:00")
        body = lambda side: side.split("\n", 1)[1].rsplit("\n", 1)[0]  # noqa: E731
        assert not leaks(row["prompt"], code_lines(body(row["chosen"]), body(row["rejected"]))), name
    security = rows[histories["alpha"]["ids"]["g_query"]]
    assert security["aspects"] == ["Security_Hardness", "Functional_Correctness"]
    assert security["matched_terms"] == ["sql injection"]
    assert security["symbol"] == "build_query" and security["window"] == "function"
    assert "WHERE name = ?" in security["chosen"] and "WHERE name = ?" not in security["rejected"]
    assert security["license"] == "MIT" and security["path"] == "a.py" and security["repo"] == "alpha"
    # what is on disk loads through the data layer, with the extra columns kept
    loaded = read_pairs(str(mined.out / "pairs.jsonl")).pairs
    assert len(loaded) == len(GOOD)
    assert {p.aspect for p in loaded} == {Aspect.parse(a) for a, _ in GOOD.values()}
    assert all(p.extra["repo"] in ("alpha", "beta") and p.extra["commit"] for p in loaded)
    assert len(read_pairs(str(mined.out / "splits" / "train.jsonl")).pairs) == len(GOOD)
    written = json.loads((mined.out / "mining_report.json").read_text())
    assert written["config"]["max_diff_lines"] == 60 and written["drop_reasons"] == EXPECTED_DROPS


def test_rerun_skips_finished_work_and_gives_the_same_rows(make_config):
    config = make_config(shard_size=8)
    first = mine(config)
    second = mine(config)
    assert first.report["commits"]["shards_from_checkpoint"] == 0
    assert second.report["commits"]["shards_from_checkpoint"] == second.report["commits"]["shards"] == 6
    assert second.rows == first.rows
    assert second.report["drop_reasons"] == first.report["drop_reasons"]
    assert second.report["commits"]["from_checkpoint"] == WALKED
    assert second.report["commits"]["extracted_now"] == 0 and second.report["commits"]["per_second"] is None
    # a change to an extraction setting invalidates the checkpoints; a split setting does not
    assert mine(make_config(shard_size=8, split="none")).report["commits"]["shards_from_checkpoint"] == 6
    assert mine(make_config(shard_size=8, max_diff_lines=61)).report["commits"]["shards_from_checkpoint"] == 0


def test_labels_all_writes_one_row_per_matched_aspect(make_config):
    result = mine(make_config(labels="all"))
    assert len(result.rows) == len(GOOD) + 2  # the two multi-label commits
    assert len({row["id"] for row in result.rows}) == len(result.rows)
    per_commit = {}
    for row in result.rows:
        per_commit.setdefault(row["commit"], []).append(row["aspect"])
    assert sorted(len(v) for v in per_commit.values()) == [1] * (len(GOOD) - 2) + [2, 2]


def test_licence_allowlist_skips_whole_repositories(make_config):
    result = mine(make_config(licenses=["MIT"]))
    assert result.report["repositories"]["status"] == {"ok": 1, "license_not_allowed": 1}
    assert {row["repo"] for row in result.rows} == {"alpha"}
    assert result.report["commits"]["walked"] == 37


def test_time_windows_split_by_commit_time(make_config, histories):
    # alpha's good commits fall in Aug-Sep 2017; beta's in early 2018
    result = mine(make_config(time_split=["train=..2017-12", "benchmark=2018-01-15.."]))
    splits = {row["repo"]: set() for row in result.rows}
    for row in result.rows:
        splits[row["repo"]].add(row["split"])
    assert splits == {"alpha": {"train"}, "beta": {"benchmark"}}
    gap = mine(make_config(time_split=["train=..2017-08-15", "benchmark=2018-02-03.."]))
    for row in gap.rows:
        expected = "train" if row["time"] < "2017-08-15" else "benchmark" if row["time"] >= "2018-02-03" else "gap"
        assert row["split"] == expected, row["time"]
    assert set(gap.report["pairs"]["by_split"]) == {"train", "gap", "benchmark"}
    assert sum(gap.report["pairs"]["by_split"].values()) == len(GOOD)  # nothing is lost in the gap


def test_repository_split_is_disjoint_and_seeded(make_config):
    config = dict(split_fractions=["train=0.5", "benchmark=0.5"])
    first = mine(make_config(seed=0, **config)).report["pairs"]["repo_splits"]
    again = mine(make_config(seed=0, **config)).report["pairs"]["repo_splits"]
    assert first == again and set(first.values()) == {"train", "benchmark"}
    both = mine(make_config(split="repo+time", time_split=["train=..2017-12", "benchmark=2018-01-15.."], **config))
    for row in both.rows:
        assert row["split"] in (both.report["pairs"]["repo_splits"][row["repo"]], "gap")


def test_process_pool_gives_the_same_rows_as_one_process(make_config):
    inline = mine(make_config(shard_size=10))
    pooled = mine(make_config(shard_size=10, workers=2, out=str(inline.out) + "-pool"))
    assert pooled.rows == inline.rows
    assert pooled.report["drop_reasons"] == inline.report["drop_reasons"]


def test_ray_engine_on_a_local_single_node(make_config, tmp_path):
    ray = pytest.importorskip("ray")
    config = make_config(shard_size=10, engine="ray", workers=1, out=str(tmp_path / "ray"))
    try:
        result = mine(config)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert not ray.is_initialized()  # the pipeline started Ray, so it stopped it
    assert result.report["drop_reasons"] == EXPECTED_DROPS
    assert len(result.rows) == len(GOOD)


def test_parquet_output(make_config):
    result = mine(make_config(format="parquet"))
    loaded = read_pairs(str(result.out / "pairs.parquet")).pairs
    assert len(loaded) == len(GOOD)


def test_terms_file_replaces_the_lists(make_config, tmp_path):
    terms = tmp_path / "terms.yaml"
    terms.write_text("security: ['sql injection', 'buffer overflow']\n")
    result = mine(make_config(terms=str(terms)))
    assert {row["aspect"] for row in result.rows} == {"Security_Hardness"}
    assert len(result.rows) == 2


def test_decontamination_against_a_benchmark_file(make_config, tmp_path):
    bench = tmp_path / "bench.jsonl"
    # the same function as the security fix in alpha, formatted differently
    query = 'def build_query(table,name):\n  query="SELECT * FROM "+table+" WHERE name = ?"\n  return query,(name,)\n'
    bench.write_text(json.dumps({"prompt": "p", "chosen": query, "rejected": "x"}) + "\n")
    result = mine(make_config(decontam=[str(bench)]))
    assert result.report["drop_reasons"]["contaminated"] == 1
    assert all(row["symbol"] != "build_query" for row in result.rows)
