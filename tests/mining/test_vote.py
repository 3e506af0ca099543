"""LLM A/B votes and the LLM prompt writer, against fake clients."""

from __future__ import annotations

import asyncio
import re

import pytest

from themis_rm.mining import mine
from themis_rm.mining.vote import Cache, Verdict, VotePair, chosen_first, parse_verdict, vote_pairs
from themis_rm.schema import Aspect


class Judge:
    """A fake judge that prefers the response containing `good`, and can fail on demand."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False, reply: str | None = None) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.reply = reply

    async def chat(self, messages, **params):
        self.calls.append(messages)
        if self.always_fail or len(self.calls) <= self.fail_first:
            raise ConnectionError("server down")
        if self.reply is not None:
            return self.reply
        text = messages[-1]["content"]
        a = text.split("Response A:\n", 1)[1].split("Response B:\n", 1)[0]
        return "Reasoning...\nAnswer: A" if "good" in a else "Answer: B"


PAIRS = [VotePair(f"p{i}", "Do it", f"good {i}", f"bad {i}", Aspect.RUNTIME_EFFICIENCY) for i in range(6)]


def run(pairs, judge, cache, **kwargs):
    options = dict(n=3, retries=1, seed=0, model="fake")
    options.update(kwargs)
    return asyncio.run(vote_pairs(pairs, judge, cache, **options))


@pytest.mark.parametrize("reply, letter", [("Answer: B", "B"), ("**Answer:** A", "A"), ("A", "A"),
                                           ("I think B is better. Verdict: (A)", "A"), ("Both are fine.", None)])
def test_parse_verdict(reply, letter):
    assert parse_verdict(reply) == letter


def test_order_is_randomised_per_vote_and_reproducible():
    orders = [chosen_first(0, f"p{i}", v) for i in range(20) for v in range(3)]
    assert 10 < sum(orders) < 50
    assert orders == [chosen_first(0, f"p{i}", v) for i in range(20) for v in range(3)]


def test_votes_agree_with_a_judge_that_sees_the_better_side(tmp_path):
    judge = Judge()
    cache = Cache(tmp_path / "c.sqlite")
    verdicts, stats = run(PAIRS, judge, cache)
    assert all(v == Verdict(3, 0, 0, 0) for v in verdicts.values())
    assert len(judge.calls) == 18 and stats.counts["vote_calls"] == 18
    shown_first = [re.search(r"Response A:\n(\w+)", c[-1]["content"]).group(1) for c in judge.calls]
    assert {"good", "bad"} == set(shown_first)  # both positions were used
    again, stats = run(PAIRS, judge, cache)  # everything from the cache
    assert again == verdicts and len(judge.calls) == 18 and stats.counts["vote_cached"] == 18


def test_failed_calls_are_retried_and_counted(tmp_path):
    judge = Judge(fail_first=2)
    verdicts, stats = run(PAIRS[:1], judge, Cache(tmp_path / "c.sqlite"), retries=2)
    assert verdicts["p0"] == Verdict(3, 0, 0, 0)
    assert stats.counts["vote_call_errors"] == 2 and stats.counts["vote_retries"] == 2
    assert stats.counts["vote_error_ConnectionError"] == 2 and "vote_failed" not in stats.counts


def test_votes_that_keep_failing_leave_the_pair_undecided_and_uncached(tmp_path):
    cache = Cache(tmp_path / "c.sqlite")
    verdicts, stats = run(PAIRS[:1], Judge(always_fail=True), cache, retries=1)
    assert verdicts["p0"] == Verdict(0, 0, 0, 3)
    assert verdicts["p0"].decision(2) == "vote_failed"
    assert stats.counts["vote_failed"] == 3 and stats.counts["vote_calls"] == 6
    verdicts, _ = run(PAIRS[:1], Judge(), cache)  # the next run asks again
    assert verdicts["p0"].decision(2) == "keep"


def test_unparseable_replies_count_against_and_are_cached(tmp_path):
    cache = Cache(tmp_path / "c.sqlite")
    verdicts, stats = run(PAIRS[:1], Judge(reply="no idea"), cache)
    assert verdicts["p0"] == Verdict(0, 0, 3, 0) and verdicts["p0"].decision(2) == "vote_rejected"
    assert stats.counts["vote_parse_failures"] == 3
    judge = Judge()
    run(PAIRS[:1], judge, cache)
    assert judge.calls == []


def test_decisions():
    assert Verdict(2, 1, 0, 0).decision(2) == "keep"
    assert Verdict(1, 2, 0, 0).decision(2) == "vote_rejected"
    assert Verdict(1, 1, 0, 1).decision(2) == "vote_failed"


def test_pipeline_vote_drops_pairs_the_judge_rejects(make_config):
    class FollowsCommit(Judge):
        def __init__(self, good_sides):
            super().__init__()
            self.good_sides = good_sides

        async def chat(self, messages, **params):
            self.calls.append(messages)
            text = messages[-1]["content"]
            a = text.split("Response A:\n", 1)[1].split("\n\nResponse B:\n", 1)[0]
            after_first = a in self.good_sides
            if "wanted_set" in text:  # the judge disagrees with the commit on the lookup pair
                after_first = not after_first
            return "Answer: A" if after_first else "Answer: B"

    baseline = mine(make_config())
    judge = FollowsCommit({row["chosen"] for row in baseline.rows})
    voted = mine(make_config(vote=True, vote_n=3, vote_k=2, out=str(baseline.out) + "-vote"), client=judge)
    assert voted.report["drop_reasons"]["vote_rejected"] == 1
    assert len(voted.rows) == len(baseline.rows) - 1
    assert all(row["votes_agree"] == 3 and row["votes_total"] == 3 for row in voted.rows)
    assert voted.report["llm"]["vote_calls"] == 3 * len(baseline.rows)


def test_pipeline_llm_prompt_replaces_the_offline_prompt(make_config):
    class Writer:
        def __init__(self):
            self.calls = 0

        async def chat(self, messages, **params):
            self.calls += 1
            user = messages[-1]["content"]
            if "`a.py`" in user and "lookup" in user:
                return "Replace the loop with wanted_set = set(wanted)"  # quotes code: must fall back
            return "Rewrite the code so that it does what the commit message says."

    writer = Writer()
    result = mine(make_config(prompt="llm"), client=writer)
    prompts = {row["symbol"]: row["prompt"] for row in result.rows}
    assert prompts["build_query"] == "Rewrite the code so that it does what the commit message says."
    assert prompts["lookup"].startswith("Make the following change")  # the offline prompt was kept
    assert result.report["llm"]["prompt_fallback_leak_or_empty"] == 1
    assert result.report["llm"]["prompt_written"] == len(result.rows) - 1
    calls = writer.calls
    mine(make_config(prompt="llm"), client=writer)
    assert writer.calls == calls  # answers come from the cache


def test_llm_steps_need_an_endpoint(make_config):
    with pytest.raises(ValueError, match="--llm-base-url"):
        mine(make_config(vote=True))
