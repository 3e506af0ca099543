import math

import pytest

from themis_rm.schema import PairRequest, ScoreRequest
from themis_rm.scoring.base import PairwiseScorer, PointwiseScorer, Scored
from themis_rm.scoring.cache import ScoreCache
from themis_rm.scoring.engine import ScoringEngine


class CountingScorer(PointwiseScorer):
    name = "counting"

    def __init__(self):
        self.seen: list[str] = []
        self.chunks: list[int] = []

    def score(self, requests):
        self.chunks.append(len(requests))
        self.seen.extend(r.response for r in requests)
        return [Scored(float(len(r.response)) if r.response != "fail" else math.nan,
                       {"flags": {"parse_failed": r.response == "fail"}}) for r in requests]


def requests():
    texts = ["aaaa", "b", "cc", "aaaa", "ddd", "b", "fail"]
    return [ScoreRequest(None, "p", t) for t in texts]


def test_duplicates_are_scored_once_and_sorted_by_cost():
    scorer = CountingScorer()
    results, stats = ScoringEngine(scorer, show_progress=False, chunk_size=2).run(requests())
    assert [r.value for r in results][:6] == [4, 1, 2, 4, 3, 1]
    assert math.isnan(results[6].value)
    assert sorted(scorer.seen) == sorted(set(scorer.seen)) and len(scorer.seen) == 5
    assert scorer.seen == sorted(scorer.seen, key=len)
    assert scorer.chunks == [2, 2, 1]
    assert (stats.requests_total, stats.requests_unique, stats.requests_scored) == (7, 5, 5)


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_chunk_size_does_not_change_scores(chunk):
    plain, _ = ScoringEngine(CountingScorer(), show_progress=False, chunk_size=1000).run(requests())
    other, _ = ScoringEngine(CountingScorer(), show_progress=False, chunk_size=chunk).run(requests())
    assert [r.value for r in plain][:6] == [r.value for r in other][:6]


def test_cache_serves_second_run_and_keeps_details(tmp_path):
    cache = ScoreCache(tmp_path / "c.sqlite")
    ScoringEngine(CountingScorer(), cache, show_progress=False).run(requests())
    again = CountingScorer()
    results, stats = ScoringEngine(again, cache, show_progress=False).run(requests())
    assert again.seen == [] and stats.requests_from_cache == 5 and stats.requests_scored == 0
    assert math.isnan(results[6].value) and results[6].detail == {"flags": {"parse_failed": True}}


def test_cache_key_includes_the_scorer_fingerprint(tmp_path):
    class Other(CountingScorer):
        def fingerprint(self):
            return {"scorer": "counting", "variant": 2}

    cache = ScoreCache(tmp_path / "c.sqlite")
    ScoringEngine(CountingScorer(), cache, show_progress=False).run(requests())
    other = Other()
    ScoringEngine(other, cache, show_progress=False).run(requests())
    assert len(other.seen) == 5


def test_context_fields_enter_the_key_only_when_declared():
    from themis_rm.schema import Aspect

    class AspectAware(CountingScorer):
        context_fields = frozenset({"aspect"})

    same_text = [ScoreRequest(None, "p", "x", Aspect.SECURITY_HARDNESS), ScoreRequest(None, "p", "x", Aspect.MEMORY_EFFICIENCY)]
    blind, aware = CountingScorer(), AspectAware()
    ScoringEngine(blind, show_progress=False).run(same_text)
    ScoringEngine(aware, show_progress=False).run(same_text)
    assert len(blind.seen) == 1 and len(aware.seen) == 2


def test_pairwise_scorers_are_cached_per_pair(tmp_path):
    class Judge(PairwiseScorer):
        name = "ab"
        calls = 0

        def compare(self, reqs):
            Judge.calls += len(reqs)
            return [(Scored(1.0), Scored(0.0, {"flags": {"inconsistent": True}})) for _ in reqs]

    pairs = [PairRequest(None, "p", "a", "b"), PairRequest(None, "p", "a", "b"), PairRequest(None, "q", "a", "b")]
    cache = ScoreCache(tmp_path / "c.sqlite")
    ScoringEngine(Judge(), cache, show_progress=False).run(pairs)
    assert Judge.calls == 2
    second, stats = ScoringEngine(Judge(), cache, show_progress=False).run(pairs)
    assert Judge.calls == 2 and stats.requests_from_cache == 2
    assert second[0][1].detail == {"flags": {"inconsistent": True}}


def test_a_scorer_returning_the_wrong_count_is_an_error():
    class Broken(PointwiseScorer):
        name = "broken"

        def score(self, reqs):
            return []

    with pytest.raises(RuntimeError, match="returned 0 scores for 1 requests"):
        ScoringEngine(Broken(), show_progress=False).run([ScoreRequest(None, "p", "x")])


class ReportingScorer(PointwiseScorer):
    """Reports progress inside each chunk, the way a remote judge does, and records the bar."""

    name = "reporting"

    def __init__(self):
        self.hooks_seen: list[bool] = []

    def score(self, requests):
        self.hooks_seen.append(self.progress is not None)
        if self.progress is not None:
            for done in (1, 1, 0, len(requests) + 5):  # repeats, going back and overshooting are ignored
                self.progress(done)
        return [Scored(float(len(r.response))) for r in requests]


def test_progress_inside_a_chunk_only_moves_forward_and_stops_at_the_chunk(monkeypatch):
    import themis_rm.scoring.engine as engine_module

    advances: list[int] = []

    class RecordingProgress:
        def __init__(self, *columns, **options):
            pass

        def start(self):
            pass

        def stop(self):
            pass

        def add_task(self, *args, **kwargs):
            return 0

        def update(self, task, advance=0, **fields):
            advances.append(advance)

    monkeypatch.setattr(engine_module, "Progress", RecordingProgress)
    scorer = ReportingScorer()
    ScoringEngine(scorer, show_progress=True, chunk_size=3).run(requests())
    assert scorer.hooks_seen == [True, True] and scorer.progress is None
    assert advances == [1, 2, 1, 1] and sum(advances) == 5  # chunks of 3 and 2 unique requests

    quiet = ReportingScorer()
    ScoringEngine(quiet, show_progress=False, chunk_size=3).run(requests())
    assert quiet.hooks_seen == [False, False]
