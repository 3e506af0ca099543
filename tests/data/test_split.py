"""Prompt-disjoint train/held-out split."""

from __future__ import annotations

import pytest

from themis_rm.data.split import prompt_key, split_by_prompt
from themis_rm.schema import Aspect, Language, PreferencePair


def _pairs() -> list[PreferencePair]:
    out = []
    for i in range(300):
        subset = "A" if i % 3 else "B"
        prompt = f"problem {i % 40}  of {subset}"  # 40 prompts per subset, several pairs each
        out.append(PreferencePair(f"p{i}", prompt, f"c{i}", f"r{i}", Aspect.FUNCTIONAL_CORRECTNESS,
                                  Language.PYTHON, subset))
    return out


def test_no_prompt_on_both_sides_and_every_subset_held_out():
    pairs = _pairs()
    train, held = split_by_prompt(pairs, 0.2, seed=0)
    assert len(train) + len(held) == len(pairs)
    assert not {prompt_key(p) for p in train} & {prompt_key(p) for p in held}
    for subset in ("A", "B"):
        total = sum(p.subset == subset for p in pairs)
        share = sum(p.subset == subset for p in held) / total
        assert 0.15 <= share <= 0.3, (subset, share)


def test_deterministic_for_a_seed_and_different_across_seeds():
    pairs = _pairs()
    assert split_by_prompt(pairs, 0.2, seed=1) == split_by_prompt(pairs, 0.2, seed=1)
    assert split_by_prompt(pairs, 0.2, seed=1)[1] != split_by_prompt(pairs, 0.2, seed=2)[1]


def test_whitespace_does_not_separate_a_prompt():
    a = PreferencePair("a", "Sort  a list.\n", "x", "y", Aspect.RUNTIME_EFFICIENCY, Language.GO)
    b = PreferencePair("b", "Sort a list.", "x", "z", Aspect.RUNTIME_EFFICIENCY, Language.GO)
    assert prompt_key(a) == prompt_key(b)
    with pytest.raises(ValueError, match="heldout_fraction"):
        split_by_prompt([a, b], 1.0)
