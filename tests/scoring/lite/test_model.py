"""The logistic fit, the weights file and the fitting recipe."""

import json

import numpy as np
import pytest

from themis_rm.data import read_pairs
from themis_rm.schema import CODE_ASPECTS, Aspect
from themis_rm.scoring.lite.features import FEATURE_NAMES, FEATURE_VERSION
from themis_rm.scoring.lite.fit import (
    FitConfig,
    aspect_margins,
    featurize,
    fit_model,
    fit_shared,
    pair_weights,
    select_hyper,
    standardisation,
)
from themis_rm.scoring.lite.model import COMBINED, LiteModel, WeightsError, fit_logistic
from themis_rm.scoring.lite.priors import prior_vector

FIXTURE = "tests/data/fixtures/lite_pairs.jsonl"


def separable(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=d)
    diffs = rng.normal(size=(n, d))
    diffs *= np.sign(diffs @ truth)[:, None]  # every row: the first side truly wins
    return truth, diffs


def test_fit_recovers_a_separable_direction():
    truth, diffs = separable()
    w = fit_logistic(diffs, l2=0.01)
    cosine = w @ truth / np.linalg.norm(w) / np.linalg.norm(truth)
    assert cosine > 0.97
    assert np.mean(diffs @ w > 0) > 0.98


def test_fit_minimises_the_penalised_loss():
    _, diffs = separable(n=100, d=3, seed=1)
    prior = np.array([0.5, -0.5, 0.0])
    w = fit_logistic(diffs, l2=2.0, prior=prior)

    def loss(v):
        return np.logaddexp(0, -(diffs @ v)).sum() + 1.0 * np.sum((v - prior) ** 2)

    rng = np.random.default_rng(0)
    assert all(loss(w) <= loss(w + 1e-3 * rng.normal(size=3)) for _ in range(50))
    grad = -(diffs.T @ (1 / (1 + np.exp(diffs @ w)))) + 2.0 * (w - prior)
    assert np.abs(grad).max() < 1e-5


def test_no_data_gives_the_prior_and_strong_l2_stays_near_it():
    prior = np.array([1.0, -2.0])
    assert np.array_equal(fit_logistic(np.zeros((0, 2)), l2=1.0, prior=prior), prior)
    _, diffs = separable(n=50, d=2)
    assert np.abs(fit_logistic(diffs, l2=1e6, prior=prior) - prior).max() < 1e-2


def test_sample_weights_equal_repeated_rows():
    _, diffs = separable(n=30, d=3, seed=2)
    doubled = fit_logistic(np.vstack([diffs, diffs[:10]]), l2=1.0)
    weighted = fit_logistic(diffs, l2=1.0, sample_weight=np.r_[np.full(10, 2.0), np.ones(20)])
    assert np.allclose(doubled, weighted, atol=1e-6)


def test_pair_weights_balance_subsets_by_square_root():
    pairs = read_pairs(FIXTURE).pairs
    table = featurize(pairs)
    weights = pair_weights(table, "sqrt")
    assert weights.mean() == pytest.approx(1.0)
    totals = {s: weights[np.array(table.subsets) == s].sum() for s in set(table.subsets)}
    assert totals["TINY_C"] / totals["TINY_A"] == pytest.approx(np.sqrt(5) / np.sqrt(3))


def test_fitted_model_round_trips_through_json(tmp_path):
    table = featurize(read_pairs(FIXTURE).pairs)
    model = fit_model(table, FitConfig(l2=1.0, transfer=0.5), sources=[FIXTURE])
    path = tmp_path / "w.json"
    model.save(path)
    again = LiteModel.load(path)
    assert again.features == FEATURE_NAMES and again.feature_version == FEATURE_VERSION
    assert set(again.weights) == {COMBINED, *(a.value for a in CODE_ASPECTS)}
    for key in model.weights:
        assert np.allclose(again.weights[key], model.weights[key], rtol=1e-5, atol=1e-9)
    raw = json.loads(path.read_text())
    assert raw["fitted_on"]["subsets"] == {"TINY_A": 3, "TINY_B": 4, "TINY_C": 5}
    assert raw["config"]["l2_selected"] == 1.0 and raw["config"]["transfer_selected"] == 0.5 and raw["version"] == 1


def test_fit_separates_the_fixture_pairs():
    table = featurize(read_pairs(FIXTURE).pairs)
    model = fit_model(table, FitConfig(l2=0.3, transfer=0.5))
    assert np.mean(aspect_margins(table, model.weights, model.scale) > 0) >= 0.9


def test_l2_and_transfer_are_chosen_by_leave_one_subset_out():
    table = featurize(read_pairs(FIXTURE).pairs)
    config = FitConfig(l2_grid=(1.0, 10.0), transfer_grid=(0.0, 1.0))
    chosen = select_hyper(table, config)
    assert chosen.l2 in (1.0, 10.0) and chosen.transfer in (0.0, 1.0)
    assert set(chosen.per_aspect) >= {"Security_Hardness", "Memory_Efficiency"}
    assert all(t in (0.0, 1.0) for t in chosen.per_aspect.values())
    assert set(chosen.scores) == {"l2=1,transfer=0", "l2=1,transfer=1", "l2=10,transfer=0", "l2=10,transfer=1"}


def test_aspect_without_data_gets_its_prior_plus_transfer():
    pairs = [p for p in read_pairs(FIXTURE).pairs if p.aspect is Aspect.SECURITY_HARDNESS]
    table = featurize(pairs)
    config = FitConfig(l2=1.0, transfer=0.5)
    model = fit_model(table, config)
    learnt = fit_shared(table, standardisation(table)[1], 1.0, config) - prior_vector(None)
    expected = prior_vector(Aspect.MEMORY_EFFICIENCY) + 0.5 * learnt
    assert np.abs(learnt).max() > 0.01  # the transfer term is not vacuous
    assert np.allclose(model.weights[Aspect.MEMORY_EFFICIENCY.value], expected)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda raw: raw.update(format="other"), "not a lite weights file"),
    (lambda raw: raw.update(version=99), "weights version 99"),
    (lambda raw: raw["mean"].pop(), "one entry per feature"),
    (lambda raw: raw["weights"].pop("combined"), "no 'combined' weights"),
    (lambda raw: raw["scale"].__setitem__(0, 0.0), "scales positive"),
    (lambda raw: raw["weights"].update(Bogus=raw["weights"]["combined"]), "unknown weights key"),
])
def test_malformed_weights_are_refused(tmp_path, edit, message):
    table = featurize(read_pairs(FIXTURE).pairs)
    raw = fit_model(table, FitConfig(l2=1.0, transfer=0.5)).to_json()
    edit(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(WeightsError, match=message):
        LiteModel.load(path)


def test_unreadable_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        LiteModel.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read weights"):
        LiteModel.load(tmp_path / "x.json")


def test_combined_model_is_the_mean_of_the_aspect_models():
    table = featurize(read_pairs(FIXTURE).pairs)
    model = fit_model(table, FitConfig(l2=1.0, transfer=0.5))
    mean = np.mean([model.weights[a.value] for a in CODE_ASPECTS], axis=0)
    assert np.allclose(model.weights[COMBINED], mean)
