"""The score cache: round trips, and data-parallel ranks opening one file at the same moment."""

from __future__ import annotations

import math
import subprocess
import sys
import time

from themis_rm.scoring.base import Scored
from themis_rm.scoring.cache import ScoreCache


def test_round_trip_keeps_nan_and_detail(tmp_path):
    cache = ScoreCache(tmp_path / "cache.sqlite")
    cache.put_many({"a": Scored(1.5, {"raw": "x"}), "b": Scored(math.nan, None)})
    cache.close()
    again = ScoreCache(tmp_path / "cache.sqlite")
    found = again.get_many(["a", "b", "missing"])
    assert found["a"] == Scored(1.5, {"raw": "x"})
    assert math.isnan(found["b"].value) and found["b"].detail is None
    assert set(found) == {"a", "b"} and len(again) == 2
    again.close()


# Each rank waits for the go file, then opens the cache and writes 50 scores.
_RANK = """
import os, sys, time
from themis_rm.scoring.base import Scored
from themis_rm.scoring.cache import ScoreCache
path, rank, go = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.001)
cache = ScoreCache(path)
cache.put_many({f"{rank}-{i}": Scored(float(i)) for i in range(50)})
cache.close()
"""


def test_ranks_opening_a_new_file_together_all_succeed(tmp_path):
    # Without retries, SQLite refuses about one open in twenty here with "database is locked"
    # (switching a new file to WAL while another connection does the same).
    for trial in range(10):
        path, go = tmp_path / f"cache-{trial}.sqlite", tmp_path / f"go-{trial}"
        ranks = [subprocess.Popen([sys.executable, "-c", _RANK, str(path), str(rank), str(go)],
                                  stderr=subprocess.PIPE, text=True) for rank in range(4)]
        time.sleep(0.5)  # every rank imported and waiting
        go.touch()
        for process in ranks:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr[-2000:]
        cache = ScoreCache(path)
        assert len(cache) == 200
        cache.close()
