"""The judge scorer end to end against a scripted loopback server: each protocol, the flags, the cache."""

from __future__ import annotations

import math

import pytest

from tests.llm.openai_server import OpenAIServer, Reply, completion
from tests.scoring.judge.scripted import judge, too_long, yes_no_reply
from themis_rm.criteria import CriteriaTexts
from themis_rm.schema import Aspect, Language, PairRequest, ScoreRequest
from themis_rm.scoring import Scored, ScorerError, load_scorer
from themis_rm.scoring.cache import ScoreCache
from themis_rm.scoring.engine import ScoringEngine
from themis_rm.scoring.judge import JudgePairScorer, JudgeScorer, JudgeServerError, reparse

FAST = {"concurrency": 4, "timeout": 5.0}
CRITERIA = CriteriaTexts()


def req(response: str, mode: str = "aspect", aspect: Aspect = Aspect.RUNTIME_EFFICIENCY) -> ScoreRequest:
    return ScoreRequest(
        system=CRITERIA.system_prompt(mode, aspect),
        prompt="Sum a list of integers.",
        response=response,
        aspect=aspect,
        language=Language.PYTHON,
        mode=mode,
    )


def pair(chosen: str, rejected: str) -> PairRequest:
    return PairRequest(
        system=None, prompt="Sum a list.", chosen=chosen, rejected=rejected,
        aspect=Aspect.FUNCTIONAL_CORRECTNESS, language=Language.GO, mode="none",
    )


RATINGS = {
    "GOOD": "Correct and fast.\nScore: 9",
    "BAD": 'Quadratic.\n{"score": 2}',
    "GARBLE": "hmm, hard to say",
    "REFUSE": "I'm sorry, but I can't evaluate this.",
    "TRUNC": Reply(body=completion("The code is", finish_reason="length")),
    "LONG": too_long(),
}


def rate(slots, body):
    text = slots["response"]
    if text == "NOISY":
        return {0: "Score: 6", 1: "no idea", 2: "8/10"}[body["seed"] - 10]
    return RATINGS[text]


def score(server: OpenAIServer, responses, **options):
    scorer = load_scorer(f"judge:tiny@{server.url}", {**FAST, **options})
    try:
        return scorer.score([req(r) for r in responses]), scorer
    finally:
        scorer.close()


def test_rating_scores_and_flags_each_kind_of_answer():
    with OpenAIServer(judge(rate)) as server:
        results, scorer = score(server, ["GOOD", "BAD", "GARBLE", "REFUSE", "TRUNC", "LONG"])
    values = [r.value for r in results]
    assert values[:2] == [9.0, 2.0] and all(math.isnan(v) for v in values[2:])
    flags = [r.detail["flags"] for r in results]
    assert flags == [
        {},
        {},
        {"parse_failed": True},
        {"parse_failed": True, "refusal": True},
        {"parse_failed": True, "truncated": True},
        {"dropped": True, "too_long": True},
    ]
    good = results[0].detail
    assert good["protocol"] == "rating" and good["params"] == {"scale": [1.0, 10.0]}
    assert good["views"]["response"][0]["raw"] == RATINGS["GOOD"]
    assert good["views"]["response"][0]["parse_path"] == "label"
    assert results[1].detail["views"]["response"][0]["parse_path"] == "json"
    assert scorer.stats()["judge_flags"] == {"parse_failed": 3, "refusal": 1, "truncated": 1, "dropped": 1, "too_long": 1}


def test_samples_average_the_valid_ones_and_count_the_failed():
    with OpenAIServer(judge(rate)) as server:
        (result,), _ = score(server, ["NOISY"], samples=3, temperature=0.7, judge_seed=10)
        seeds = sorted(b["seed"] for b in server.bodies)
        assert {b["temperature"] for b in server.bodies} == {0.7}
    assert seeds == [10, 11, 12]
    assert result.value == 7.0 and result.detail["failed_samples"] == 1 and result.detail["flags"] == {}


def test_request_body_and_prompt_follow_mode_and_aspect():
    with OpenAIServer(judge(rate)) as server:
        scorer = load_scorer(f"judge:tiny@{server.url}", {**FAST, "max_tokens": 77})
        scorer.score([req("GOOD", "aspect"), req("BAD", "full"), req("GOOD", "none")])
        scorer.close()
    by_response = {}
    for body in server.bodies:
        assert body["model"] == "tiny" and body["max_tokens"] == 77 and body["temperature"] == 0.0
        assert body["messages"][0]["role"] == "system"
        user = body["messages"][1]["content"]
        by_response.setdefault("BAD" if "BAD" in user else "GOOD", []).append(user)
    aspect_prompt, none_prompt = sorted(by_response["GOOD"], key=len, reverse=True)
    (full_prompt,) = by_response["BAD"]
    assert "runtime efficiency: does the code avoid needless work" in aspect_prompt
    assert CRITERIA.aspects[Aspect.RUNTIME_EFFICIENCY] in aspect_prompt
    assert CRITERIA.aspects[Aspect.SECURITY_HARDNESS] in full_prompt and "Weigh every criterion" in full_prompt
    assert "runtime" not in none_prompt.lower() and "Judge the response as a whole" in none_prompt
    assert '<response (language: Python)>' in none_prompt
    assert "Sum a list of integers." in none_prompt


YES_NO = {
    "GOOD": yes_no_reply({"Yes": -0.2, "No": -1.7}),
    "BAD": yes_no_reply({"No": -0.1, " no": -3.0, "Maybe": -6.0}),
    "ODD": yes_no_reply({"Maybe": -0.1, "Unsure": -2.0}),
}


def test_yesno_reads_log_probabilities():
    with OpenAIServer(judge(lambda slots, body: YES_NO[slots["response"]])) as server:
        results, _ = score(server, ["GOOD", "BAD", "ODD"], judge_protocol="yesno")
        body = server.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 4
    good, bad, odd = results
    assert good.value == pytest.approx(1.5) and good.detail["flags"] == {}
    assert bad.value == pytest.approx(-6.0 - math.log(math.exp(-0.1) + math.exp(-3.0)))
    assert bad.detail["flags"] == {"logprob_floor": True}
    assert math.isnan(odd.value) and odd.detail["flags"] == {"parse_failed": True}


def test_yesno_against_a_server_without_logprobs_stops_with_a_clear_error():
    with OpenAIServer(judge(lambda slots, body: "Yes")) as server, pytest.raises(
        JudgeServerError, match="sent no log-probabilities"
    ):
        score(server, ["GOOD"], judge_protocol="yesno")


def verdicts(slots, body):
    """The judge always prefers 'fast', except the scripted quirks."""
    a, b = slots["response_A"], slots["response_B"]
    if "first" in (a, b):
        return "Winner: A"  # always the first position: position bias
    if "garble" in (a, b):
        return "Winner: A" if a == "garble" else "no idea"
    if "even" in (a, b):
        return "Winner: tie"
    return "Winner: A" if a == "fast" else "Winner: B"


def test_pairwise_asks_both_orders_and_keeps_only_agreeing_preferences():
    with OpenAIServer(judge(verdicts)) as server:
        scorer = load_scorer(f"judge:tiny@{server.url}", {**FAST, "judge_protocol": "pairwise"})
        assert isinstance(scorer, JudgePairScorer)
        results = scorer.compare(
            [pair("fast", "slow"), pair("slow", "fast"), pair("first", "x"), pair("garble", "x"), pair("even", "x")]
        )
        scorer.close()
        assert server.calls == 10
    values = [(c.value, r.value) for c, r in results]
    assert values[:3] == [(1.0, 0.0), (0.0, 1.0), (0.5, 0.5)]
    assert all(math.isnan(v) for v in values[3]) and values[4] == (0.5, 0.5)
    details = [c.detail for c, _ in results]
    assert [d["verdict"] for d in details] == ["chosen", "rejected", "tie", None, "tie"]
    assert details[0]["flags"] == {} and details[4]["flags"] == {}
    assert details[2]["flags"] == {"inconsistent": True, "position_bias": True}
    assert details[3]["flags"] == {"parse_failed": True}
    assert details[2]["preference"] == {"chosen_first": 1.0, "rejected_first": -1.0}
    assert all(r.detail is None for _, r in results)


def test_pairwise_samples_average_each_order_before_the_orders_are_compared():
    def noisy(slots, body):
        chosen_first = slots["response_A"] == "y"
        picks = {10: "Winner: A", 11: "Winner: A", 12: "??"} if chosen_first else {10: "Winner: B", 11: "Winner: A", 12: "Winner: B"}
        return picks[body["seed"]]

    with OpenAIServer(judge(noisy)) as server:
        scorer = load_scorer(f"judge:tiny@{server.url}",
                             {**FAST, "judge_protocol": "pairwise", "samples": 3, "temperature": 0.5, "judge_seed": 10})
        ((chosen, rejected),) = scorer.compare([pair("y", "x")])
        scorer.close()
        assert server.calls == 6
    assert (chosen.value, rejected.value) == (1.0, 0.0)
    assert chosen.detail["preference"] == {"chosen_first": 1.0, "rejected_first": pytest.approx(1 / 3)}
    assert chosen.detail["failed_samples"] == 1 and chosen.detail["flags"] == {}


def test_pairwise_one_sided_tie_is_inconsistent_without_position_bias():
    def half(slots, body):
        return "Winner: tie" if slots["response_A"] == "x" else "Winner: A"

    with OpenAIServer(judge(half)) as server:
        scorer = JudgeScorer.from_spec(f"tiny@{server.url}", {**FAST, "judge_protocol": "pairwise"})
        ((chosen, rejected),) = scorer.compare([pair("y", "x")])
        scorer.close()
    assert (chosen.value, rejected.value) == (0.5, 0.5)
    assert chosen.detail["flags"] == {"inconsistent": True}


@pytest.mark.parametrize("protocol", ["rating", "yesno", "pairwise"])
def test_reparse_reproduces_live_scores_after_a_json_round_trip(protocol, tmp_path):
    handler = {
        "rating": judge(rate),
        "yesno": judge(lambda slots, body: YES_NO[slots["response"]]),
        "pairwise": judge(verdicts),
    }[protocol]
    with OpenAIServer(handler) as server:
        scorer = load_scorer(f"judge:tiny@{server.url}", {**FAST, "judge_protocol": protocol})
        if protocol == "pairwise":
            live = scorer.compare([pair("fast", "slow"), pair("first", "x"), pair("garble", "x")])
            stored = [c.detail for c, _ in live]
        else:
            names = ["GOOD", "BAD", "GARBLE", "REFUSE"] if protocol == "rating" else ["GOOD", "BAD", "ODD"]
            live = scorer.score([req(n) for n in names])
            stored = [s.detail for s in live]
        scorer.close()
    cache = ScoreCache(tmp_path / "c.sqlite")  # details go through JSON, as in details.jsonl.gz
    cache.put_many({str(i): Scored(0.0, d) for i, d in enumerate(stored)})
    restored = [cache.get_many([str(i)])[str(i)].detail for i in range(len(stored))]
    again = [reparse(d) for d in restored]
    assert repr(again) == repr(live)


def test_engine_caches_judge_scores_and_pairs(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    with OpenAIServer(judge(rate)) as server:  # the request store shares the score cache's file
        scorer = load_scorer(f"judge:tiny@{server.url}", {**FAST, "request_cache": str(tmp_path / "scores.sqlite")})
        engine = ScoringEngine(scorer, cache, show_progress=False)
        first, stats = engine.run([req("GOOD"), req("BAD"), req("GOOD"), req("GARBLE")])
        calls = server.calls
        second, again = engine.run([req("GOOD"), req("BAD"), req("GARBLE")])
        scorer.close()
    assert calls == 3 and server.calls == 3 and again.requests_from_cache == 3
    assert [s.value for s in second] == [9.0, 2.0, first[3].value] and math.isnan(second[2].value)
    assert second[2].detail["flags"] == {"parse_failed": True}
    assert stats.extra["tokens"] > 0 and stats.extra["judged"] == 3

    with OpenAIServer(judge(verdicts)) as server:
        pairwise = load_scorer(f"judge:tiny@{server.url}", {**FAST, "judge_protocol": "pairwise"})
        results, _ = ScoringEngine(pairwise, cache, show_progress=False).run([pair("fast", "slow")] * 2)
        cached, _ = ScoringEngine(pairwise, cache, show_progress=False).run([pair("fast", "slow")])
        pairwise.close()
        assert server.calls == 2
    assert results[0][0].value == cached[0][0].value == 1.0
    assert cached[0][0].detail["verdict"] == "chosen"


def test_request_cache_resumes_an_interrupted_chunk(tmp_path):
    alive = {"left": 3}

    def dies(slots, body):
        alive["left"] -= 1
        return rate(slots, body) if alive["left"] >= 0 else Reply(503, {"error": {"message": "gone"}})

    options = {**FAST, "concurrency": 1, "request_cache": str(tmp_path / "scores.sqlite")}
    requests = [req(r) for r in ["GOOD", "BAD", "GARBLE", "REFUSE", "GOOD"]]
    with OpenAIServer(judge(dies)) as server:
        scorer = JudgeScorer("tiny", server.url, max_retries=0, **options)
        with pytest.raises(JudgeServerError, match="Rerunning"):
            scorer.score(requests)
        scorer.close()
    with OpenAIServer(judge(rate)) as server:
        scorer = load_scorer(f"judge:tiny@{server.url}", options)
        resumed = scorer.score(requests)
        assert server.calls == 1 and scorer.stats()["requests_from_store"] == 4
        scorer.close()
    with OpenAIServer(judge(rate)) as server:
        fresh = load_scorer(f"judge:tiny@{server.url}", FAST)
        assert repr(fresh.score(requests)) == repr(resumed)
        fresh.close()


def test_dead_server_stops_the_run_with_one_clear_message():
    server = OpenAIServer(judge(rate)).start()
    server.stop()
    scorer = load_scorer(f"judge:tiny@{server.url}", FAST)
    with pytest.raises(JudgeServerError, match=r"is not answering .* rerunning the same command resumes"):
        scorer.score([req("GOOD")] * 40)
    scorer.close()


def test_api_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("THEMIS_TEST_KEY", "k-123")
    with OpenAIServer(judge(rate), api_key="k-123") as server:
        (result,), _ = score(server, ["GOOD"], api_key_env="THEMIS_TEST_KEY")
        scorer = load_scorer(f"judge:tiny@{server.url}#THEMIS_TEST_KEY", FAST)
        assert scorer.score([req("BAD")])[0].value == 2.0
        scorer.close()
        keyless = load_scorer(f"judge:tiny@{server.url}", FAST)
        with pytest.raises(JudgeServerError, match="401"):
            keyless.score([req("GOOD")])
        keyless.close()
    assert result.value == 9.0
    with pytest.raises(ScorerError, match=r"THEMIS_MISSING_KEY .* is not set"):
        load_scorer("judge:m@http://127.0.0.1:1/v1#THEMIS_MISSING_KEY")


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("judge:model-without-url", {}, "judge:<model>@<base_url>"),
        ("judge:m@http://127.0.0.1:1/v1", {"judge_protocol": "vibes"}, "unknown judge protocol 'vibes'"),
        ("judge:m@http://127.0.0.1:1/v1", {"samples": 2}, "needs --temperature > 0"),
        ("judge:m@http://127.0.0.1:1/v1", {"concurrency": 0}, "--concurrency must be >= 1"),
        ("judge:m@http://127.0.0.1:1/v1", {"temperature": "warm"}, "--temperature must be a float"),
        ("judge:m@http://127.0.0.1:1/v1", {"batch_size": 4}, "--batch-size does not apply"),
    ],
)
def test_bad_specs_and_options_are_refused_clearly(spec, options, message):
    with pytest.raises(ScorerError, match=message):
        load_scorer(spec, options)


def test_fingerprint_tracks_what_changes_answers_only():
    base = load_scorer("judge:m@http://127.0.0.1:1/v1").fingerprint()
    assert load_scorer("judge:m@http://127.0.0.1:2", {"concurrency": 3, "timeout": 9.0}).fingerprint() == base
    for options in ({"temperature": 0.5}, {"judge_seed": 1}, {"max_tokens": 9}, {"judge_protocol": "yesno"}):
        assert load_scorer("judge:m@http://127.0.0.1:1/v1", options).fingerprint() != base
    assert load_scorer("judge:other@http://127.0.0.1:1/v1").fingerprint() != base


def test_judge_reports_progress_within_a_chunk_as_answers_arrive():
    heard: list[int] = []
    with OpenAIServer(judge(verdicts)) as server:
        scorer = load_scorer(f"judge:tiny@{server.url}", {**FAST, "judge_protocol": "pairwise"})
        scorer.progress = heard.append  # what the engine sets while its progress bar is shown
        scorer.compare([pair("fast", "slow"), pair("slow", "fast"), pair("first", "x")])
        scorer.close()
    # six calls (two orders per pair) for three requests: each answer moves the count by a half
    assert len(heard) == 6 and heard == sorted(heard) and heard[-1] == 3
