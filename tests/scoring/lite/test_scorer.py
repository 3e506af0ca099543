"""The registered scorer: shipped and user weights, determinism, odd input, fidelity to the fit."""

import json
import math
import random

import numpy as np
import pytest

from themis_rm.data import read_pairs
from themis_rm.schema import Aspect, Language, ScoreRequest
from themis_rm.scoring.base import ScorerError, load_scorer
from themis_rm.scoring.lite import LiteScorer
from themis_rm.scoring.lite.features import FEATURE_NAMES
from themis_rm.scoring.lite.fit import FitConfig, aspect_margins, featurize, fit_model
from themis_rm.scoring.lite.model import COMBINED
from themis_rm.scoring.lite.scorer import shipped_model

FIXTURE = "tests/data/fixtures/lite_pairs.jsonl"


def requests_of(pairs, mode="aspect"):
    out = []
    for p in pairs:
        out.append(ScoreRequest(None, p.prompt, p.chosen, p.aspect, p.language, mode))
        out.append(ScoreRequest(None, p.prompt, p.rejected, p.aspect, p.language, mode))
    return out


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    table = featurize(read_pairs(FIXTURE).pairs)
    path = tmp_path_factory.mktemp("lite") / "weights.json"
    fit_model(table, FitConfig(l2=1.0, transfer=0.5), sources=[FIXTURE]).save(path)
    return path


def test_spec_lite_loads_the_shipped_weights():
    scorer = load_scorer("lite")
    assert isinstance(scorer, LiteScorer) and scorer.weights_path is None
    model, _ = shipped_model()
    assert model.features == FEATURE_NAMES
    assert "builtin" not in json.dumps(model.meta["fitted_on"])
    assert scorer.context_fields == frozenset({"aspect", "language", "mode"})


def test_spec_with_a_path_loads_user_weights(weights_file):
    scorer = load_scorer(f"lite:{weights_file}")
    assert scorer.weights_path == str(weights_file)
    assert scorer.fingerprint() != load_scorer("lite").fingerprint()


def test_missing_or_stale_weights_raise_a_scorer_error(tmp_path, weights_file):
    with pytest.raises(ScorerError, match="no such weights file"):
        load_scorer(f"lite:{tmp_path / 'nope.json'}")
    raw = json.loads(weights_file.read_text())
    raw["feature_version"] = "lite-features-0"
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(raw))
    with pytest.raises(ScorerError, match="refit with `themis lite fit`"):
        load_scorer(f"lite:{stale}")


def test_scores_match_the_fit_margins_exactly(weights_file):
    pairs = read_pairs(FIXTURE).pairs
    scorer = load_scorer(f"lite:{weights_file}")
    scores = [s.value for s in scorer.score(requests_of(pairs))]
    margins = np.array(scores[0::2]) - np.array(scores[1::2])
    expected = aspect_margins(featurize(pairs), scorer.model.weights, scorer.model.scale)
    assert np.allclose(margins, expected, rtol=1e-9, atol=1e-9)


def test_deterministic_and_independent_of_batch_order():
    pairs = read_pairs(FIXTURE).pairs
    scorer = load_scorer("lite")
    requests = requests_of(pairs)
    first = [s.value for s in scorer.score(requests)]
    order = list(range(len(requests)))
    random.Random(0).shuffle(order)
    shuffled = scorer.score([requests[i] for i in order])
    again = dict(zip(order, (s.value for s in shuffled)))
    assert [again[i] for i in range(len(requests))] == first
    one_by_one = [scorer.score([r])[0].value for r in requests]
    assert one_by_one == first


def test_mode_picks_the_weights():
    scorer = load_scorer("lite")
    model = scorer.model
    assert model.key_for(Aspect.SECURITY_HARDNESS, "aspect") == "Security_Hardness"
    assert model.key_for(Aspect.SECURITY_HARDNESS, "full") == COMBINED
    assert model.key_for(Aspect.SECURITY_HARDNESS, "none") == COMBINED
    assert model.key_for(None, "aspect") == COMBINED
    code = "```python\nimport os\ndef f(x):\n    os.system(x)\n```"
    by_mode = {mode: scorer.score([ScoreRequest(None, "p", code, Aspect.SECURITY_HARDNESS, Language.PYTHON, mode)])[0].value
               for mode in ("aspect", "full", "none")}
    assert by_mode["full"] == by_mode["none"] != by_mode["aspect"]


@pytest.mark.parametrize("response", ["", "\x00\xff garbage", "```\n```", "not code at all, just words", "x" * 250_000])
@pytest.mark.parametrize("language", [None, Language.CSHARP])
def test_odd_input_gets_a_finite_score_and_flags(response, language):
    (scored,) = load_scorer("lite").score([ScoreRequest(None, "p", response, Aspect.READABILITY_MAINTAINABILITY, language, "aspect")])
    assert math.isfinite(scored.value)
    flags = (scored.detail or {}).get("flags", {})
    assert all(isinstance(v, bool) for v in flags.values())
    if language is None and response.strip("`\n") in ("", "not code at all, just words"):
        assert flags.get("language_unknown")
    if len(response) > 200_000:
        assert flags.get("truncated")


def test_syntax_errors_are_flagged_and_cost_score():
    scorer = load_scorer("lite")
    good = ScoreRequest(None, "p", "```python\ndef f(x):\n    return x\n```", Aspect.FUNCTIONAL_CORRECTNESS, Language.PYTHON, "aspect")
    bad = ScoreRequest(None, "p", "```python\ndef f(x)\n    return x\n```", Aspect.FUNCTIONAL_CORRECTNESS, Language.PYTHON, "aspect")
    scored_good, scored_bad = scorer.score([good, bad])
    assert scored_bad.detail == {"flags": {"syntax_error": True}} and scored_good.detail is None
    assert scored_good.value > scored_bad.value
    assert scorer.stats()["flags"] == {"syntax_error": 1}
