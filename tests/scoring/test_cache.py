"""The score cache: round trips, and data-parallel ranks opening one file at the same moment."""

from __future__ import annotations

import math
import multiprocessing

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


def _open_and_write(args: tuple[str, int]) -> str | None:
    path, rank = args
    try:
        cache = ScoreCache(path)
        cache.put_many({f"{rank}-{i}": Scored(float(i)) for i in range(50)})
        cache.close()
    except Exception as error:  # reported back to the test, which shows it
        return repr(error)
    return None


def test_ranks_opening_a_new_file_together_all_succeed(tmp_path):
    # Without retries, SQLite refuses about one open in twenty here with "database is locked"
    # (switching a new file to WAL while another connection does the same).
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        for trial in range(15):
            path = str(tmp_path / f"cache-{trial}.sqlite")
            errors = [e for e in pool.map(_open_and_write, [(path, r) for r in range(4)]) if e]
            assert not errors, errors
            cache = ScoreCache(path)
            assert len(cache) == 200
            cache.close()
