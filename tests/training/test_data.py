"""Tokenisation: exact chat-template strings, prompt masking, the length policies and their counters."""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("transformers")

from themis_rm.criteria import CriteriaSampler, CriteriaTexts, load_criteria
from themis_rm.schema import Aspect, Language, PreferencePair, ScoreRequest
from themis_rm.scoring.render import ChatRenderer
from themis_rm.training.data import ChatEncoder, TrainingDataError, draw_systems

CODE = "```python\ndef add(a, b):\n    return a + b\n```"
WORSE = "```python\ndef add(a, b):\n    return a - b\n```"


@pytest.fixture(scope="module")
def tokenizer(tiny_causal_lm):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_causal_lm)


def _pair(chosen=CODE, rejected=WORSE, prompt="Add two numbers.", aspect=Aspect.FUNCTIONAL_CORRECTNESS, **extra):
    return PreferencePair("p1", prompt, chosen, rejected, aspect, Language.PYTHON, extra=extra)


def test_rendering_is_the_chat_template_exactly(tokenizer):
    text, prompt_chars, (start, end) = ChatEncoder(tokenizer, 512, "error").render("Be strict.", "Add two numbers.", CODE)
    assert text == (
        "<|im_start|>system\nBe strict.<|im_end|>\n"
        "<|im_start|>user\nAdd two numbers.<|im_end|>\n"
        f"<|im_start|>assistant\n{CODE}<|im_end|>\n"
    )
    assert text[:prompt_chars].endswith("<|im_start|>assistant\n")
    assert text[start:end] == CODE


def test_prompt_is_masked_and_the_reply_is_labelled(tokenizer):
    encoded = ChatEncoder(tokenizer, 512, "error").encode([_pair()], [None])
    example = encoded.examples[0]
    labelled = tokenizer.decode(example.chosen[example.label_start:])
    assert labelled == CODE + "<|im_end|>\n"
    assert tokenizer.decode(example.chosen[:example.label_start]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(example.chosen) == tokenizer.apply_chat_template(
        [{"role": "user", "content": "Add two numbers."}, {"role": "assistant", "content": CODE}], tokenize=False)
    # the ids are what the hf scorer's own rendering gives the same conversation
    scored = ChatRenderer(tokenizer, max_length=512).encode([ScoreRequest(None, "Add two numbers.", CODE)])[0]
    assert scored.ids == example.chosen.tolist()


def test_truncate_response_keeps_prompt_and_end_of_turn(tokenizer):
    long = "```python\n" + "x = 1\n" * 200 + "```"
    encoder = ChatEncoder(tokenizer, 120, "truncate_response")
    encoded = encoder.encode([_pair(chosen=long, rejected=WORSE)], [None])
    example = encoded.examples[0]
    assert len(example.chosen) == 120 and example.truncated
    text = tokenizer.decode(example.chosen)
    assert text.startswith("<|im_start|>user\nAdd two numbers.<|im_end|>\n<|im_start|>assistant\n```python\nx = 1")
    assert text.endswith("<|im_end|>\n")  # the reward is still read at the end-of-turn
    assert encoded.counts["truncated_chosen"] == 1 and encoded.counts["truncated_rejected"] == 0
    assert encoded.probes == []  # a truncated side is no probe for the export check


def test_drop_and_error_policies_are_counted_or_named(tokenizer):
    long = "```python\n" + "x = 1\n" * 200 + "```"
    dropped = ChatEncoder(tokenizer, 120, "drop").encode([_pair(chosen=long), _pair()], [None, None])
    assert len(dropped.examples) == 1 and dropped.counts["dropped_over_length"] == 1
    assert dropped.examples[0].index == 1
    with pytest.raises(TrainingDataError, match=r"pair 'p1' \(stage 'code'\): chosen is \d+ tokens, over max_length 120"):
        ChatEncoder(tokenizer, 120, "error", stage="code").encode([_pair(chosen=long)], [None])


def test_prompt_longer_than_the_budget_is_dropped_and_counted(tokenizer):
    encoded = ChatEncoder(tokenizer, 30, "truncate_response").encode([_pair(prompt="word " * 100)], [None])
    assert encoded.examples == []
    assert encoded.counts["prompt_too_long_chosen"] == 1 and encoded.counts["dropped_over_length"] == 1


def test_pairs_that_become_identical_are_dropped(tokenizer):
    same_start = "```python\n" + "y = 2\n" * 100
    encoded = ChatEncoder(tokenizer, 80, "truncate_response").encode(
        [_pair(chosen=same_start + "a```", rejected=same_start + "b```")], [None])
    assert encoded.examples == [] and encoded.counts["dropped_identical_after_truncation"] == 1


def test_no_chat_template_is_an_error_not_a_guess(tokenizer):
    import copy

    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    with pytest.raises(TrainingDataError, match="no chat template"):
        ChatEncoder(bare, 512, "error")


def test_general_pairs_get_the_general_criteria_only():
    texts = CriteriaTexts()
    sampler = CriteriaSampler(texts, p_none=0.0, p_aspect=0.5, p_full=0.5)
    pairs = [_pair(aspect=Aspect.HELPFULNESS), _pair(aspect=Aspect.HARMLESSNESS)] * 20
    counts = Counter()
    systems = draw_systems(pairs, sampler, seed=0, stage=0, epoch=0, counts=counts)
    assert set(systems) == {f"{texts.preamble}\n\n{texts.general}"}
    assert counts["mode_general"] == 40


def test_a_rows_own_system_turn_wins_and_is_counted():
    sampler = CriteriaSampler(p_none=0.0, p_aspect=1.0, p_full=0.0)
    counts = Counter()
    pairs = [_pair(system="You are terse."), _pair(prompt=[{"role": "system", "content": "Own."},
                                                            {"role": "user", "content": "Hi"}]), _pair()]
    systems = draw_systems(pairs, sampler, seed=0, stage=0, epoch=0, counts=counts)
    assert systems[0] == "You are terse."
    assert systems[1] is None  # the prompt's own system message stays where it is
    assert systems[2].endswith(CriteriaTexts().aspects[Aspect.FUNCTIONAL_CORRECTNESS])
    assert counts["own_system"] == 2 and counts["mode_aspect"] == 1


def test_criteria_file_round_trip(short_criteria):
    texts = load_criteria(short_criteria)
    assert texts.aspects[Aspect.SECURITY_HARDNESS] == "safe"
