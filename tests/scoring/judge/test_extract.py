"""Every rule of each extraction cascade, what it records, and the log-prob edge cases."""

from __future__ import annotations

import math

import pytest

from themis_rm.scoring.judge.extract import is_refusal, read_score, read_verdict, read_yes_no, yes_no_word


@pytest.mark.parametrize(
    ("text", "value", "path"),
    [
        ('Looks fine.\n{"score": 8, "reason": "ok"}', 8.0, "json"),
        ('```json\n{"Rating": "6"}\n```', 6.0, "json"),
        ("The code has one bug.\nScore: 4", 4.0, "label"),
        ("**Score:** 9.5", 9.5, "label"),
        ("Overall my rating is 3.", 3.0, "label"),
        ("I would give this a solid 7/10.", 7.0, "fraction"),
        ("That earns it 6 out of 10 overall", 6.0, "fraction"),
        ("Final: $\\boxed{5}$", 5.0, "boxed"),
        ("Mostly right, but slow. 2", 2.0, "last_number"),
    ],
)
def test_each_score_rule(text, value, path):
    found = read_score(text, 1, 10)
    assert (found.value, found.path) == (value, path)


def test_score_trace_records_what_earlier_rules_saw():
    found = read_score('{"score": 12}\nScore: 11\nso 7/10', 1, 10)
    assert found.value == 7.0 and found.path == "fraction"
    assert found.trace == ("json: 12 outside 1..10", "label: 11 outside 1..10")


def test_last_number_ignores_code_and_takes_only_the_very_last_number():
    assert read_score("Use this:\n```python\nx = 5\n```\nno score given", 1, 10).ok is False
    found = read_score("It has 3 bugs and 40 lines", 1, 10)
    assert found.value is None and found.trace[-1] == "last_number: 40 outside 1..10"


def test_no_score_is_a_failure_with_every_rule_traced():
    found = read_score("I am not sure what to say.", 1, 10)
    assert found.value is None and found.path is None
    assert [t.split(":")[0] for t in found.trace] == ["json", "label", "fraction", "boxed", "last_number"]


def test_reasoning_is_dropped_and_an_unclosed_block_is_no_answer():
    assert read_score("<think>maybe 2? Score: 2</think>\nScore: 9", 1, 10).value == 9.0
    found = read_score("<think>Score: 2 would be harsh, let me", 1, 10)
    assert found.value is None and found.trace[0] == "think: reasoning never closed"


@pytest.mark.parametrize(
    ("text", "value", "path"),
    [
        ('{"winner": "Response B"}', "B", "json"),
        ("A handles empty input.\nWinner: A", "A", "label"),
        ("**Verdict**: [B]", "B", "label"),
        ("Winner: tie", "tie", "label"),
        ("My final verdict is [[B]]", "B", "brackets"),
        ("\\boxed{A}", "A", "boxed"),
        ("Overall, Response B is clearly better.", "B", "phrase"),
        ("I prefer assistant A here.", "A", "phrase"),
    ],
)
def test_each_verdict_rule(text, value, path):
    found = read_verdict(text)
    assert (found.value, found.path) == (value, path)


def test_verdict_does_not_read_the_article_a():
    assert read_verdict("Winner: a close call, I cannot decide").value is None
    assert read_verdict("This is a fine answer and a good one").value is None


def test_refusals():
    assert is_refusal("I'm sorry, but I can't evaluate this code.")
    assert is_refusal("As an AI, I cannot judge security matters.")
    assert not is_refusal("The code is sorry-looking but works. Score: 4")


def test_yes_no_words():
    assert [yes_no_word(t) for t in ("Yes", " yes", "YES", "\u2581Yes", "**No", "No.", "Yesterday", "N")] == [
        "yes", "yes", "yes", "yes", "no", "no", None, None,
    ]


def lp(token, logprob, **top):
    return [token, logprob, [[t.replace("_", " "), v] for t, v in top.items()]]


def test_yes_no_margin_pools_spellings():
    found = read_yes_no([lp("Yes", -0.5, Yes=-0.5, _yes=-2.0, No=-1.5, Maybe=-4.0)])
    assert found.path == "logprobs_sampled" and found.floored is None
    assert found.value == pytest.approx(math.log(math.exp(-0.5) + math.exp(-2.0)) + 1.5)


def test_yes_no_missing_side_takes_the_floor():
    found = read_yes_no([lp("No", -0.1, No=-0.1, Nope=-3.0, Never=-7.5)])
    assert found.value == pytest.approx(-7.5 - -0.1) and found.floored == "yes"


def test_yes_no_finds_the_answer_token_after_preamble_tokens():
    positions = [lp("**", -0.2, **{"**": -0.2, "The": -2.0}), lp("Yes", -0.3, Yes=-0.3, No=-1.3)]
    found = read_yes_no(positions)
    assert found.value == pytest.approx(1.0) and found.trace == ("position 1",)


def test_yes_no_falls_back_to_alternatives_when_no_word_was_sampled():
    found = read_yes_no([lp("Sure", -0.2, Sure=-0.2, Yes=-2.0, No=-3.0)])
    assert found.path == "logprobs_alternatives" and found.value == pytest.approx(1.0)


def test_yes_no_failures():
    assert read_yes_no(None).value is None
    assert read_yes_no([]).value is None
    found = read_yes_no([lp("Maybe", -0.1, Maybe=-0.1, Perhaps=-2.0)])
    assert found.value is None and "no yes/no token" in found.trace[0]
    assert read_yes_no([lp("Yes", float("-inf"), Yes=float("-inf"))]).value is None
