"""End to end over a real (tiny, random) causal LM: real generation and real log-probs through the client."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("transformers")

from tests.llm.openai_server import OpenAIServer
from tests.llm.tiny_lm import TinyLMHandler, build_judge_lm, prompt_ids
from themis_rm.criteria import CriteriaTexts
from themis_rm.schema import Aspect, Language, PairRequest, ScoreRequest
from themis_rm.scoring.judge import JudgePairScorer, JudgeScorer, reparse

RESPONSES = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return sum([a, b])\n", "I don't know."]


def req(response: str) -> ScoreRequest:
    aspect = Aspect.FUNCTIONAL_CORRECTNESS
    return ScoreRequest(CriteriaTexts().system_prompt("aspect", aspect), "Add two numbers.", response, aspect,
                        Language.PYTHON, "aspect")


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    path = build_judge_lm(tmp_path_factory.mktemp("judge-lm"))
    handler = TinyLMHandler(path)
    with OpenAIServer(handler) as server:
        yield server, handler, path


def answer_logprobs(handler: TinyLMHandler, scorer: JudgeScorer, request: ScoreRequest):
    """The model's own log-probs for the first answer token, from a plain forward pass."""
    import torch

    ids = prompt_ids(handler.tokenizer, scorer.runner.protocol.views(request)["response"])
    with torch.no_grad():
        return torch.log_softmax(handler.model(ids).logits[0, -1].float(), dim=-1)


def word_ids(handler: TinyLMHandler, word: str) -> list[int]:
    return [i for i in range(len(handler.tokenizer)) if handler.tokenizer.decode([i]).strip().lower() == word]


def test_yesno_margin_equals_the_models_log_probabilities(lm):
    server, handler, _ = lm
    vocab = len(handler.tokenizer)
    scorer = JudgeScorer("tiny", server.url, judge_protocol="yesno", max_tokens=1, top_logprobs=vocab)
    results = scorer.score([req(r) for r in RESPONSES])
    scorer.close()
    yes, no = word_ids(handler, "yes"), word_ids(handler, "no")
    assert len(yes) >= 2 and len(no) >= 2  # spellings are pooled
    for response, result in zip(RESPONSES, results):
        logp = answer_logprobs(handler, scorer, req(response))
        expected = float(logp[yes].logsumexp(0) - logp[no].logsumexp(0))
        assert result.value == pytest.approx(expected, abs=1e-4)
        assert result.detail["flags"] == {}
    assert len({round(r.value, 6) for r in results}) == 3


def test_yesno_floor_with_real_top_logprobs(lm):
    """List just enough alternatives that one of the two words is in and the other is out."""
    server, handler, _ = lm
    probe = JudgeScorer("tiny", server.url, judge_protocol="yesno", max_tokens=1)
    logp = answer_logprobs(handler, probe, req(RESPONSES[0]))
    order = logp.argsort(descending=True).tolist()
    yes, no = word_ids(handler, "yes"), word_ids(handler, "no")
    rank = {w: min(order.index(i) for i in ids) for w, ids in (("yes", yes), ("no", no))}
    present = min(rank, key=rank.get)
    k = rank[present] + 1
    listed = order[:k]
    scorer = JudgeScorer("tiny", server.url, judge_protocol="yesno", max_tokens=1, top_logprobs=k)
    (result,) = scorer.score([req(RESPONSES[0])])
    scorer.close()
    kept = [i for i in (yes if present == "yes" else no) if i in listed]
    sampled = order[0]
    pool = logp[kept].logsumexp(0).item()
    floor = min(logp[listed].min().item(), logp[sampled].item())
    expected = pool - floor if present == "yes" else floor - pool
    assert result.value == pytest.approx(expected, abs=1e-4)
    assert result.detail["flags"] == {"logprob_floor": True}
    assert result.detail["views"]["response"][0]["floored"] == ("no" if present == "yes" else "yes")
    probe.close()


def test_rating_real_generation_is_deterministic_accounted_and_reparseable(lm):
    server, _, _ = lm
    scorer = JudgeScorer("tiny", server.url, max_tokens=12)
    first = scorer.score([req(r) for r in RESPONSES])
    stats = scorer.stats()
    scorer.close()
    again = JudgeScorer("tiny", server.url, max_tokens=12)
    second = again.score([req(r) for r in RESPONSES])
    again.close()
    assert repr(first) == repr(second)
    assert stats["tokens"] > 0 and stats["completion_tokens"] <= 3 * 12
    for result in first:
        (sample,) = result.detail["views"]["response"]
        assert isinstance(sample["raw"], str) and sample["finish"] in ("stop", "length")
        if math.isnan(result.value):
            assert result.detail["flags"]["parse_failed"] and sample["parse_path"] is None
        else:
            assert 1 <= result.value <= 10 and sample["parse_path"] is not None
        assert result.detail["flags"].get("truncated", False) == (sample["finish"] == "length")
        assert repr(reparse(result.detail)) == repr(result)


def test_seeded_samples_differ_and_repeat(lm):
    server, _, _ = lm
    runs = []
    for _ in range(2):
        scorer = JudgeScorer("tiny", server.url, max_tokens=8, samples=2, temperature=1.0, judge_seed=5)
        (result,) = scorer.score([req(RESPONSES[0])])
        scorer.close()
        runs.append([s["raw"] for s in result.detail["views"]["response"]])
    assert runs[0] == runs[1] and runs[0][0] != runs[0][1]


def test_pairwise_real_generation_asks_both_orders(lm):
    server, _, _ = lm
    before = server.calls
    scorer = JudgePairScorer("tiny", server.url, max_tokens=8)
    request = PairRequest(None, "Add two numbers.", RESPONSES[0], RESPONSES[2], Aspect.FUNCTIONAL_CORRECTNESS,
                          Language.PYTHON, "none")
    ((chosen, rejected),) = scorer.compare([request])
    scorer.close()
    assert server.calls - before == 2
    orders = chosen.detail["views"]
    assert set(orders) == {"chosen_first", "rejected_first"} and all(orders[o][0]["raw"] is not None for o in orders)
    assert repr(reparse(chosen.detail)) == repr((chosen, rejected))


def test_prompt_too_long_for_the_model_is_dropped_not_failed(lm):
    _, _, path = lm
    with OpenAIServer(TinyLMHandler(path, max_context=64)) as small:
        scorer = JudgeScorer("tiny", small.url, max_tokens=4)
        (result,) = scorer.score([req(RESPONSES[0])])
        scorer.close()
    assert math.isnan(result.value) and result.detail["flags"] == {"dropped": True, "too_long": True}
