import random
from collections import Counter

import pytest

from themis_rm.criteria import CriteriaSampler, CriteriaTexts, PromptMode, load_criteria
from themis_rm.schema import CODE_ASPECTS, Aspect


def test_modes():
    texts = CriteriaTexts()
    assert texts.system_prompt("none", Aspect.SECURITY_HARDNESS) is None
    full = texts.system_prompt("full", Aspect.SECURITY_HARDNESS)
    assert all(texts.aspects[a] in full for a in CODE_ASPECTS)
    own = texts.system_prompt("aspect", Aspect.SECURITY_HARDNESS)
    assert texts.aspects[Aspect.SECURITY_HARDNESS] in own
    assert texts.aspects[Aspect.RUNTIME_EFFICIENCY] not in own
    assert texts.general in own


def test_general_aspects_get_the_general_criteria_only():
    texts = CriteriaTexts()
    prompt = texts.system_prompt("aspect", Aspect.HELPFULNESS)
    assert texts.general in prompt
    assert not any(texts.aspects[a] in prompt for a in CODE_ASPECTS)


def test_yaml_overrides_every_text_and_changes_the_digest(tmp_path):
    path = tmp_path / "criteria.yaml"
    path.write_text("preamble: P\ngeneral: G\naspects:\n  security: S-text\n  Runtime_Efficiency: R-text\n")
    texts = load_criteria(path)
    assert texts.system_prompt("aspect", Aspect.SECURITY_HARDNESS) == "P\n\nG\n\nCriteria:\n- S-text"
    assert texts.aspects[Aspect.RUNTIME_EFFICIENCY] == "R-text"
    assert texts.digest() != CriteriaTexts().digest()


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("aspects:\n  vibes: x\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: aspects: unknown aspect 'vibes'"):
        load_criteria(path)
    path.write_text("colour: blue\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_criteria(path)


def test_sampler_proportions_and_shuffle():
    sampler = CriteriaSampler(p_none=0.2, p_aspect=0.5, p_full=0.3)
    rng = random.Random(0)
    draws = [sampler.draw(Aspect.MEMORY_EFFICIENCY, rng) for _ in range(20000)]
    counts = Counter(mode for mode, _ in draws)
    assert abs(counts[PromptMode.NONE] / 20000 - 0.2) < 0.015
    assert abs(counts[PromptMode.ASPECT] / 20000 - 0.5) < 0.015
    assert abs(counts[PromptMode.FULL] / 20000 - 0.3) < 0.015
    orders = {text for mode, text in draws if mode is PromptMode.FULL}
    assert len(orders) > 20  # the code criteria are shuffled per example


def test_sampler_rejects_bad_probabilities():
    with pytest.raises(ValueError):
        CriteriaSampler(p_none=0.5, p_aspect=0.5, p_full=0.5)
