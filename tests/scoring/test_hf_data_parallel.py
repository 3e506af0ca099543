"""Data-parallel scoring: two ranks (as `accelerate launch` starts them) merge into one run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from themis_rm.scoring.distributed import Shard

pytest.importorskip("torch")


def test_shard_from_env_and_take():
    shard = Shard.from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"})
    assert shard.active and not shard.is_main
    assert shard.take(list(range(8))) == [1, 4, 7]
    assert Shard.from_env({}) == Shard(0, 1, 0)
    with pytest.raises(ValueError):
        Shard.from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_two_ranks_score_disjoint_shares_and_merge(tmp_path, tiny_seq_cls):
    import pandas as pd

    from tests.scoring.hf_support import reference_scores, requests_for_tests, write_pairs
    from themis_rm.schema import ScoreRequest

    data = tmp_path / "pairs.jsonl"
    requests = [ScoreRequest(None, "Write some code.", r.response) for r in requests_for_tests()]
    write_pairs(data, requests)
    command = ["eval", "--data", data, "--scorer", f"hf:{tiny_seq_cls}", "--no-progress", "--chunk-size", "3",
               "--resamples", "20", "--dtype", "float32", "--out", tmp_path / "parallel"]
    # torchrun is what `accelerate launch` runs underneath: it ends the group if a rank fails
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([*launcher, "-m", "themis_rm", *map(str, command)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    merged = pd.read_parquet(tmp_path / "parallel" / "scores.parquet")
    expected = dict(zip((r.response for r in requests), reference_scores(tiny_seq_cls, requests)))
    rows = {json.loads(line)["id"]: json.loads(line) for line in data.read_text().splitlines()}
    for row_id, row in merged.iterrows():
        for side in ("chosen", "rejected"):
            assert abs(row[f"{side}_score"] - expected[rows[row_id][side]]) < 1e-4, (row_id, side)
    assert set(merged.index) == set(rows)

    manifest = json.loads((tmp_path / "parallel" / "results.json").read_text())["manifest"]
    parallel = manifest["data_parallel"]
    assert parallel["world_size"] == 2
    scored = [r["engine"]["requests_scored"] for r in parallel["ranks"]]
    assert all(n > 0 for n in scored) and sum(scored) == manifest["engine"]["requests_unique"]
    assert [r["scorer_stats"]["rank"] for r in parallel["ranks"]] == [0, 1]


def test_parallel_run_needs_an_out_folder(tmp_path, monkeypatch):
    from themis_rm.evaluation.run import EvalConfig, evaluate

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="--out"):
        evaluate(EvalConfig(scorer="length", progress=False))
